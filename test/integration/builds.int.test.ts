// git → two platform images → registry (htpasswd auth) → manifest list → ledger, end to end.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../lib/registry/client.js';
import { startBuildStack, REGISTRY_PASSWORD, REGISTRY_USER, type BuildStack } from '../support/build-stack.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient } from '../support/http.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;

async function runImage(image: string, platform: string): Promise<string> {
  const container = await stack.docker.createContainer({
    Image: image,
    Cmd: ['cat', '/arch'],
    HostConfig: { NetworkMode: 'none' },
    platform,
  } as never);
  try {
    await container.start();
    await container.wait();
    const logs = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    // Multiplexed stream: strip the 8-byte frame headers.
    return logs.toString('latin1').replace(/[\x00-\x08]/g, '').trim();
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

beforeAll(async () => {
  stack = await startBuildStack('builds');
  h = await startHarness('builds', stack.env('linux/amd64,linux/arm64'));
  call = httpClient(h.apiUrl);
}, 300_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

describe('build and publish', () => {
  it('builds both platforms, publishes a manifest list whose entries run, and records the ledger', async () => {
    const repo = await createGitRepo({
      dir: join(stack.gitDir, 'hello-mcp'),
      files: {
        Dockerfile: `FROM ${stack.base.reference}\nRUN uname -m > /arch\nEXPOSE 8080\nCMD ["cat", "/arch"]\n`,
        '.dockerignore': 'secrets.txt\n',
        'secrets.txt': 'must not reach the build context\n',
      },
    });
    const created = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: { name: 'hello', server_type: 'Router', source: { type: 'git', repository: stack.git.url('hello-mcp'), branch: 'main' } },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as number;
    const server = await eventually(
      async () => {
        const s = (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body;
        return s.status === 'ready' || s.status === 'error' ? s : undefined;
      },
      240_000,
      'build to finish',
    );
    expect(server.status_reason ?? '', String(server.status_reason)).not.toMatch(/failed/);
    expect(server.status).toBe('ready');

    const [run] = await h.sql`select * from build_artifact_runs where server_id = ${id}`;
    expect(run).toMatchObject({
      status: 'succeeded',
      source_revision: repo.revision,
      multi_arch: true,
      manifest_tag: 'latest',
      registry_image: `${stack.registryHost}/mcp/mcp-custom-${id}:latest`,
      credential_health_status: 'healthy',
    });
    const platforms = await h.sql`select * from build_artifact_platforms where run_id = ${run!.id} order by platform`;
    expect(platforms.map((p) => p.platform)).toEqual(['linux/amd64', 'linux/arm64']);

    // The registry holds what the ledger says.
    const client = new RegistryClient({ apiBase: `http://${stack.registryHost}`, credentials: { username: REGISTRY_USER, password: REGISTRY_PASSWORD } });
    const index = await client.getManifest(`mcp/mcp-custom-${id}`, 'latest');
    expect(index.digest).toBe(run!.manifest_digest);
    const entries = (index.body.manifests ?? []) as { digest: string; size: number; platform: { architecture: string } }[];
    expect(entries.map((e) => e.platform.architecture).sort()).toEqual(['amd64', 'arm64']);
    for (const p of platforms) {
      const entry = entries.find((e) => `linux/${e.platform.architecture}` === p.platform)!;
      expect(entry.digest).toBe(p.digest);
      expect(entry.size).toBe(Number(p.size));
    }
    const byRevision = await client.headManifest(`mcp/mcp-custom-${id}`, repo.revision.slice(0, 12));
    expect(byRevision?.digest).toBe(run!.manifest_digest);

    // Each entry runs as its own architecture.
    const image = `${stack.registryHost}/mcp/mcp-custom-${id}`;
    expect(await runImage(`${image}:latest-linux_amd64`, 'linux/amd64')).toBe('x86_64');
    expect(await runImage(`${image}:latest-linux_arm64`, 'linux/arm64')).toBe('aarch64');

    // Telemetry with the catalogue's names and keys.
    const events = await h.sql<{ event_type: string; details: Record<string, unknown> }[]>`
      select event_type, details from usage_metrics where server_id = ${id} order by id`;
    const names = events.map((e) => e.event_type);
    for (const name of ['tag_started', 'tag_succeeded', 'auth_health_reported', 'push_started', 'push_succeeded', 'manifest_published']) {
      expect(names).toContain(name);
    }
    const published = events.find((e) => e.event_type === 'manifest_published')!.details;
    expect(published).toMatchObject({ tag: 'latest', digest: run!.manifest_digest, architectures: ['linux/amd64', 'linux/arm64'] });
    for (const e of events.filter((e) => e.event_type.startsWith('push_'))) {
      expect(Object.keys(e.details)).toEqual(expect.arrayContaining(['attempt', 'retry_limit', 'registry_endpoint', 'platform']));
    }
    // Build logs were kept; the ignored file never reached the daemon; no secret in any log or event.
    const logs = await h.sql<{ line: string }[]>`select line from build_logs where run_id = ${run!.id} order by id`;
    expect(logs.length).toBeGreaterThan(5);
    const everything = JSON.stringify([logs, events]);
    expect(everything).not.toContain(REGISTRY_PASSWORD);
  });
});
