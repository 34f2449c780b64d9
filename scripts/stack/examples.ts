// The development stack serves examples/ over git://, so the quick start needs no git server of the
// reader's: each example becomes a one-commit repository under .data/git, served by a git daemon.
// With `baseImage`, each Dockerfile's FROM names it instead (the hub-less busybox the stack
// publishes to its own registry), as no image hub may be reachable. Only the examples built FROM
// busybox are served: the others (examples/conformance-mcp) need the Node base image and their
// node_modules, which their integration test assembles.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { git, startGitDaemon, type GitDaemon } from './git.js';
import { PROJECT_ROOT } from './paths.js';

export const EXAMPLES_DIR = join(PROJECT_ROOT, 'examples');

export async function serveExamples(opts: {
  dir: string;
  port: number;
  logDir: string;
  baseImage?: string;
}): Promise<{ daemon: GitDaemon; names: string[] }> {
  const names = readdirSync(EXAMPLES_DIR).filter(
    (n) =>
      statSync(join(EXAMPLES_DIR, n)).isDirectory() &&
      /^FROM busybox[:@\s]/m.test(readFileSync(join(EXAMPLES_DIR, n, 'Dockerfile'), 'utf8')),
  );
  for (const name of names) {
    const repo = join(opts.dir, name);
    rmSync(repo, { recursive: true, force: true });
    mkdirSync(repo, { recursive: true });
    for (const file of listFiles(join(EXAMPLES_DIR, name))) {
      let content = readFileSync(join(EXAMPLES_DIR, name, file));
      if (opts.baseImage && /^Dockerfile(\.|$)/.test(file))
        content = Buffer.from(content.toString('utf8').replace(/^FROM \S+/gm, `FROM ${opts.baseImage}`));
      mkdirSync(dirname(join(repo, file)), { recursive: true });
      writeFileSync(join(repo, file), content, { mode: statSync(join(EXAMPLES_DIR, name, file)).mode });
    }
    await git(repo, 'init', '-q', '--initial-branch=main');
    await git(repo, 'add', '-A');
    await git(
      repo,
      '-c',
      'user.name=mcp-host dev stack',
      '-c',
      'user.email=dev-stack@mcp-host.invalid',
      '-c',
      'commit.gpgsign=false',
      'commit',
      '-q',
      '-m',
      `examples/${name}`,
    );
  }
  const daemon = await startGitDaemon({
    baseDir: opts.dir,
    port: opts.port,
    logFile: join(opts.logDir, 'git-daemon.log'),
  });
  return { daemon, names };
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(dir, join(prefix, e.name)) : [join(prefix, e.name)],
  );
}
