// The README's quick start, followed literally on a clean checkout: the commands are read from the
// README's "Quick start" code blocks (a README change that breaks the flow fails here), the repository
// is cloned (what is committed, not the working tree), `npm start` runs there, and the mcpctl
// commands run in order against it, until the example MCP server is running with its tools.
//
// Not repeated inside the clone: `npm test` (CI runs it; asserted present). The clone borrows this
// checkout's node_modules and .tools by symlink, so the setup that `npm start` runs first finds
// everything there and only checks.
// Substituted, so parallel runs and other stacks on this machine do not collide: the ports of
// `npm start` (BIND_PORT and the DEV_*_PORT variables, all documented) and therefore the URLs in the
// commands; DATABASE_URL names a fresh database, so the IDs the README uses (user 2, server 1) hold.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { dropDatabase } from '../../scripts/stack/postgres.js';
import { freePort } from '../../scripts/stack/process.js';
import { eventually } from '../support/http.js';

const run = promisify(execFile);

/** The shell commands of the README's quick start, one array per ```sh block, comments dropped. */
export function quickStartBlocks(readme: string): string[][] {
  const section = /^## Quick start\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "## Quick start" section');
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) =>
    m[1]!
      .split('\n')
      .map((line) => line.replace(/(^|\s+)#.*$/, '').trim())
      .filter(Boolean),
  );
}

const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
const blocks = quickStartBlocks(readme);

let dir: string;
let clone: string;
let stack: ChildProcess;
let output = '';
let databaseUrl: string;
const ports = { api: 0, temporal: 0, ui: 0, registry: 0, git: 0 };

function startStack(env: NodeJS.ProcessEnv): ChildProcess {
  // Its own process group: the test stops exactly this stack, as Ctrl-C would.
  const child = spawn('npm', ['start'], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  return child;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-host-quickstart-'));
  clone = join(dir, 'mcp-host');
  await run('git', ['clone', '--quiet', PROJECT_ROOT, clone]);
  // Installed once for the machine (npm run setup); the clone uses them as they are.
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(clone, 'node_modules'));
  symlinkSync(join(PROJECT_ROOT, '.tools'), join(clone, '.tools'));
  for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
  databaseUrl = Object.assign(new URL(inject('stack').databaseUrl), { pathname: `/mcp_host_quickstart_${process.pid}` }).toString();
  await dropDatabase(databaseUrl).catch(() => {});
  stack = startStack({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: databaseUrl,
    BIND_ADDRESS: '127.0.0.1',
    BIND_PORT: String(ports.api),
    DEV_TEMPORAL_PORT: String(ports.temporal),
    DEV_TEMPORAL_UI_PORT: String(ports.ui),
    DEV_REGISTRY_PORT: String(ports.registry),
    DEV_GIT_PORT: String(ports.git),
  });
  const t = Date.now();
  await eventually(
    async () => {
      if (stack.exitCode !== null) throw new Error(`npm start exited ${stack.exitCode}:\n${output}`);
      return output.includes('mcp-host is up.');
    },
    300_000,
    `npm start to come up; output so far:\n${output}`,
  );
  console.log(`npm start: up in ${Date.now() - t} ms\n${output}`);
}, 330_000);

