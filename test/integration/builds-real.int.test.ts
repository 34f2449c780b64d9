// Names carry an rb- prefix: every test file of a run shares one database (and the bootstrap admin).
// Real MCP servers built by mcp-host, with packages fetched at test time from the npm registry through
// the build's egress proxy (the build's RUN steps reach the registry and nothing else): a TypeScript
// project of the tests' own with a build step and dev dependencies, as a git source with `directory`
// and a generated Dockerfile; @modelcontextprotocol/server-memory and server-everything as npm
// sources (stdio, behind the stdio bridge). The base is the Node image made from this host, known
// only to the daemon (never pushed): a local-only image is a usable base. Each server reaches
// `running` with its real tools and answers tools/call through the gateway. One platform (the
// host's), because the base here is the daemon's own; two-platform builds on the bases the stack
// publishes are builds-multiarch.int's (npm run test:multiarch).
// PyPI is not reachable from this machine: the pypi path is covered by lib/build/dockerfile.test.ts.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureNodeBaseImage, NODE_BASE_IMAGE } from '../../scripts/stack/node-base-image.js';
import {
  createServer,
  expectGatewayTools,
  runningWithBuild,
  tsProject,
  tsProjectCalls,
  type GatewayCall,
} from '../support/built-servers.js';
import { startBuildStack, type BuildStack } from '../support/build-stack.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { httpClient } from '../support/http.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;
const started = Date.now();

const gatewayTools = (id: number, tools: string[] | { including: string }, calls: GatewayCall[]) =>
  expectGatewayTools(h, id, 'rb-test', tools, calls);
const create = (name: string, source: object) => createServer(h, call, name, source);
const running = (id: number) => runningWithBuild(h, call, id);

beforeAll(async () => {
  stack = await startBuildStack('real-builds');
  const t = Date.now();
  await ensureNodeBaseImage(stack.docker);
  console.log(`node base image on the daemon: ${Date.now() - t} ms`);
  h = await startHarness('real-builds', {
    ...stack.env('linux/amd64'),
    BUILD_NODE_BASE_IMAGE: NODE_BASE_IMAGE,
    // The stdio bridge of this checkout's .tools/bin, unless the run names another build of it.
    ...(process.env.STDIO_BRIDGE_DIR && { STDIO_BRIDGE_DIR: process.env.STDIO_BRIDGE_DIR }),
  });
  call = httpClient(h.apiUrl);
}, 600_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
  console.log(`builds-real: ${Date.now() - started} ms in all`);
});

describe('real MCP servers, built with packages from the npm registry', () => {
  let adder: number;

  it('builds a TypeScript project of a git monorepo (directory, generated multi-stage Dockerfile, tsc) and calls its tool', async () => {
    const t = Date.now();
    await createGitRepo({ dir: join(stack.gitDir, 'rb-monorepo'), files: tsProject('rb-adder') });
    adder = await create('rb-adder', {
      type: 'git',
      repository: stack.git.url('rb-monorepo'),
      directory: 'servers/adder',
    });
    const { log } = await running(adder);
    console.log(`TypeScript project built and running: ${Date.now() - t} ms`);
    expect(log).toContain('No Dockerfile found, generating one (node, npm, npm run build, bin dist/index.js; stdio)');
    expect(log).toContain('Build network: fetching from registry.npmjs.org');
    // esbuild's install script, rebuilt on the target (here the host's platform) by name.
    expect(log).toMatch(/^npm rebuild on x86_64, install scripts of: esbuild$/m);
    await gatewayTools(adder, ['add', 'minify'], tsProjectCalls);
  }, 700_000);

  it('a changed base image setting rebuilds the same commit with a new Dockerfile, not the cached one', async () => {
    expect(adder).toBeDefined();
    const alt = 'mcp-host/node-base-alt:24';
    await stack.docker.getImage(NODE_BASE_IMAGE).tag({ repo: 'mcp-host/node-base-alt', tag: '24' });
    h.env.BUILD_NODE_BASE_IMAGE = alt;
    await h.restartWorker();
    // A running server is rebuilt by a redeploy; a build alone is refused while it runs.
    const refused = await call('POST', `/api/servers/${adder}/builds`, { token: h.adminToken });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/redeploy it to build and relaunch/);
    const res = await call('POST', `/api/servers/${adder}/redeploy`, { token: h.adminToken });
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    const t = Date.now();
    const builds = await (async () => {
      for (;;) {
        const list = (await call('GET', `/api/servers/${adder}/builds`, { token: h.adminToken })).body;
        if (list.length >= 2 && list[0].status !== 'running') return list;
        if (Date.now() - t > 600_000) throw new Error(`the rebuild did not finish: ${JSON.stringify(list[0])}`);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    })();
    expect(builds[0].source_revision).toBe(builds[1].source_revision);
    expect(builds[0].status, builds[0].failure_reason).toBe('succeeded');
    const log = (await call('GET', `/api/builds/${builds[0].id}/logs`, { token: h.adminToken })).body as {
      line: string;
    }[];
    const text = log.map((l) => l.line).join('\n');
    // The build stage runs on the build platform: `FROM --platform=$BUILDPLATFORM <base> AS build`.
    expect(text).toContain(`FROM --platform=$BUILDPLATFORM ${alt} AS build`);
    expect(text).not.toContain(` ${NODE_BASE_IMAGE} AS build`);
  }, 700_000);

  const npmServer = async (
    name: string,
    pkg: string,
    tool: string,
    callName: string,
    args: Record<string, unknown>,
  ) => {
    const t = Date.now();
    const id = await create(name, { type: 'npm', package: pkg });
    const { build, log } = await running(id);
    console.log(`${pkg} built and running: ${Date.now() - t} ms`);
    expect(build).toMatchObject({ package_type: 'npm', package_name: pkg });
    expect(build.package_version).toMatch(/^\d+\.\d+\.\d+/);
    expect(build.package_integrity).toMatch(/^sha512-/);
    expect(log).toContain('Build network: fetching from registry.npmjs.org');
    await gatewayTools(id, { including: tool }, [{ name: callName, arguments: args }]);
  };
  it(
    'rb-memory: the npm package @modelcontextprotocol/server-memory as a stdio server, its version and integrity in the ledger',
    () => npmServer('rb-memory', '@modelcontextprotocol/server-memory', 'create_entities', 'read_graph', {}),
    700_000,
  );
  it(
    'rb-everything: the npm package @modelcontextprotocol/server-everything as a stdio server',
    () => npmServer('rb-everything', '@modelcontextprotocol/server-everything', 'echo', 'echo', { message: 'hi' }),
    700_000,
  );
});
