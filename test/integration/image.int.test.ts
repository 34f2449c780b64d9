// The project's own Dockerfile builds where no image hub is reachable: FROM a Node base image made
// from this host (scripts/stack/node-base-image.ts), the stdio bridge with a Go image made from the
// host's Go (scripts/stack/go-base-image.ts), through the classic builder of a private dockerd,
// `npm ci` and the Go module proxy reached over the host network (the daemon has no bridge). The image
// then runs: mcpctl's help, and the env schema's one-line refusal of a bad value from the API's and
// the worker's bundles, prove the sources, node_modules, tsx and dist/ arrived; the bridge binaries
// are where the worker looks for them. Measured here (2 cores, vfs): base import 7-12 s, build ~90 s
// of which npm ci ~31 s, the whole file ~3 min (each container run copies the image's filesystem,
// ~15 s); with other work on the machine (load 7-12) the build alone took 517-758 s, so the case is
// given 25 minutes.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextStream } from '../../activities/docker/build.js';
import { readJsonStream } from '../../lib/docker.js';
import { startDockerd, type DockerDaemon } from '../../scripts/stack/docker.js';
import { ensureGoBaseImage, GO_BASE_IMAGE } from '../../scripts/stack/go-base-image.js';
import { ensureNodeBaseImage, NODE_BASE_IMAGE } from '../../scripts/stack/node-base-image.js';
import { DATA_DIR, PROJECT_ROOT } from '../../scripts/stack/paths.js';

const TAG = `mcp-host/app:test-${process.pid}`;
let dockerd: DockerDaemon;
let docker: Docker;
const dockerDir = join(DATA_DIR, 'test-docker', `image-${process.pid}`);

beforeAll(async () => {
  dockerd = await startDockerd(dockerDir, join(DATA_DIR, 'test-logs', 'image'));
  docker = new Docker({ socketPath: dockerd.host.replace(/^unix:\/\//, '') });
}, 120_000);
afterAll(async () => {
  await dockerd?.stop();
  rmSync(dockerDir, { recursive: true, force: true });
});

/** Runs `cmd` in the image without a network; returns exit code and output. */
async function run(cmd: string[], env: string[] = []): Promise<{ code: number; output: string }> {
  const container = await docker.createContainer({
    Image: TAG,
    Cmd: cmd,
    Env: env,
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const logs = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    // Multiplexed frames: an 8-byte header before each chunk.
    let output = '';
    for (let i = 0; i + 8 <= logs.length;) {
      const size = logs.readUInt32BE(i + 4);
      output += logs.subarray(i + 8, i + 8 + size).toString('utf8');
      i += 8 + size;
    }
    return { code: StatusCode, output };
  } finally {
    await container.remove({ force: true });
  }
}

describe('the project image', () => {
  it('makes the Node base image from the host', async () => {
    const t = Date.now();
    const { imported } = await ensureNodeBaseImage(docker);
    console.log(`node base image: ${imported ? 'imported' : 'already there'} in ${Date.now() - t} ms`);
    const info = await docker.getImage(NODE_BASE_IMAGE).inspect();
    expect(info.Config.Env).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    // Unchanged inputs: nothing imported again.
    expect((await ensureNodeBaseImage(docker)).imported).toBe(false);
  }, 300_000);

  it('builds the Dockerfile FROM it (production default untouched) and runs mcpctl and the env schema', async () => {
    const dockerfile = readFileSync(join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^ARG GO_IMAGE=golang:1\.\d+$/m);
    const g = Date.now();
    const { imported } = await ensureGoBaseImage(docker);
    console.log(`go base image: ${imported ? 'imported' : 'already there'} in ${Date.now() - g} ms`);
    const t = Date.now();
    const stream = await docker.buildImage(await contextStream(PROJECT_ROOT, dockerfile), {
      t: TAG,
      version: '1', // the classic builder, as the daemon here runs
      buildargs: { NODE_IMAGE: NODE_BASE_IMAGE, GO_IMAGE: GO_BASE_IMAGE },
      networkmode: 'host', // npm ci and go mod download need their registries; the private daemon has no bridge
      rm: true,
      forcerm: true,
    });
    const lines: string[] = [];
    const steps: { step: string; at: number }[] = [];
    let failure: string | undefined;
    await readJsonStream(stream, (msg) => {
      if (msg.stream) lines.push(msg.stream);
      const step = /^Step \d+\/\d+ : .{0,60}/.exec(msg.stream ?? '');
      if (step) steps.push({ step: step[0], at: Date.now() });
      if (msg.error || msg.errorDetail) failure = msg.errorDetail?.message ?? msg.error;
    });
    expect(failure, lines.join('')).toBeUndefined();
    const end = Date.now();
    const slowest = steps
      .map((s, i) => ({ ...s, ms: (steps[i + 1]?.at ?? end) - s.at }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 4);
    console.log(
      `project image build: ${end - t} ms; slowest steps: ${slowest.map((s) => `${s.step} (${s.ms} ms)`).join('; ')}`,
    );
    // The runtime stage found git and the CA bundle in the base: apt never ran.
    expect(lines.join('')).not.toMatch(/Reading package lists|Unpacking /);

    const info = await docker.getImage(TAG).inspect();
    expect(info.Config.User).toBe('node');
    expect(info.Config.Cmd).toEqual(['node', '--enable-source-maps', 'dist/api.mjs']);

    const help = await run(['node', '--import', 'tsx', 'cli/index.ts', '--help']);
    expect(help.output).toContain('manage MCP servers hosted by mcp-host');
    expect(help.code).toBe(0);

    // The API entry point parses its env first: a bad value stops it with one line and EX_CONFIG.
    const bad = await run(['node', '--enable-source-maps', 'dist/api.mjs'], ['BIND_PORT=not-a-port']);
    expect(bad.output.trim()).toBe(
      'invalid environment: BIND_PORT: expected an integer between 0 and 65535, got "not-a-port"',
    );
    expect(bad.code).toBe(78);
    // The worker's bundle, as compose runs it, gets as far as its own env check.
    const worker = await run(['node', '--enable-source-maps', 'dist/worker.mjs']);
    expect(worker.output).toContain('invalid environment: SECRETS_KEY');
    expect(worker.code).toBe(78);

    // The project's Node, which the base took from the node running this test.
    const node = await run(['node', '--version']);
    expect(node.output.trim()).toBe(process.version);
    expect(process.version).toMatch(/^v24\./);

    const git = await run(['git', '--version']);
    expect(git.output).toMatch(/^git version \d/);

    // The stdio bridge for both architectures where the worker looks when STDIO_BRIDGE_DIR is unset; it runs
    // (its probe mode, against nothing listening).
    const bridges = await run([
      'sh',
      '-c',
      'ls -l /app/.tools/bin/; /app/.tools/bin/stdio-bridge-amd64 --probe http://127.0.0.1:9/mcp',
    ]);
    expect(bridges.output).toMatch(/-rwxr-xr-x .* stdio-bridge-amd64/);
    expect(bridges.output).toMatch(/-rwxr-xr-x .* stdio-bridge-arm64/);
    expect(bridges.output).toContain('MCP probe of http://127.0.0.1:9/mcp failed');
  }, 1_500_000);
});
