// Names carry an hn- prefix: every test file of a run shares one database (and the bootstrap admin).
// A hosted server is a hostile tenant: from inside its container it reaches neither the control plane
// (Postgres, Temporal, the API, the registry — on loopback or on any of the host's addresses), nor
// another tenant's server, nor the metadata address, whatever its egress; the host still reaches both
// servers at the endpoints mcp-host recorded. The stack is the harness's, which is npm start's.
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverRepository, startBuildStack, type BuildStack } from '../support/build-stack.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { eventually, httpClient, waitForStatus } from '../support/http.js';
import {
  callTool,
  CONNECT_TOOL,
  controlPlanePorts,
  controlPlaneTargets,
  helloMcpDockerfile,
  helloMcpWithTools,
  hostAddresses,
  mcp,
  portOf,
} from '../support/mcp-probe.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;

/** hello-mcp plus a `connect` tool. */
const probeRepo = (name: string, dockerfile = 'Dockerfile') =>
  createGitRepo({
    dir: join(stack.gitDir, name),
    files: {
      Dockerfile: helloMcpDockerfile(stack.base.reference, dockerfile),
      'mcp.cgi': helloMcpWithTools(CONNECT_TOOL),
    },
  });

/** How many connect probes one server runs at once. */
const PROBES_AT_ONCE = 8;

const connect = (endpoint: string, target: string) => callTool(endpoint, 'connect', { target });

interface Launched {
  id: number;
  endpoint: string;
  ip: string;
  gateway: string;
}

async function launch(name: string, config: Record<string, string>, repo = 'probe-mcp'): Promise<Launched> {
  const created = await call('POST', '/api/servers', {
    token: h.adminToken,
    json: { name, server_type: 'Example', source: { type: 'git', repository: stack.git.url(repo) }, config },
  });
  expect(created.status).toBe(201);
  const id = created.body.id as number;
  const server = await waitForStatus(call, h.adminToken, id, ['running', 'unhealthy', 'error'], 'running');
  expect(server.status, server.status_reason).toBe('running');
  const [runtime] = await h.sql<{ endpoint: string }[]>`select endpoint from server_runtimes where server_id = ${id}`;
  const network = await stack.docker.getNetwork(`mcp-server-${id}`).inspect();
  return {
    id,
    endpoint: runtime!.endpoint,
    ip: new URL(runtime!.endpoint).hostname,
    gateway: network.IPAM!.Config![0]!.Gateway!,
  };
}

