// Probe servers for the hostile-tenant tests: hello-mcp (busybox httpd + a CGI script) with extra
// tools, each trying one thing from inside its sandbox, and the escape helper those tools run.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { DATA_DIR, PROJECT_ROOT } from '../../scripts/stack/paths.js';
import type { BuildStack } from './build-stack.js';
import type { Harness } from './harness.js';

const HELLO = join(PROJECT_ROOT, 'examples', 'hello-mcp');

/** A `connect` tool: opens a TCP connection to `target` (host:port) and says `reached` or `blocked`. */
export const CONNECT_TOOL = `        connect) t=$(field target); if echo | timeout 3 nc -w 2 "\${t%:*}" "\${t##*:}" >/dev/null 2>&1; then r=reached; else r=blocked; fi; result "{\\"content\\":[{\\"type\\":\\"text\\",\\"text\\":\\"$r\\"}]}" ;;\n`;

/** hello-mcp's CGI script with more `tools/call` cases (shell `case` lines, as CONNECT_TOOL). */
export function helloMcpWithTools(cases: string): string {
  const cgi = readFileSync(join(HELLO, 'mcp.cgi'), 'utf8').replace(
    /^ {8}\*\) failure -32602 'unknown tool' ;;$/m,
    (line) => `${cases}${line}`,
  );
  expect(cgi).toContain(cases.trim().split(')')[0]);
  return cgi;
}

/** One of hello-mcp's Dockerfiles (HTTP or stdio) on the given base image. */
export const helloMcpDockerfile = (base: string, file = 'Dockerfile') =>
  readFileSync(join(HELLO, file), 'utf8').replace(/^FROM .*$/m, `FROM ${base}`);

/** One JSON-RPC request to a Streamable HTTP endpoint (plain JSON answers, as hello-mcp gives). */
export async function mcp(endpoint: string, method: string, params: object) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(15_000),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { result: { content?: { text: string }[]; tools?: { name: string }[] } };
}

/** The text a tool answered. */
export const callTool = async (endpoint: string, name: string, args: Record<string, string> = {}) =>
  (await mcp(endpoint, 'tools/call', { name, arguments: args })).result.content![0]!.text;

/**
 * The escape helper (test/support/escape/main.go), built static for linux/amd64 with the Go
 * toolchain of the machine; its bytes, to put in a test repository (never in this one).
 */
export async function buildEscapeHelper(): Promise<Buffer> {
  const dir = join(DATA_DIR, 'test-builds', 'escape-helper');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'escape');
  await promisify(execFile)('/usr/local/go/bin/go', ['build', '-o', out, 'main.go'], {
    cwd: join(PROJECT_ROOT, 'test', 'support', 'escape'),
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      GOCACHE: join(DATA_DIR, 'go-build-cache'),
      GO111MODULE: 'off',
      CGO_ENABLED: '0',
      GOOS: 'linux',
      GOARCH: 'amd64',
    },
    timeout: 300_000,
  });
  return readFileSync(out);
}

/** The host's own IPv4 addresses (not loopback): a server must reach the control plane on none. */
export const hostAddresses = (): string[] =>
  Object.values(networkInterfaces())
    .flat()
    .filter((i) => i && i.family === 'IPv4' && !i.internal)
    .map((i) => i!.address);

export const portOf = (address: string) => new URL(address.includes('://') ? address : `tcp://${address}`).port;

/** The control plane's ports: Postgres, Temporal, the API, the registry and the registry's proxy. */
export const controlPlanePorts = (h: Harness, stack: BuildStack) => ({
  postgres: portOf(h.env.DATABASE_URL!),
  temporal: portOf(h.env.TEMPORAL_ADDRESS!),
  api: h.env.BIND_PORT!,
  registry: portOf(stack.registry.address),
  'registry-proxy': String(stack.proxy.port),
});

/** Every control-plane port on loopback, on each of `gateways` and on each of the host's addresses. */
export const controlPlaneTargets = (h: Harness, stack: BuildStack, gateways: string[]): string[] =>
  Object.values(controlPlanePorts(h, stack)).flatMap((p) =>
    ['127.0.0.1', ...gateways, ...hostAddresses()].map((host) => `${host}:${p}`),
  );
