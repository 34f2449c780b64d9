// Builds with RUN steps when the worker runs in a container (docker-compose.yml sets
// BUILD_EGRESS_CONTAINER): on the stack's private dockerd, with the host's network policy loaded, a
// stand-in worker container (the Node base image made from this host, the project's code mounted, the
// daemon's socket as compose's socket proxy gives it) runs the project's build egress, which joins it
// to a build network and serves the proxy on its address there; a Dockerfile is built on that network.
// Its RUN steps reach an allowed host (a stand-in registry on the worker's other network) through the
// proxy, by plain HTTP and by CONNECT; they reach no stand-in Postgres there (directly or through the
// proxy), not the worker's other port on the build network or its address on the other network, and
// not the Docker host. A worker container that forwards IP packets is refused.
import { realpathSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readJsonStream } from '../../lib/docker.js';
import { installSandboxPolicy } from '../../scripts/stack/docker.js';
import { ensureNodeBaseImage, NODE_BASE_IMAGE } from '../../scripts/stack/node-base-image.js';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, startBuildStack, type BuildStack } from '../support/build-stack.js';

const CONTROL = 'ec-control';
const POSTGRES = 'ec-postgres';
const UPSTREAM = 'ec-upstream';
const WORKER = 'ec-worker';
const BASE = 'ec-base:1';
const OTHER_PORT = 9999;

let stack: BuildStack;
let docker: Docker;
let hostListener: Server;
let hostReached = false;
let ips: { postgres: string; upstream: string };

const addressOn = async (container: string, network: string) =>
  (await docker.getContainer(container).inspect()).NetworkSettings.Networks[network]?.IPAddress as string;

async function removeContainer(name: string): Promise<void> {
  await docker
    .getContainer(name)
    .remove({ force: true })
    .catch(() => {});
}

/** A running container of the base image on the control network, running `script` as root. */
async function service(name: string, script: string): Promise<void> {
  await removeContainer(name);
  const c = await docker.createContainer({
    name,
    Image: BASE,
    Entrypoint: ['sh', '-c', script],
    Cmd: [],
    Labels: { 'mcp-host.managed': 'true' },
    HostConfig: { NetworkMode: CONTROL },
  });
  await c.start();
}

/**
 * The probe of one target from a RUN step: `probe:<name>:reached|blocked`. A request every listener
 * here answers and closes on (the proxy too: a 400), so `reached` is what an open port gives.
 */
const probe = (name: string, host: string, port: string) =>
  `if printf "GET / HTTP/1.0\\r\\n\\r\\n" | timeout 4 nc -w 3 ${host} ${port} >/dev/null 2>&1; then echo probe:${name}:reached; else echo probe:${name}:blocked; fi`;

const DOCKERFILE = [
  `FROM ${BASE}`,
  'ARG POSTGRES_IP UPSTREAM_IP WORKER_CONTROL_IP GATEWAY HOST_PORT',
  // Plain HTTP through the proxy (busybox wget follows http_proxy): the build fails if it is not fetched.
  'RUN wget -q -O /fetched "http://${UPSTREAM_IP}/pkg.txt" && echo "fetched:$(cat /fetched)"',
  // What CONNECT gives: the allowed host's answer through the tunnel, 403 for Postgres.
  [
    'RUN P="${HTTP_PROXY#http://}"; P="${P%:*}";',
    'printf "CONNECT ${UPSTREAM_IP}:80 HTTP/1.1\\r\\n\\r\\nGET /pkg.txt HTTP/1.0\\r\\nHost: u\\r\\n\\r\\n" | nc -w 5 "$P" 3128 | sed "s/^/connect-upstream:/";',
    'printf "CONNECT ${POSTGRES_IP}:80 HTTP/1.1\\r\\n\\r\\n" | nc -w 5 "$P" 3128 | sed "s/^/connect-postgres:/";',
    '(wget -q -O - "http://${POSTGRES_IP}:5432/" 2>&1 || true) | sed "s/^/http-postgres:/";',
    `${probe('postgres', '${POSTGRES_IP}', '5432')};`,
    `${probe('upstream-direct', '${UPSTREAM_IP}', '80')};`,
    `${probe('worker-other-port', '"$P"', String(OTHER_PORT))};`,
    `${probe('worker-control', '${WORKER_CONTROL_IP}', String(OTHER_PORT))};`,
    `${probe('docker-host', '${GATEWAY}', '${HOST_PORT}')};`,
    `${probe('proxy', '"$P"', '3128')}`,
  ].join(' '),
].join('\n');