beforeAll(async () => {
  stack = await startBuildStack('hostile-net');
  // The API on every interface, as npm start serves it by default.
  h = await startHarness('hostile-net', { ...stack.env('linux/amd64'), BIND_ADDRESS: '0.0.0.0' });
  call = httpClient(h.apiUrl);
  await probeRepo('probe-mcp');
  await probeRepo('probe-stdio', 'Dockerfile.stdio');
}, 300_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

describe('a hosted server in a network of its own', () => {
  let a: Launched;
  let b: Launched;

  it('runs each server on its own bridge network, reached at its container address and published nowhere', async () => {
    [a, b] = await Promise.all([launch('hn-a', {}), launch('hn-b', { egress: 'internet' })]);
    for (const s of [a, b]) {
      expect(s.endpoint).toBe(`http://${s.ip}:8080/cgi-bin/mcp`);
      const inspected = await stack.docker.getContainer(`mcp-server-${s.id}`).inspect();
      expect(inspected.HostConfig.NetworkMode).toBe(`mcp-server-${s.id}`);
      expect(inspected.HostConfig.PortBindings ?? {}).toEqual({});
      expect(Object.values(inspected.NetworkSettings.Ports ?? {}).filter(Boolean)).toEqual([]); // exposed, bound nowhere
      expect(inspected.Config.Env).not.toContain('egress=internet');
    }
    const bridges = await Promise.all(
      [a, b].map(
        async (s) =>
          (await stack.docker.getNetwork(`mcp-server-${s.id}`).inspect()).Options?.['com.docker.network.bridge.name'],
      ),
    );
    expect(bridges[0]).toMatch(/^mcpn-[0-9a-f]{10}$/);
    expect(bridges[1]).toMatch(/^mcpe-[0-9a-f]{10}$/);
    expect(a.gateway).not.toBe(b.gateway);
  }, 600_000);

  it('reaches nothing of the control plane, no other tenant and no metadata address; the host reaches both', async () => {
    const targets = (self: Launched, other: Launched) => [
      ...controlPlaneTargets(h, stack, [self.gateway, other.gateway]),
      '127.0.0.1:5432',
      `${other.ip}:8080`,
      '169.254.169.254:80',
    ];
    // What is blocked is there: the API answers the host on each of these addresses.
    for (const host of [a.gateway, b.gateway, ...hostAddresses()])
      expect((await fetch(`http://${host}:${controlPlanePorts(h, stack).api}/healthz`)).status, host).toBe(200);
    // The probe itself works: the server reaches its own port.
    expect(await connect(a.endpoint, '127.0.0.1:8080')).toBe('reached');
    expect(await connect(b.endpoint, `${b.ip}:8080`)).toBe('reached');
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      // A few at a time: each probe is a CGI request forking several processes inside the server's
      // pids limit, and the targets grow with every address the host has (each bridge's gateway, the
      // build networks' among them), so all at once the server runs out of processes and answers
      // nothing (an empty 202, a closed connection) rather than whether it got through.
      const results: (readonly [string, string])[] = [];
      const all = targets(self, other);
      const queue = [...all];
      await Promise.all(
        Array.from({ length: PROBES_AT_ONCE }, async () => {
          for (let t = queue.shift(); t !== undefined; t = queue.shift())
            results.push([t, await connect(self.endpoint, t)]);
        }),
      );
      expect(results.length).toBe(all.length);
      expect(
        results.filter(([, r]) => r !== 'blocked'),
        `reached from server ${self.id}`,
      ).toEqual([]);
    }
    // The host (the gateway, the health probe) reaches both servers' MCP endpoints.
    for (const s of [a, b])
      expect((await mcp(s.endpoint, 'tools/list', {})).result.tools!.map((t) => t.name)).toEqual(['echo', 'arch']);
    expect((await call('GET', '/healthz')).status).toBe(200);
  }, 120_000);

  it('sandboxes a stdio server behind the bridge the same way, reached by the SDK client at its endpoint', async () => {
    const s = await launch('hn-stdio', {}, 'probe-stdio');
    expect(s.endpoint).toBe(`http://${s.ip}:8080/mcp`);
    const bridge = (await stack.docker.getNetwork(`mcp-server-${s.id}`).inspect()).Options?.[
      'com.docker.network.bridge.name'
    ];
    expect(bridge).toMatch(/^mcpn-[0-9a-f]{10}$/); // stdio's default egress: none
    const client = new Client({ name: 'hn-client', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(s.endpoint)));
    try {
      const connectTo = async (target: string) => {
        const result = await client.callTool({ name: 'connect', arguments: { target } });
        return (result.content as { text: string }[])[0]!.text;
      };
      expect(await connectTo('127.0.0.1:8080')).toBe('reached'); // the bridge itself, inside
      for (const target of [
        `${s.gateway}:${portOf(h.env.DATABASE_URL!)}`,
        `${s.gateway}:${h.env.BIND_PORT!}`,
        `${a.ip}:8080`,
        '169.254.169.254:80',
      ])
        expect(await connectTo(target), target).toBe('blocked');
    } finally {
      await client.close();
    }
    expect((await call('DELETE', `/api/servers/${s.id}`, { token: h.adminToken })).status).toBe(202);
    await eventually(
      async () => (await call('GET', `/api/servers/${s.id}`, { token: h.adminToken })).status === 404,
      60_000,
      'deleted',
    );
  }, 300_000);

  it('refuses the launch, with the reason, when the network check cannot run', async () => {
    const canaryImage = h.env.DOCKER_CANARY_IMAGE;
    h.env.DOCKER_CANARY_IMAGE = `${stack.registryHost}/mcp/no-such-canary:1`;
    await h.restartWorker(); // a fresh worker has no passed canary to remember
    try {
      const created = await call('POST', '/api/servers', {
        token: h.adminToken,
        json: {
          name: 'hn-refused',
          server_type: 'Example',
          source: { type: 'image', image: `${stack.registryHost}/${await serverRepository(h.sql, a.id)}:latest` },
        },
      });
      expect(created.status).toBe(201);
      const server = await waitForStatus(
        call,
        h.adminToken,
        created.body.id,
        ['running', 'unhealthy', 'error'],
        'refused',
      );
      expect(server.status).toBe('error');
      expect(server.status_reason).toMatch(
        /^refusing to launch: the network canary cannot run \(DOCKER_CANARY_IMAGE .*no-such-canary:1\)/,
      );
      await expect(stack.docker.getContainer(`mcp-server-${created.body.id}`).inspect()).rejects.toMatchObject({
        statusCode: 404,
      });
      expect((await call('DELETE', `/api/servers/${created.body.id}`, { token: h.adminToken })).status).toBe(202);
    } finally {
      h.env.DOCKER_CANARY_IMAGE = canaryImage;
      await h.restartWorker();
    }
  }, 120_000);

  it('removes the network with the server', async () => {
    for (const s of [a, b]) {
      expect((await call('DELETE', `/api/servers/${s.id}`, { token: h.adminToken })).status).toBe(202);
      await eventually(
        async () => (await call('GET', `/api/servers/${s.id}`, { token: h.adminToken })).status === 404,
        60_000,
        'deleted',
      );
      await expect(stack.docker.getNetwork(`mcp-server-${s.id}`).inspect()).rejects.toMatchObject({ statusCode: 404 });
    }
    // Nor is a canary network left behind (the worker's pool of build networks, untaken, stays while it runs).
    expect(
      (await stack.docker.listNetworks())
        .map((n) => n.Name)
        .filter((n) => n.startsWith('mcp-') && !/^mcp-build-.*-pool-[0-9a-f]+$/.test(n)),
    ).toEqual([]);
  }, 120_000);
});