afterAll(async () => {
  if (stack?.exitCode === null) {
    const exited = new Promise((resolve) => stack.once('exit', resolve));
    process.kill(-stack.pid!, 'SIGINT');
    await exited;
    // Everything it started is stopped before it exits (dockerd included, whose data must unmount).
    console.log(`npm start after Ctrl-C:\n${output.slice(output.indexOf('Ctrl-C stops everything.'))}`);
    expect(output).toContain('stopping dockerd');
  }
  if (databaseUrl) await dropDatabase(databaseUrl).catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('README quick start', () => {
  it('is: test, start (each sets up first) — then exports and mcpctl commands', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    expect(blocks[0]).toEqual(['npm test', 'npm start']);
    expect(blocks[1]![0]).toMatch(/^export MCPCTL_URL=\S+ MCPCTL_TOKEN=\S+$/);
    expect(blocks[1]!.slice(1).every((c) => c.startsWith('npx mcpctl '))).toBe(true);
  });

  it('npm start prints the token, the API, the Web UI and the example repository, and the Web UI answers', async () => {
    expect(output).toMatch(/export MCPCTL_TOKEN=mcph_\S+/);
    expect(output).toContain(`api        http://127.0.0.1:${ports.api}`);
    expect(output).toContain(`Web UI http://127.0.0.1:${ports.ui}`);
    expect(output).toContain(`example    git://127.0.0.1:${ports.git}/hello-mcp`);
    const ui = await fetch(`http://127.0.0.1:${ports.ui}/`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/<html/i);
  });

  it('the mcpctl commands, in order, get the example running with its tools, then stop and delete it', async () => {
    const token = /export MCPCTL_TOKEN=(mcph_\S+)/.exec(output)![1]!;
    const apiUrl = `http://127.0.0.1:${ports.api}`;
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, MCPCTL_URL: apiUrl, MCPCTL_TOKEN: token };
    // The README's URLs use the default ports; this stack's differ.
    const substitute = (cmd: string) => cmd.replaceAll('git://127.0.0.1:9418/', `git://127.0.0.1:${ports.git}/`).replaceAll('http://127.0.0.1:3000', apiUrl);
    const [exportLine, ...commands] = blocks[1]!;
    expect(exportLine).toContain('MCPCTL_URL=http://127.0.0.1:3000');
    expect(commands.some((c) => c.includes('servers create') && c.includes('git://127.0.0.1:9418/hello-mcp'))).toBe(true);

    for (const raw of commands) {
      const cmd = substitute(raw);
      const t = Date.now();
      if (/\s(-f|--follow)(\s|$)/.test(cmd)) {
        // Follows until Ctrl-C: read until the server's first line, then stop it.
        const child = spawn('bash', ['-c', cmd], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
        child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
        try {
          await eventually(async () => out.includes('hello-mcp listening on port'), 60_000, `${cmd}: the server's output (got: ${out})`);
        } finally {
          if (child.exitCode === null) process.kill(-child.pid!, 'SIGINT');
        }
        console.log(`$ ${cmd}  (${Date.now() - t} ms, followed)\n${out}`);
        continue;
      }
      const result = await run('bash', ['-c', cmd], { cwd: clone, env, timeout: 300_000 }).catch((err: { code?: number; stdout?: string; stderr?: string }) => {
        throw new Error(`$ ${cmd} failed (exit ${err.code}):\n${err.stdout ?? ''}${err.stderr ?? ''}\nstack:\n${output}`);
      });
      console.log(`$ ${cmd}  (${Date.now() - t} ms)\n${result.stdout}${result.stderr}`);

      if (/marketplace list/.test(cmd)) {
        // The catalog lists the build just made (one platform, healthy: silver).
        expect(result.stdout).toMatch(/^\S+\s+1\s+hello\s+Example\s+silver:Example\s/m);
      }
      if (/servers watch 1 --until running/.test(cmd)) {
        // Running means MCP initialize + tools/list answered: the manifest lists the example's tools.
        const res = await fetch(`${apiUrl}/api/servers/1/manifest`, { headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(200);
        const manifest = (await res.json()) as { name: string; tools: { name: string }[] };
        expect(manifest.name).toBe('hello-mcp');
        expect(manifest.tools.map((tool) => tool.name)).toEqual(['echo', 'arch']);
      }
    }
    // The last command asked for its deletion, which the workflow carries out.
    await eventually(async () => (await fetch(`${apiUrl}/api/servers/1`, { headers: { authorization: `Bearer ${token}` } })).status === 404, 60_000, 'server 1 deleted');
  }, 900_000);
});