/** Runs the stand-in worker to the end; its log lines. */
async function runWorker(network: string, sysctls: Record<string, string>): Promise<string[]> {
  await removeContainer(WORKER);
  const socket = stack.dockerd.host.replace(/^unix:\/\//, '');
  const modules = realpathSync(join(PROJECT_ROOT, 'node_modules'));
  const c = await docker.createContainer({
    name: WORKER,
    Image: NODE_BASE_IMAGE,
    User: '0:0',
    // A terminal: the log is the output as written, without the stream's frame headers.
    Tty: true,
    WorkingDir: PROJECT_ROOT,
    Entrypoint: ['node', '--import', 'tsx', 'test/support/build-egress-worker.ts'],
    Cmd: [],
    Env: [
      'HOME=/tmp',
      `EGRESS_INPUT=${JSON.stringify({
        container: WORKER,
        network,
        controlNetwork: CONTROL,
        allowed: [ips.upstream],
        canaryImage: BASE,
        dockerfile: DOCKERFILE,
        otherPort: OTHER_PORT,
        buildArgs: {
          POSTGRES_IP: ips.postgres,
          UPSTREAM_IP: ips.upstream,
          HOST_PORT: String((hostListener.address() as { port: number }).port),
        },
      })}`,
    ],
    Labels: { 'mcp-host.managed': 'true' },
    HostConfig: {
      NetworkMode: CONTROL,
      Sysctls: sysctls,
      Binds: [`${PROJECT_ROOT}:${PROJECT_ROOT}:ro`, `${modules}:${modules}:ro`, `${socket}:/var/run/docker.sock`],
    },
  });
  await c.start();
  await c.wait();
  const out = ((await c.logs({ stdout: true, stderr: true })) as unknown as Buffer).toString('utf8');
  return out.split(/\r?\n/);
}

beforeAll(async () => {
  stack = await startBuildStack('egress-compose');
  docker = stack.docker;
  const pull = (await docker.pull(stack.base.reference, {
    authconfig: { username: REGISTRY_USER, password: REGISTRY_PASSWORD, serveraddress: stack.registryHost },
  })) as NodeJS.ReadableStream;
  await readJsonStream(pull, () => {});
  await docker.getImage(stack.base.reference).tag({ repo: 'ec-base', tag: '1' });
  await ensureNodeBaseImage(docker);
  // Compose's default network: the stand-in Postgres, the registry a build may reach, the worker.
  await docker.createNetwork({
    Name: CONTROL,
    Driver: 'bridge',
    Options: { 'com.docker.network.bridge.name': `ecc-${process.pid % 100_000}` },
  });
  await service(POSTGRES, 'exec nc -ll -p 5432 -e echo postgres');
  await service(
    UPSTREAM,
    'mkdir -p /tmp/www && echo pkg-contents > /tmp/www/pkg.txt && exec httpd -f -p 80 -h /tmp/www',
  );
  // A listener of the Docker host's on every address: no build reaches it.
  hostListener = createServer((s) => {
    hostReached = true;
    s.destroy();
  });
  await new Promise<void>((resolve) => hostListener.listen(0, '0.0.0.0', resolve));
  ips = {
    postgres: await addressOn(POSTGRES, CONTROL),
    upstream: await addressOn(UPSTREAM, CONTROL),
  };
}, 600_000);

afterAll(async () => {
  hostListener?.close();
  for (const name of [WORKER, POSTGRES, UPSTREAM]) if (docker) await removeContainer(name);
  await docker
    ?.getNetwork(CONTROL)
    .remove()
    .catch(() => {});
  await stack?.stop();
});

describe('a build’s RUN steps with the worker in a container (BUILD_EGRESS_CONTAINER)', () => {
  // The policy's tables are shared by every stack on the machine: load this copy right before each test.
  beforeEach(() => installSandboxPolicy());

  it('reach the allowed host through the proxy on the worker’s address, and nothing of the control plane', async () => {
    const lines = await runWorker('mcp-build-ec-1', { 'net.ipv4.ip_forward': '0' });
    const text = lines.join('\n');
    expect(text, text).toContain('result:ok');
    expect(text).toContain('fetched:pkg-contents');
    expect(text).toMatch(/connect-upstream:HTTP\/1.1 200 Connection Established/);
    expect(text).toContain('connect-upstream:pkg-contents');
    expect(text).toMatch(/connect-postgres:HTTP\/1.1 403 Forbidden/);
    expect(lines).toContain('build:http-postgres:wget: server returned error: HTTP/1.1 403 Forbidden');
    expect(text).toContain('probe:proxy:reached');
    for (const target of ['postgres', 'upstream-direct', 'worker-other-port', 'worker-control', 'docker-host'])
      expect(text, target).toContain(`probe:${target}:blocked`);
    expect(hostReached).toBe(false);
    expect(text).toContain(`log:Build network: fetching from ${ips.upstream}`);
    expect(text).toContain(`log:Build network: refused ${ips.postgres}`);
    // The worker left the build network, and the network is gone.
    await expect(docker.getNetwork('mcp-build-ec-1').inspect()).rejects.toMatchObject({ statusCode: 404 });
    const left = await docker.listContainers({ all: true, filters: { label: ['mcp-host.canary=true'] } });
    expect(left).toEqual([]);
  }, 600_000);

  it('refuses a worker container that forwards IP packets', async () => {
    const text = (await runWorker('mcp-build-ec-2', { 'net.ipv4.ip_forward': '1' })).join('\n');
    expect(text).toContain('result:error');
    expect(text).toContain('forwards IP packets (net.ipv4.ip_forward=1)');
    expect(text).not.toContain('build:');
  }, 300_000);
});
