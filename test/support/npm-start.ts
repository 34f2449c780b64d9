// `npm start` in a clone of this repository (what is committed, not the working tree), as a newcomer
// runs it: the clone borrows this checkout's node_modules and .tools by symlink, so the setup that
// `npm start` runs first finds everything there and only checks, and its .data/base-images (the build
// bases' blobs and arm64 downloads, kept per inputs), so the bases a first start publishes are made
// once per machine, not once per clone (its registry is still its own and gets them uploaded). Ports
// and the database are the clone's own (BIND_PORT and the DEV_*_PORT variables), so parallel runs and
// other stacks on this machine do not collide.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DATA_DIR, PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { dropDatabase } from '../../scripts/stack/postgres.js';
import { freePort } from '../../scripts/stack/process.js';
import { eventually } from './http.js';

export interface Clone {
  root: string;
  ports: { api: number; temporal: number; ui: number; registry: number; git: number };
  databaseUrl: string;
  /** The environment `npm start` gets: PATH, HOME, the database and the ports. */
  env: NodeJS.ProcessEnv;
  remove(): Promise<void>;
}

/** Clones the repository into a temporary folder, with free ports and a fresh database named `name`. */
export async function cloneForNpmStart(name: string, stackDatabaseUrl: string): Promise<Clone> {
  const dir = mkdtempSync(join(tmpdir(), `mcp-host-${name}-`));
  const root = join(dir, 'mcp-host');
  await promisify(execFile)('git', ['clone', '--quiet', PROJECT_ROOT, root]);
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(root, 'node_modules'));
  symlinkSync(join(PROJECT_ROOT, '.tools'), join(root, '.tools'));
  mkdirSync(join(DATA_DIR, 'base-images'), { recursive: true });
  mkdirSync(join(root, '.data'));
  symlinkSync(join(DATA_DIR, 'base-images'), join(root, '.data', 'base-images'));
  const ports = {
    api: await freePort(),
    temporal: await freePort(),
    ui: await freePort(),
    registry: await freePort(),
    git: await freePort(),
  };
  const databaseUrl = Object.assign(new URL(stackDatabaseUrl), {
    pathname: `/mcp_host_${name}_${process.pid}`,
  }).toString();
  await dropDatabase(databaseUrl).catch(() => {});
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: databaseUrl,
    BIND_ADDRESS: '127.0.0.1',
    BIND_PORT: String(ports.api),
    DEV_TEMPORAL_PORT: String(ports.temporal),
    DEV_TEMPORAL_UI_PORT: String(ports.ui),
    DEV_REGISTRY_PORT: String(ports.registry),
    DEV_GIT_PORT: String(ports.git),
  };
  return {
    root,
    ports,
    databaseUrl,
    env,
    async remove() {
      await dropDatabase(databaseUrl).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface NpmStart {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code (or signal) once npm has exited. */
  exited: Promise<number | string>;
  /** Waits for "mcp-host is up."; fails with the output if it exits first. */
  up(timeoutMs?: number): Promise<void>;
  /** Ctrl-C, as a terminal sends it (to the process group); resolves once npm has exited. */
  interrupt(): Promise<number | string>;
}

export function npmStart(clone: Clone): NpmStart {
  // Its own process group: the test signals exactly this stack, as a terminal would.
  const child = spawn('npm', ['start'], {
    cwd: clone.root,
    env: clone.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal!)),
  );
  return {
    child,
    output: () => output,
    exited,
    async up(timeoutMs = 300_000) {
      await eventually(
        async () => {
          if (child.exitCode !== null || child.signalCode !== null)
            throw new Error(`npm start exited ${child.exitCode ?? child.signalCode}:\n${output}`);
          return output.includes('mcp-host is up.');
        },
        timeoutMs,
        'npm start to come up',
      ).catch((err: Error) => {
        throw new Error(`${err.message}; output:\n${output}`);
      });
    },
    async interrupt() {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGINT');
      return exited;
    },
  };
}
