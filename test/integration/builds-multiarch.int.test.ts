// Names carry an rm- prefix: every test file of a run shares one database (and the bootstrap admin).
// Builds for linux/amd64 and linux/arm64 with no image hub, each pushed as a two-platform index, the
// arm64 image run under the emulator too (an MCP initialize and tools/list over its stdio):
// - Go, through the Go module proxy (the build's RUN steps reach it through the build's egress proxy,
//   and nothing else): a module of the tests' own written with the official Go SDK, as a git source
//   with a generated Dockerfile, and the SDK's own `hello` example as a go package source
//   (`go install module@version`). The toolchain is the base `ensureGoBaseImages` publishes to the
//   stack's registry (the module proxy's golang.org/toolchain per architecture); the compiler runs on
//   the build platform for both targets and cross-compiles. Binaries run on busybox.
// - npm: @modelcontextprotocol/server-memory on the two-platform Node base `ensureNodeBaseImages`
//   publishes (arm64: Node from the npm registry, libraries from Debian's arm64 packages); `npm
//   install` runs on the build platform with the target's platform packages.
// - Python: a stdlib-only project of the tests' own (PyPI is not reachable here) as a git source, on
//   the Python base `ensurePythonBaseImages` publishes (Debian's Python with venv and pip's wheel);
//   its arm64 `python -m venv` and `pip install` run emulated.
// Each server reaches `running` (the host's platform) and answers tools/call through the gateway.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../lib/registry/client.js';
import { ensureGoBaseImages } from '../../scripts/stack/go-base-image.js';
import { ensureNodeBaseImages } from '../../scripts/stack/node-base-image.js';
import { ensurePythonBaseImages } from '../../scripts/stack/python-base-image.js';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import {
  REGISTRY_PASSWORD,
  REGISTRY_USER,
  serverRepository,
  startBuildStack,
  type BuildStack,
} from '../support/build-stack.js';
import {
  createServer,
  expectGatewayTools,
  runInImage,
  runningWithBuild,
  tsProject,
  tsProjectCalls,
  type GatewayCall,
} from '../support/built-servers.js';
import { createGitRepo } from '../support/git-fixture.js';
import { startHarness, type Harness } from '../support/harness.js';
import { httpClient } from '../support/http.js';

let stack: BuildStack;
let h: Harness;
let call: ReturnType<typeof httpClient>;
let pythonBase: string;
const started = Date.now();
const auth = { username: REGISTRY_USER, password: REGISTRY_PASSWORD };

/** go.sum of the stdio bridge: the same SDK release and its dependencies. */
const bridge = (file: string) => readFileSync(join(PROJECT_ROOT, 'tools/stdio-bridge', file), 'utf8');
const sdkVersion = () => /github\.com\/modelcontextprotocol\/go-sdk (v\S+)/.exec(bridge('go.mod'))![1]!;

const GO_PROJECT = () => ({
  'go.mod': `module example.test/rm-adder\n\ngo 1.25.0\n\nrequire github.com/modelcontextprotocol/go-sdk ${sdkVersion()}\n\n${bridge('go.mod').slice(bridge('go.mod').indexOf('require ('))}`,
  'go.sum': bridge('go.sum'),
  'main.go': `package main

import (
	"context"
	"log"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type args struct {
	A int \`json:"a"\`
	B int \`json:"b"\`
}

func main() {
	server := mcp.NewServer(&mcp.Implementation{Name: "rm-adder", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "a + b"},
		func(ctx context.Context, req *mcp.CallToolRequest, in args) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strconv.Itoa(in.A + in.B)}}}, nil, nil
		})
	if err := server.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		log.Fatal(err)
	}
}
`,
});

const gatewayTools = (id: number, tools: string[] | { including: string }, calls: GatewayCall[]) =>
  expectGatewayTools(h, id, 'rm-test', tools, calls);
const create = (name: string, source: object) => createServer(h, call, name, source);
const running = (id: number) => runningWithBuild(h, call, id);

/** The platforms of the server's pushed index. */
async function platforms(id: number): Promise<string[]> {
  const registry = new RegistryClient({ apiBase: `http://${stack.registryHost}`, credentials: auth });
  const list = await registry.listIndexPlatforms(await serverRepository(h.sql, id), 'latest');
  return list.map((p) => p.platform ?? '').sort();
}

/** Seconds each platform's build took, from its first log line to its last (lines are stored as they come). */
async function perPlatform(runId: number): Promise<string> {
  const rows = await h.sql<{ platform: string; seconds: number }[]>`
    select platform, extract(epoch from max(created_at) - min(created_at))::float8 as seconds
    from build_logs where run_id = ${runId} and platform is not null group by platform order by platform`;
  return rows.map((r) => `${r.platform} ${r.seconds.toFixed(1)} s`).join(', ');
}

