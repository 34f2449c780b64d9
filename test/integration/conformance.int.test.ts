// Names carry a cf- prefix: every test file of a run shares one database (and the bootstrap admin).
// The official MCP conformance suite (npm @modelcontextprotocol/conformance, pinned) against
// examples/conformance-mcp: first directly on loopback, where it passes every server scenario the suite
// lists; then hosted by mcp-host — built from git (its node_modules committed, as builds reach no registry)
// FROM the Node base image made from this host, launched, and called through the gateway at
// <api>/mcp/<server-id>. Every scenario that passes directly passes through the gateway. The suite's CLI
// sends no headers of its own, so a loopback proxy adds the bearer token (and leaves Host and Origin as
// the CLI sent them: the gateway's DNS-rebinding check sees what a browser would send).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBearerProxy, type BearerProxy } from '../support/bearer-proxy.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import {
  conformanceExampleRepo,
  notPassing,
  passes,
  runServerScenarios,
  serverScenarios,
  startExampleServer,
  summary,
  type ScenarioOutcome,
} from '../support/conformance.js';
import { startHarness, type Harness } from '../support/harness.js';
import { httpClient, waitForStatus } from '../support/http.js';

/**
 * Scenarios that pass directly but may not through the gateway, each with the reason; none today. A
 * scenario listed here that passes through the gateway fails the test, so the list cannot go stale.
 */
const GATEWAY_EXCEPTIONS: Record<string, string> = {};

let direct: Map<string, ScenarioOutcome>;

describe('the conformance suite against examples/conformance-mcp, directly', () => {
  it('passes every server scenario the suite lists, active and pending, without a warning', async () => {
    const server = await startExampleServer();
    try {
      const t = Date.now();
      const [scenarios, outcomes] = await Promise.all([serverScenarios(), runServerScenarios(server.url)]);
      direct = outcomes;
      console.log(`conformance suite, directly (${server.url}), ${Date.now() - t} ms:\n${summary(outcomes)}`);
      expect(scenarios.length).toBeGreaterThanOrEqual(30);
      expect([...outcomes.keys()].sort()).toEqual([...scenarios].sort());
      expect(notPassing(outcomes)).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 300_000);
});

describe('the conformance suite through the gateway, the example hosted by mcp-host', () => {
  let stack: BuildStack;
  let h: Harness;
  let call: ReturnType<typeof httpClient>;
  let proxy: BearerProxy;
  let id: number;

  beforeAll(async () => {
    stack = await startBuildStack('conformance');
    h = await startHarness('conformance', stack.env('linux/amd64'));
    call = httpClient(h.apiUrl);
  }, 300_000);
  afterAll(async () => {
    await proxy?.stop();
    await h?.stop();
    await stack?.stop();
  });

  it('builds the example from git FROM the Node base image and runs it, answering MCP with its tools', async () => {
    // The Node base image, made from this host, published where builds pull their base images from.
    const t0 = Date.now();
    const repo = await conformanceExampleRepo(stack, 'conformance-mcp');
    console.log(
      `base image and repository: ${repo.dependencyFiles} dependency files (${(repo.dependencyBytes / 1e6).toFixed(1)} MB) in ${Date.now() - t0} ms`,
    );

    const t = Date.now();
    const created = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: {
        name: 'cf-conformance',
        server_type: 'Example',
        source: { type: 'git', repository: stack.git.url('conformance-mcp') },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    id = created.body.id;
    const server = await waitForStatus(call, h.adminToken, id, ['running', 'unhealthy', 'error'], 'running', 480_000);
    expect(server.status, server.status_reason).toBe('running');
    console.log(`built and running: ${Date.now() - t} ms`);
    const manifest = (await call('GET', `/api/servers/${id}/manifest`, { token: h.adminToken })).body;
    expect(manifest).toMatchObject({ name: 'conformance-mcp', version: '1.0.0' });
    expect(manifest.tools.map((tool: { name: string }) => tool.name)).toContain('test_reconnection');
    // As mcp-host runs every server: the image's non-root user, a read-only root filesystem.
    const container = await stack.docker.getContainer(`mcp-server-${id}`).inspect();
    expect(container.Config.User).toBe('node');
    expect(container.HostConfig.ReadonlyRootfs).toBe(true);
  }, 600_000);

  it('passes through <api>/mcp/<server-id> every scenario that passes directly', async () => {
    expect(direct, 'the direct run came first').toBeDefined();
    expect(id, 'the server is running').toBeDefined();
    proxy = await startBearerProxy(h.apiUrl, h.adminToken);
    const url = proxy.url(`/mcp/${id}`);
    const t = Date.now();
    const gateway = await runServerScenarios(url);
    console.log(
      `conformance suite through the gateway (${url}), ${Date.now() - t} ms, ${proxy.forwarded} requests:\n${summary(gateway)}`,
    );
    const regressions = [...direct.values()]
      .filter((o) => passes(o) && !(o.scenario in GATEWAY_EXCEPTIONS) && !passes(gateway.get(o.scenario)))
      .map((o) => ({
        scenario: o.scenario,
        failures: gateway.get(o.scenario)?.failures ?? ['not run'],
        warnings: gateway.get(o.scenario)?.warnings ?? [],
      }));
    expect(regressions).toEqual([]);
    // The calls went through the gateway: its relay counted them for this server.
    const metrics = (await call('GET', '/metrics', { token: h.adminToken })).text;
    const relayed = [...metrics.matchAll(/^mcp_gateway_requests_total\{([^}]*)\} (\d+)/gm)]
      .filter(([, labels]) => labels!.includes(`server="${id}"`) && labels!.includes('method="tools/call"'))
      .reduce((sum, m) => sum + Number(m[2]), 0);
    console.log(`gateway relayed ${relayed} tools/call for server ${id}`);
    expect(relayed).toBeGreaterThan(0);
    expect(Object.keys(GATEWAY_EXCEPTIONS).filter((s) => passes(gateway.get(s)))).toEqual([]);
  }, 300_000);
});
