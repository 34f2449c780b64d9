// The API and the worker as they run: each bundled into one JavaScript file of dist/ (packages stay
// imports of node_modules). Run through tsx, every function of the project is wrapped so that it keeps
// its name after the transform: a call to define the name each time a closure is made, measured at a
// quarter to a third of the gateway's CPU per relayed call. The bundle keeps the names it can without
// that, and a source map maps stack traces back to the sources (node --enable-source-maps).
// `npm run build` writes dist/; the stack (npm start, the tests, the benchmarks) builds it as it starts,
// so a process never runs a stale bundle. The Docker image builds it in a stage of its own.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

// Its own root rather than scripts/stack/paths.ts's: the image's build stage runs this file alone,
// with node stripping its types, where a relative import of another .ts file would not resolve.
const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');

/** dist/<name>.mjs for each entry, its sources relative to the project's root. */
export const ENTRY_POINTS: Record<string, string> = {
  api: 'api/server.ts',
  worker: 'worker/main.ts',
};

/** Node's options for a built entry: stack traces through the source map. */
export const DIST_NODE_OPTIONS = ['--enable-source-maps'];

/** The file to run for an entry. */
export function distEntry(name: string, root = ROOT): string {
  return join(root, 'dist', `${name}.mjs`);
}

/**
 * Bundles the entries into dist/ (one level below the root, where lib/paths.ts expects its modules).
 * Each file is written beside its final name and renamed, so a process starting meanwhile from an
 * earlier build reads a whole file, old or new, never half of one.
 */
export async function buildDist(entries: Record<string, string> = ENTRY_POINTS, root = ROOT): Promise<string[]> {
  const outdir = join(root, 'dist');
  const result = await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(Object.entries(entries).map(([name, source]) => [name, join(root, source)])),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    packages: 'external',
    sourcemap: 'linked',
    write: false,
    logLevel: 'warning',
  });
  mkdirSync(outdir, { recursive: true });
  for (const file of result.outputFiles) {
    const partial = `${file.path}.${process.pid}.partial`;
    writeFileSync(partial, file.contents);
    renameSync(partial, file.path);
  }
  return Object.keys(entries).map((name) => distEntry(name, root));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = await buildDist();
  process.stdout.write(`built ${files.map((f) => f.slice(ROOT.length + 1)).join(', ')}\n`);
}