/**
 * The tools a server image lists over stdio, run for `platform` (arm64 under the emulator): its own
 * entrypoint behind a shell that sends initialize, initialized and tools/list, then keeps stdin open
 * a while so the answers come before EOF ends the server.
 */
async function stdioTools(serverId: number, platform: string): Promise<string[]> {
  const image = `mcp-custom-${serverId}-${platform.replace(/\//g, '_')}:latest`;
  const { Config, Architecture } = await stack.docker.getImage(image).inspect();
  expect(Architecture).toBe(platform.split('/')[1]);
  const messages = [
    {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'rm', version: '1' } },
    },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', id: 2, method: 'tools/list' },
  ].map((m) => `'${JSON.stringify(m)}'`);
  const command = [...(Config.Entrypoint ?? []), ...(Config.Cmd ?? [])].map((a) => `'${a}'`).join(' ');
  const out = await runInImage(stack.docker, image, platform, {
    Entrypoint: ['sh', '-c', `(printf '%s\\n' ${messages.join(' ')}; sleep 30) | ${command}`],
    Cmd: [],
    Tty: true,
  });
  const answer = out
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { id?: number; result?: { tools?: { name: string }[] } })
    .find((m) => m.id === 2);
  expect(answer?.result?.tools, out.slice(-2000)).toBeDefined();
  return answer!.result!.tools!.map((t) => t.name);
}

/** What `sh -c command` prints in the server's image for `platform` (arm64 under the emulator). */
const runIn = (serverId: number, platform: string, command: string) =>
  runInImage(stack.docker, `mcp-custom-${serverId}-${platform.replace(/\//g, '_')}:latest`, platform, {
    Entrypoint: ['sh', '-c', command],
    Cmd: [],
  });

beforeAll(async () => {
  stack = await startBuildStack('multiarch-builds');
  let t = Date.now();
  const go = await ensureGoBaseImages({ registry: stack.registryHost, auth });
  console.log(
    `go base ${go.reference}: ${go.made ? 'made and uploaded' : go.uploaded ? 'uploaded' : 'already there'} in ${Date.now() - t} ms`,
  );
  t = Date.now();
  const node = await ensureNodeBaseImages({ registry: stack.registryHost, auth });
  console.log(
    `node base ${node.reference}: ${node.made ? 'made and uploaded' : node.uploaded ? 'uploaded' : 'already there'} in ${Date.now() - t} ms`,
  );
  t = Date.now();
  const python = await ensurePythonBaseImages({ registry: stack.registryHost, auth });
  pythonBase = python.reference;
  console.log(
    `python base ${python.reference}: ${python.made ? 'made and uploaded' : python.uploaded ? 'uploaded' : 'already there'} in ${Date.now() - t} ms`,
  );
  h = await startHarness('multiarch-builds', {
    ...stack.env('linux/amd64,linux/arm64'),
    BUILD_GO_BASE_IMAGE: go.reference,
    BUILD_NODE_BASE_IMAGE: node.reference,
    BUILD_PYTHON_BASE_IMAGE: python.reference,
    BUILD_STATIC_BASE_IMAGE: stack.base.reference,
    ...(process.env.STDIO_BRIDGE_DIR && { STDIO_BRIDGE_DIR: process.env.STDIO_BRIDGE_DIR }),
  });
  call = httpClient(h.apiUrl);
}, 900_000);
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
  console.log(`builds-multiarch: ${Date.now() - started} ms in all`);
});

/**
 * A Dockerfile written for BuildKit: its build stage on the build platform by
 * `FROM --platform=$BUILDPLATFORM`, with no `ARG BUILDPLATFORM` before it (BuildKit declares it).
 */
const USER_DOCKERFILE_PROJECT = (base: string) => ({
  Dockerfile: `FROM --platform=$BUILDPLATFORM ${base} AS build
ARG TARGETPLATFORM
RUN mkdir -p /out && echo "$TARGETPLATFORM" > /out/built-for
FROM ${base}
COPY --from=build /out/built-for /etc/built-for
COPY server.py /app/server.py
LABEL "io.mcp-host.transport"="stdio"
ENTRYPOINT ["python", "/app/server.py"]
`,
  'server.py': PY_PROJECT['server.py']
    .replace('"rm-shout"', '"rm-built-for"')
    .replace(
      '[{"name": "shout", "description": "upper-cases text", "inputSchema": schema}]',
      '[{"name": "built_for", "description": "the platform it was built for", "inputSchema": {"type": "object"}}]',
    )
    .replace('msg["params"]["arguments"]["text"].upper()', 'open("/etc/built-for").read().strip()'),
});

