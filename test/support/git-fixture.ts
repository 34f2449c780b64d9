// Git repositories for tests: built from a map of files, committed with a repo-local identity, and
// served read-only over git:// by `git daemon` (what a build's `git clone` of a source sees).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { spawnManaged, waitUntil, portOpen, type ManagedProcess } from '../../scripts/stack/process.js';

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

/** Creates (or replaces) a repository at `dir` with `files` in one commit on `branch`. */
export async function createGitRepo(opts: { dir: string; files: Record<string, string>; branch?: string; message?: string }): Promise<GitRepo> {
  const branch = opts.branch ?? 'main';
  rmSync(opts.dir, { recursive: true, force: true });
  mkdirSync(opts.dir, { recursive: true });
  await git(opts.dir, 'init', '-q', `--initial-branch=${branch}`);
  await git(opts.dir, 'config', 'user.name', 'mcp-host tests');
  await git(opts.dir, 'config', 'user.email', 'tests@mcp-host.invalid');
  await git(opts.dir, 'config', 'commit.gpgsign', 'false');
  const repo: GitRepo = { path: opts.dir, revision: '', branch };
  repo.revision = await commit(repo, opts.files, opts.message ?? 'initial commit');
  return repo;
}

/**
 * Writes `files` (content, or null to delete) and commits them on the current branch; returns the new
 * revision and updates `repo.revision`.
 */
export async function commit(repo: GitRepo, files: Record<string, string | null>, message = 'update'): Promise<string> {
  for (const [name, content] of Object.entries(files)) {
    const file = join(repo.path, name);
    if (content === null) {
      rmSync(file, { force: true });
    } else {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
    }
  }
  await git(repo.path, 'add', '-A');
  await git(repo.path, 'commit', '-q', '--allow-empty', '-m', message);
  repo.revision = await git(repo.path, 'rev-parse', 'HEAD');
  return repo.revision;
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
