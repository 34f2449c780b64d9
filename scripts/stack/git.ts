// git for the stack: a git daemon serving repositories read-only over git:// (the development stack
// serves examples/ with it; tests serve their fixtures), and git run with an isolated configuration.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { DATA_DIR } from './paths.js';
import { spawnManaged, waitUntil, portOpen, type ManagedProcess } from './process.js';

const run = promisify(execFile);

export interface GitRepo {
  path: string;
  /** Revision (commit sha) of the last commit. */
  revision: string;
  branch: string;
}

// Isolated from the user's ~/.gitconfig and /etc/gitconfig: same results on any machine.
const GIT_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: '/nonexistent',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
  LC_ALL: 'C',
};

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', args, { cwd, env: GIT_ENV, maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

export interface GitDaemon {
  port: number;
  /** git://127.0.0.1:<port> — append `/<repo dir name>`. */
  baseUrl: string;
  url(repoOrName: GitRepo | string): string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** Serves every repository directly under `baseDir`, read-only, at git://127.0.0.1:<port>/<name>. */
export async function startGitDaemon(opts: { baseDir: string; port: number; logFile?: string }): Promise<GitDaemon> {
  if (!existsSync(opts.baseDir)) mkdirSync(opts.baseDir, { recursive: true });
  const proc = spawnManaged(
    'git-daemon',
    'git',
    [
      'daemon',
      '--export-all',
      `--base-path=${opts.baseDir}`,
      '--reuseaddr',
      '--listen=127.0.0.1',
      `--port=${opts.port}`,
      '--informative-errors',
    ],
    { env: GIT_ENV, logFile: opts.logFile ?? join(DATA_DIR, 'test-logs', `git-daemon-${opts.port}.log`) },
  );
  await waitUntil('git daemon', () => portOpen(opts.port), { proc, timeoutMs: 15_000 });
  const baseUrl = `git://127.0.0.1:${opts.port}`;
  return {
    port: opts.port,
    baseUrl,
    url: (r) => `${baseUrl}/${typeof r === 'string' ? r : basename(r.path)}`,
    process: proc,
    stop: () => proc.stop(5_000),
  };
}
