// An example Node MCP server as a git repository mcp-host can build with no registry in reach: its files
// plus the node_modules it needs, copied from the project's own install (the same package versions the
// project resolved), as a repository that commits its node_modules would hold them.
import { cpSync, existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { commit, createGitRepo, type GitRepo } from './git-fixture.js';

interface PackageJson {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/**
 * The installed package folders (relative to `root`) that `names` need at run time: each resolved as Node
 * resolves it from the folder that asks (its own node_modules, then its parents'), then what it depends on.
 * An optional dependency that is not installed is skipped; a required one that is missing throws.
 */
export function installedClosure(names: string[], root = PROJECT_ROOT): string[] {
  const found = new Set<string>();
  const queue = names.map((name) => ({ name, from: root, optional: false }));
  while (queue.length > 0) {
    const { name, from, optional } = queue.shift()!;
    let dir: string | undefined;
    for (let at = from; ; at = dirname(at)) {
      if (existsSync(join(at, 'node_modules', name, 'package.json'))) {
        dir = join(at, 'node_modules', name);
        break;
      }
      if (at === root || at === dirname(at)) break;
    }
    if (!dir) {
      if (optional) continue;
      throw new Error(`${name} (needed from ${relative(root, from) || '.'}) is not installed`);
    }
    const rel = relative(root, dir);
    if (found.has(rel)) continue;
    found.add(rel);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
    const peers = Object.keys(pkg.peerDependencies ?? {});
    for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push({ name: dep, from: dir, optional: false });
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ name: dep, from: dir, optional: true });
    for (const dep of peers)
      queue.push({ name: dep, from: dir, optional: pkg.peerDependenciesMeta?.[dep]?.optional === true });
  }
  return [...found].sort();
}

/** What no program runs: type declarations, source maps, documentation. */
const NOT_RUN = /(\.d\.[cm]?ts|\.map|\.md)$/i;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/**
 * examples/<name> as a one-commit repository at `dir`: its files (with `rewrite` applied to each, by
 * path) and, in a second commit, the dependencies its package.json names, installed.
 */
export async function nodeExampleRepo(
  name: string,
  dir: string,
  rewrite: (path: string, content: string) => string = (_p, c) => c,
): Promise<GitRepo & { dependencyFiles: number; dependencyBytes: number }> {
  const source = join(PROJECT_ROOT, 'examples', name);
  const files = Object.fromEntries(
    filesUnder(source)
      .map((f) => relative(source, f))
      .filter((f) => !f.startsWith('node_modules/'))
      .map((f) => [f, rewrite(f, readFileSync(join(source, f), 'utf8'))]),
  );
  const repo = await createGitRepo({ dir, files, message: `examples/${name}` });
  const pkg = JSON.parse(files['package.json']!) as PackageJson;
  let dependencyFiles = 0;
  let dependencyBytes = 0;
  for (const rel of installedClosure(Object.keys(pkg.dependencies ?? {}))) {
    // Nested installs (a/node_modules/b) are copied with their parent; each folder's own files once.
    cpSync(realpathSync(join(PROJECT_ROOT, rel)), join(dir, rel), {
      recursive: true,
      filter: (src) =>
        !src.slice(realpathSync(join(PROJECT_ROOT, rel)).length).includes('/node_modules/') && !NOT_RUN.test(src),
    });
  }
  for (const f of filesUnder(join(dir, 'node_modules'))) {
    dependencyFiles++;
    dependencyBytes += statSync(f).size;
  }
  await commit(repo, {}, `${name}: node_modules`);
  return { ...repo, dependencyFiles, dependencyBytes };
}
