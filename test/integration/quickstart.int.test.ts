// The README's quick start, followed literally on a clean checkout: the commands are read from the
// README's "Quick start" code blocks (a README change that breaks the flow fails here), `npm start`
// runs in a clone of the repository (test/support/npm-start.ts: what is committed, with its own ports
// and a fresh database, so the IDs the README uses — user 2, server 1 — hold), and the mcpctl commands
// run in order against it, until the example MCP server is running with its tools. Not repeated inside
// the clone: `npm test` (CI runs it; asserted present). The commands' URLs follow the clone's ports.
import { spawn, execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { eventually } from '../support/http.js';
import { cloneForNpmStart, npmStart, type Clone, type NpmStart } from '../support/npm-start.js';

const run = promisify(execFile);

/** The shell commands of one README section, one array per ```sh block, comments dropped. */
export function sectionBlocks(readme: string, heading: string): string[][] {
  const section = new RegExp(`^## ${heading}\\n([\\s\\S]*?)(?=^## )`, 'm').exec(readme)?.[1];
  if (!section) throw new Error(`README.md has no "## ${heading}" section`);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) =>
    m[1]!
      .split('\n')
      .map((line) => line.replace(/(^|\s+)#.*$/, '').trim())
      .filter(Boolean),
  );
}

/** The shell commands of the README's quick start. */
export const quickStartBlocks = (readme: string) => sectionBlocks(readme, 'Quick start');

const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
const blocks = quickStartBlocks(readme);
const tour = sectionBlocks(readme, 'Governance tour');

let clone: Clone;
let stack: NpmStart;
let output = '';
let ports: Clone['ports'];

beforeAll(async () => {
  clone = await cloneForNpmStart('quickstart', inject('stack').databaseUrl);
  ports = clone.ports;
  stack = npmStart(clone);
  const t = Date.now();
  await stack.up();
  output = stack.output();
  console.log(`npm start: up in ${Date.now() - t} ms\n${output}`);
}, 330_000);

afterAll(async () => {
  if (stack?.child.exitCode === null) {
    await stack.interrupt();
    output = stack.output();
    // Everything it started is stopped before it exits (dockerd included, whose data must unmount).
    console.log(`npm start after Ctrl-C:\n${output.slice(output.indexOf('Ctrl-C stops everything.'))}`);
    expect(output).toContain('stopping dockerd');
  }
  await clone?.remove();
}, 120_000);

/** Where the quick start's commands ran; the tour runs in the same shell environment after it. */
let shell: { token: string; apiUrl: string; env: Record<string, string | undefined> } | undefined;

/** The tools the server's manifest lists (what MCP tools/list answered when it was checked). */
async function toolsOf(id: number): Promise<string[]> {
  const res = await fetch(`${shell!.apiUrl}/api/servers/${id}/manifest`, {
    headers: { authorization: `Bearer ${shell!.token}` },
  });
  expect(res.status).toBe(200);
  const manifest = (await res.json()) as { name: string; tools: { name: string }[] };
  expect(manifest.name).toBe('hello-mcp');
  return manifest.tools.map((tool) => tool.name);
}

/**
 * Runs README commands in order in the clone, as a user would in a shell (the README's URLs use the
 * default ports; this stack's differ); `check` sees each command's output.
 */
async function runCommands(
  commands: string[],
  check: (cmd: string, result: { stdout: string; stderr: string }) => Promise<void>,
): Promise<void> {
  const { env, apiUrl } = shell!;
  const substitute = (cmd: string) =>
    cmd
      .replaceAll('git://127.0.0.1:9418/', `git://127.0.0.1:${ports.git}/`)
      .replaceAll('http://127.0.0.1:3000', apiUrl);
  for (const raw of commands) {
    const cmd = substitute(raw);
    const t = Date.now();
    if (/\s(-f|--follow)(\s|$)/.test(cmd)) {
      // Follows until Ctrl-C: read until the server's first line, then stop it.
      const child = spawn('bash', ['-c', cmd], {
        cwd: clone.root,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
      child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
      try {
        await eventually(
          async () => out.includes('hello-mcp listening on port'),
          60_000,
          `${cmd}: the server's output (got: ${out})`,
        );
      } finally {
        if (child.exitCode === null) process.kill(-child.pid!, 'SIGINT');
      }
      console.log(`$ ${cmd}  (${Date.now() - t} ms, followed)\n${out}`);
      continue;
    }
    const result = await run('bash', ['-c', cmd], { cwd: clone.root, env, timeout: 300_000 }).catch(
      (err: { code?: number; stdout?: string; stderr?: string }) => {
        throw new Error(
          `$ ${cmd} failed (exit ${err.code}):\n${err.stdout ?? ''}${err.stderr ?? ''}\nstack:\n${stack.output()}`,
        );
      },
    );
    console.log(`$ ${cmd}  (${Date.now() - t} ms)\n${result.stdout}${result.stderr}`);

    await check(cmd, result);
  }
}

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
    shell = {
      token,
      apiUrl,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, MCPCTL_URL: apiUrl, MCPCTL_TOKEN: token },
    };
    const [exportLine, ...commands] = blocks[1]!;
    expect(exportLine).toContain('MCPCTL_URL=http://127.0.0.1:3000');
    expect(commands.some((c) => c.includes('servers create') && c.includes('git://127.0.0.1:9418/hello-mcp'))).toBe(
      true,
    );

    await runCommands(commands, async (cmd, result) => {
      if (/marketplace list/.test(cmd)) {
        // The catalog lists the build just made (one platform, healthy: silver).
        expect(result.stdout).toMatch(/^\S+\s+1\s+hello\s+Example\s+silver:Example\s/m);
      }
      if (/servers watch 1 --until running/.test(cmd)) {
        // Running means MCP initialize + tools/list answered: the manifest lists the example's tools.
        expect(await toolsOf(1)).toEqual(['echo', 'arch']);
      }
    });
    // The last command asked for its deletion, which the workflow carries out.
    await eventually(
      async () =>
        (await fetch(`${apiUrl}/api/servers/1`, { headers: { authorization: `Bearer ${token}` } })).status === 404,
      60_000,
      'server 1 deleted',
    );
  }, 900_000);

  it('the governance tour, as written after the quick start, certifies, promotes and releases its server', async () => {
    expect(shell, 'the quick start ran first').toBeDefined();
    expect(tour).toHaveLength(1);
    const commands = tour[0]!;
    expect(commands.every((c) => c.startsWith('npx mcpctl '))).toBe(true);
    await runCommands(commands, async (cmd, result) => {
      if (/servers watch 2 --until pending-governance/.test(cmd)) {
        // Held by the track: no active promotion at its launch stage yet. Reached while watching, it is
        // an event on stdout; reached before the watch subscribed, a note on stderr.
        expect(`${result.stdout}${result.stderr}`).toMatch(/pending-governance/);
      }
      if (/promotions history --track 1/.test(cmd)) expect(result.stdout).toMatch(/\bproduction\b.*\bactive\b/);
    });
    const { token, apiUrl } = shell!;
    const get = async (path: string) =>
      (await fetch(`${apiUrl}${path}`, { headers: { authorization: `Bearer ${token}` } })).json() as Promise<any>;
    // The gate opened: certified at the build's own tier, promoted to the launch stage, running.
    const server = await get('/api/servers/2');
    expect(server.status, server.status_reason).toBe('running');
    expect(await toolsOf(2)).toEqual(['echo', 'arch']);
    const [decision] = await get('/api/servers/2/decisions');
    expect(decision).toMatchObject({ launchable: true, tier: 'silver:Example', artifact_run_id: 2 });
    expect(decision.notes).toEqual(
      expect.arrayContaining(['evaluation:certified:silver:Example:smoke', 'governance:satisfied:main']),
    );
  }, 900_000);
});