describe("a user's Dockerfile with BuildKit's automatic platform arguments, for two platforms", () => {
  it('builds FROM --platform=$BUILDPLATFORM without ARG BUILDPLATFORM, each target told its TARGETPLATFORM', async () => {
    const t = Date.now();
    await createGitRepo({ dir: join(stack.gitDir, 'rm-built-for'), files: USER_DOCKERFILE_PROJECT(pythonBase) });
    const id = await create('rm-built-for', { type: 'git', repository: stack.git.url('rm-built-for') });
    const { build, log } = await running(id);
    console.log(`user Dockerfile built (${await perPlatform(build.id)}) and running: ${Date.now() - t} ms`);
    expect(log).not.toContain('No Dockerfile found');
    // The declaration mcp-host adds before the first FROM, as BuildKit would have it.
    expect(log).toMatch(/Step 1\/\d+ : ARG BUILDPLATFORM$/m);
    // The build stage is the build platform's for both targets: amd64's two stages, arm64's first.
    const pinnedFor = (platform: string) => log.split(`Base image ${pythonBase} for ${platform} is `).length - 1;
    expect([pinnedFor('linux/amd64'), pinnedFor('linux/arm64')]).toEqual([3, 1]);
    expect(await platforms(id)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(await stdioTools(id, 'linux/arm64')).toEqual(['built_for']);
    expect(await runIn(id, 'linux/arm64', 'cat /etc/built-for; uname -m')).toBe('linux/arm64\naarch64');
    await gatewayTools(
      id,
      ['built_for'],
      [{ name: 'built_for', arguments: {}, content: [{ type: 'text', text: 'linux/amd64' }] }],
    );
  }, 900_000);
});

describe('npm: a TypeScript project of a git monorepo and server-everything for two platforms', () => {
  it('builds the project (directory, tsc on the build platform, esbuild rebuilt on the target) and calls its tools', async () => {
    const t = Date.now();
    await createGitRepo({ dir: join(stack.gitDir, 'rm-monorepo'), files: tsProject('rm-ts-adder') });
    const id = await create('rm-ts-adder', {
      type: 'git',
      repository: stack.git.url('rm-monorepo'),
      directory: 'servers/adder',
    });
    const { build, log } = await running(id);
    console.log(`TypeScript git project built (${await perPlatform(build.id)}) and running: ${Date.now() - t} ms`);
    expect(log).toContain('No Dockerfile found, generating one (node, npm, npm run build, bin dist/index.js; stdio)');
    expect(log).toContain('Build network: fetching from registry.npmjs.org');
    // esbuild has an install script: each target rebuilds it, and only it, on its own platform.
    expect(log).toMatch(/^npm rebuild on x86_64, install scripts of: esbuild$/m);
    expect(log).toMatch(/^npm rebuild on aarch64, install scripts of: esbuild$/m);
    expect(await platforms(id)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(await stdioTools(id, 'linux/arm64')).toEqual(['add', 'minify']);
    // The target's own esbuild, not the build platform's: installed for arm64 and runnable there.
    expect(await runIn(id, 'linux/arm64', 'ls /app/node_modules/@esbuild')).toBe('linux-arm64');
    expect(
      await runIn(id, 'linux/arm64', "cd /app && node -p \"require('esbuild').transformSync('let  y = 2').code\""),
    ).toBe('let y = 2;');
    await gatewayTools(id, ['add', 'minify'], tsProjectCalls);
  }, 1_200_000);

  it('builds @modelcontextprotocol/server-everything for amd64 and arm64, no rebuild (no install scripts), and calls its tool', async () => {
    const t = Date.now();
    const id = await create('rm-everything', { type: 'npm', package: '@modelcontextprotocol/server-everything' });
    const { build, log } = await running(id);
    console.log(
      `npm package server-everything built (${await perPlatform(build.id)}) and running: ${Date.now() - t} ms`,
    );
    expect(build).toMatchObject({ package_type: 'npm', package_name: '@modelcontextprotocol/server-everything' });
    expect(build.package_integrity).toMatch(/^sha512-/);
    expect(log).toMatch(/^npm rebuild skipped on x86_64: no install scripts$/m);
    expect(log).toMatch(/^npm rebuild skipped on aarch64: no install scripts$/m);
    expect(log).not.toMatch(/^npm rebuild on /m);
    expect(await platforms(id)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(await stdioTools(id, 'linux/arm64')).toContain('echo');
    await gatewayTools(id, { including: 'echo' }, [
      {
        name: 'echo',
        arguments: { message: 'hi' },
        check: (result) => expect(JSON.stringify(result.content)).toContain('hi'),
      },
    ]);
  }, 1_200_000);
});

describe('Go MCP servers, built through the Go module proxy for two platforms', () => {
  it('builds a Go module of a git repository (generated Dockerfile, go build) and calls its tool', async () => {
    const t = Date.now();
    await createGitRepo({ dir: join(stack.gitDir, 'rm-adder'), files: GO_PROJECT() });
    const id = await create('rm-adder', { type: 'git', repository: stack.git.url('rm-adder') });
    const { build, log } = await running(id);
    console.log(`Go git project built (${await perPlatform(build.id)}) and running: ${Date.now() - t} ms`);
    expect(log).toContain('No Dockerfile found, generating one (go, go build .; stdio)');
    expect(log).toContain('Build network: fetching from proxy.golang.org');
    expect(log).not.toMatch(/Build network: refused/);
    expect(await platforms(id)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(await stdioTools(id, 'linux/arm64')).toEqual(['add']);
    await gatewayTools(
      id,
      ['add'],
      [{ name: 'add', arguments: { a: 2, b: 40 }, content: [{ type: 'text', text: '42' }] }],
    );
  }, 900_000);

  it('builds a go package source (go install module@version), its version and h1: hash in the ledger', async () => {
    const t = Date.now();
    const module = 'github.com/modelcontextprotocol/go-sdk/examples/server/hello';
    const id = await create('rm-hello', { type: 'go', module, version: sdkVersion() });
    const { build, log } = await running(id);
    console.log(`go package ${module} built (${await perPlatform(build.id)}) and running: ${Date.now() - t} ms`);
    expect(build).toMatchObject({ package_type: 'go', package_version: sdkVersion() });
    // The checksum database's hash, as go.sum records it (asked through the module proxy).
    expect(build.package_integrity).toMatch(/^h1:/);
    expect(log).toContain('Build network: fetching from proxy.golang.org');
    expect(await platforms(id)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(await stdioTools(id, 'linux/arm64')).toEqual(['greet']);
    await gatewayTools(
      id,
      ['greet'],
      [{ name: 'greet', arguments: { name: 'mcp-host' }, content: [{ type: 'text', text: 'Hi mcp-host' }] }],
    );
  }, 900_000);
});

describe('npm sources for two platforms, on the two-platform Node base', () => {
  it('builds @modelcontextprotocol/server-memory for amd64 and arm64 (npm install on the build platform) and calls its tool', async () => {
    const t = Date.now();
    const id = await create('rm-memory', { type: 'npm', package: '@modelcontextprotocol/server-memory' });
    const { build, log } = await running(id);
    console.log(`npm package server-memory built (${await perPlatform(build.id)}) and running: ${Date.now() - t} ms`);
    expect(build).toMatchObject({ package_type: 'npm', package_name: '@modelcontextprotocol/server-memory' });
    expect(build.package_integrity).toMatch(/^sha512-/);
    expect(log).toContain('Build network: fetching from registry.npmjs.org');
    expect(await platforms(id)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(await stdioTools(id, 'linux/arm64')).toContain('create_entities');
    await gatewayTools(id, { including: 'create_entities' }, [{ name: 'read_graph', arguments: {} }]);
  }, 1_200_000);
});

/** An MCP server in Python's standard library alone: JSON-RPC over stdin and stdout. */
const PY_PROJECT = {
  'requirements.txt': '# the standard library only: PyPI is not reachable from the test machine\n',
  'server.py': `import json
import sys


def send(message):
    sys.stdout.write(json.dumps(message) + "\\n")
    sys.stdout.flush()


for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    method, rid = msg.get("method"), msg["id"]
    if method == "initialize":
        result = {
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "rm-shout", "version": "1.0.0"},
        }
    elif method == "tools/list":
        schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
        result = {"tools": [{"name": "shout", "description": "upper-cases text", "inputSchema": schema}]}
    elif method == "tools/call":
        result = {"content": [{"type": "text", "text": msg["params"]["arguments"]["text"].upper()}]}
    elif method == "ping":
        result = {}
    else:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "method not found"}})
        continue
    send({"jsonrpc": "2.0", "id": rid, "result": result})
`,
};

describe('Python projects for two platforms, on the two-platform Python base', () => {
  it('builds a Python project of a git repository (generated Dockerfile, venv, pip) and calls its tool', async () => {
    const t = Date.now();
    await createGitRepo({ dir: join(stack.gitDir, 'rm-shout'), files: PY_PROJECT });
    const id = await create('rm-shout', { type: 'git', repository: stack.git.url('rm-shout') });
    const { build, log } = await running(id);
    console.log(`Python git project built (${await perPlatform(build.id)}) and running: ${Date.now() - t} ms`);
    expect(log).toContain('No Dockerfile found, generating one (python, server.py; stdio)');
    expect(await platforms(id)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(await stdioTools(id, 'linux/arm64')).toEqual(['shout']);
    await gatewayTools(
      id,
      ['shout'],
      [{ name: 'shout', arguments: { text: 'hi' }, content: [{ type: 'text', text: 'HI' }] }],
    );
  }, 900_000);
});
