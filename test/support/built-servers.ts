// The steps and fixtures every real-build test file shares: create a server from a source, wait until its
// build ran and it runs (failing with its build log's tail), talk to it through the gateway, and run
// commands in its images.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type Docker from 'dockerode';
import { expect } from 'vitest';
import type { Harness } from './harness.js';
import { waitForStatus, type httpClient } from './http.js';

type Call = ReturnType<typeof httpClient>;

/** An MCP client connected to the server through the gateway, as the admin. */
async function gatewayClient(h: Harness, id: number, clientName: string): Promise<Client> {
  const client = new Client({ name: clientName, version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${h.apiUrl}/mcp/${id}`), {
      requestInit: { headers: { authorization: `Bearer ${h.adminToken}` } },
    }),
  );
  return client;
}

type ToolResult = Awaited<ReturnType<Client['callTool']>>;

/** A tool call through the gateway and what its answer must be. */
export interface GatewayCall {
  name: string;
  arguments: Record<string, unknown>;
  /** The answer's content, exactly. Without it the answer must not be an error, and `check` asserts the rest. */
  content?: unknown;
  check?: (result: ToolResult) => void;
}

/**
 * Through the gateway, as the admin, with a client of its own: the server lists `tools` (these names in
 * this order, or with `{ including }` at least that one), and each of `calls` answers as it says.
 */
export async function expectGatewayTools(
  h: Harness,
  id: number,
  clientName: string,
  tools: string[] | { including: string },
  calls: GatewayCall[],
): Promise<void> {
  const client = await gatewayClient(h, id, clientName);
  try {
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    if (Array.isArray(tools)) expect(names).toEqual(tools);
    else expect(names).toContain(tools.including);
    for (const c of calls) {
      const result = await client.callTool({ name: c.name, arguments: c.arguments });
      if (c.content !== undefined) expect(result.content).toEqual(c.content);
      else {
        expect(result.isError ?? false).toBe(false);
        c.check?.(result);
      }
    }
  } finally {
    await client.close();
  }
}

/**
 * What a container of `image` for `platform` (a foreign one under the emulator) prints, stdout and stderr
 * in order, trimmed: run to its end with no network, `run` its Cmd (and Entrypoint, and a terminal, when given).
 */
export async function runInImage(
  docker: Docker,
  image: string,
  platform: string,
  run: { Entrypoint?: string[]; Cmd: string[]; Tty?: boolean },
): Promise<string> {
  const container = await docker.createContainer({
    Image: image,
    ...run,
    HostConfig: { NetworkMode: 'none' },
    platform,
  } as never);
  try {
    await container.start();
    await container.wait();
    const out = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    // A terminal's output is one stream, as it came.
    if (run.Tty) return out.toString('utf8').trim();
    // Docker's multiplexed frames: an 8-byte header before each chunk.
    const chunks: string[] = [];
    for (let i = 0; i + 8 <= out.length;) {
      const size = out.readUInt32BE(i + 4);
      chunks.push(out.subarray(i + 8, i + 8 + size).toString('utf8'));
      i += 8 + size;
    }
    return chunks.join('').trim();
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

/** A server of type Example from `source`; its id. */
export async function createServer(h: Harness, call: Call, name: string, source: object): Promise<number> {
  const res = await call('POST', '/api/servers', {
    token: h.adminToken,
    json: { name, server_type: 'Example', source },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as number;
}

/** Waits (10 min at most) until the server runs; its latest build and that build's log. */
export async function runningWithBuild(h: Harness, call: Call, id: number) {
  const server = await waitForStatus(call, h.adminToken, id, ['running', 'unhealthy', 'error'], 'running', 600_000);
  const builds = (await call('GET', `/api/servers/${id}/builds`, { token: h.adminToken })).body;
  // A server that failed before its build started (its package not resolved) has no run to show.
  expect(builds.length, `${server.status}: ${server.status_reason}`).toBeGreaterThan(0);
  const log = (await call('GET', `/api/builds/${builds[0].id}/logs`, { token: h.adminToken })).body as {
    line: string;
  }[];
  const text = log.map((l) => l.line).join('\n');
  expect(server.status, `${server.status_reason}\n${text.slice(-3000)}`).toBe('running');
  return { server, build: builds[0], log: text };
}

/** What the calls of tsProject's tools answer: `add`'s sum, and `minify` through the target's esbuild. */
export const tsProjectCalls: GatewayCall[] = [
  { name: 'add', arguments: { a: 2, b: 40 }, content: [{ type: 'text', text: '42' }] },
  { name: 'minify', arguments: { code: 'let  x  =  1 ;' }, content: [{ type: 'text', text: 'let x=1;' }] },
];

/**
 * A TypeScript MCP server in servers/adder of a monorepo: `tsc` (a dev dependency) builds dist/,
 * `bin` runs it over stdio. esbuild, a production dependency, has an install script and a platform
 * package per architecture: installed for the target, rebuilt there, and used by the `minify` tool.
 */
export const tsProject = (name: string): Record<string, string> => ({
  'servers/adder/package.json': JSON.stringify(
    {
      name,
      version: '1.0.0',
      type: 'module',
      bin: { [name]: 'dist/index.js' },
      scripts: { build: 'tsc' },
      dependencies: { '@modelcontextprotocol/sdk': '1.24.3', esbuild: '0.25.10', zod: '3.25.76' },
      devDependencies: { typescript: '5.9.3' },
    },
    null,
    2,
  ),
  'servers/adder/tsconfig.json': JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      outDir: 'dist',
      strict: true,
      skipLibCheck: true,
    },
    include: ['src'],
  }),
  'servers/adder/src/index.ts': `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { transform } from 'esbuild';
import { z } from 'zod';

const server = new McpServer({ name: ${JSON.stringify(name)}, version: '1.0.0' });
server.tool('add', { a: z.number(), b: z.number() }, async ({ a, b }) => ({
  content: [{ type: 'text', text: String(a + b) }],
}));
server.tool('minify', { code: z.string() }, async ({ code }) => ({
  content: [{ type: 'text', text: (await transform(code, { minify: true })).code.trim() }],
}));
await server.connect(new StdioServerTransport());
`,
  'README.md': 'a monorepo: the server lives in servers/adder\n',
});
