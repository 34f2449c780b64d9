// Git repositories for tests: built from a map of files, committed with a repo-local identity, and
// served read-only over git:// by `git daemon` (what a build's `git clone` of a source sees).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { git, type GitRepo } from '../../scripts/stack/git.js';

export { git, startGitDaemon, type GitDaemon, type GitRepo } from '../../scripts/stack/git.js';

/** Creates (or replaces) a repository at `dir` with `files` in one commit on `branch`. */
export async function createGitRepo(opts: {
  dir: string;
  /** Text, or bytes (a binary built at test time). */
  files: Record<string, string | Buffer>;
  branch?: string;
  message?: string;
}): Promise<GitRepo> {
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
export async function commit(
  repo: GitRepo,
  files: Record<string, string | Buffer | null>,
  message = 'update',
): Promise<string> {
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
