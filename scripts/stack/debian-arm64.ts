// The arm64 counterparts of host files, from Debian's arm64 packages: for each amd64 library a
// binary loads, the package that installed it here, fetched for arm64 (apt-get download with a
// private state, cached under .data/base-images/arm64-debs) and unpacked; the library taken at the
// path the arm64 loader looks for. Base images made from the host get their arm64 image this way.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { aptDownloadArm64 } from './base-images.js';
import { DATA_DIR } from './paths.js';

const CACHE = join(DATA_DIR, 'base-images', 'arm64-debs');

/** `/lib/x86_64-linux-gnu/libz.so.1` → `/lib/aarch64-linux-gnu/libz.so.1`; the loader by its arm64 name. */
export function arm64Path(lib: string): string {
  if (lib === '/lib64/ld-linux-x86-64.so.2') return '/lib/ld-linux-aarch64.so.1';
  return lib.replace('x86_64-linux-gnu', 'aarch64-linux-gnu');
}

/** The same path with and without the /usr prefix (Debian 12 ships some libraries under each). */
const usrVariants = (path: string) => (path.startsWith('/usr/') ? [path, path.slice(4)] : [path, `/usr${path}`]);

/** The Debian package that installed `path` on this host. */
function owningPackage(path: string): string {
  for (const p of usrVariants(path)) {
    try {
      const out = execFileSync('dpkg-query', ['-S', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      return out.split(':')[0]!.trim();
    } catch {
      // not under this spelling
    }
  }
  throw new Error(`no Debian package owns ${path}: its arm64 counterpart cannot be found`);
}

/**
 * `packages` and the packages of `libs`, unpacked for arm64 into one tree (`debs`), and where each
 * amd64 library's arm64 build is in it. The tree is remade on each call: remove it when done.
 */
export function arm64Counterparts(
  libs: readonly string[],
  packages: readonly string[] = [],
): { debs: string; lib: (amd64: string) => string } {
  mkdirSync(CACHE, { recursive: true });
  const all = [...new Set([...packages, ...libs.map(owningPackage)])].sort();
  const debOf = (pkg: string) =>
    readdirSync(CACHE).find((f) => f.startsWith(`${pkg}_`) && (f.endsWith('_arm64.deb') || f.endsWith('_all.deb')));
  const missing = all.filter((p) => !debOf(p));
  // A package of every architecture (`all`, as pip's wheel) is asked for by its bare name.
  const spec = (pkg: string) =>
    execFileSync('dpkg-query', ['-W', '-f=${Architecture}', pkg], { encoding: 'utf8' }) === 'all'
      ? pkg
      : `${pkg}:arm64`;
  if (missing.length > 0) aptDownloadArm64(CACHE, missing.map(spec));
  const debs = join(CACHE, `root-${process.pid}`);
  rmSync(debs, { recursive: true, force: true });
  for (const pkg of all) {
    const deb = debOf(pkg);
    if (!deb) throw new Error(`apt-get download ${pkg}:arm64 left no .deb in ${CACHE}`);
    execFileSync('dpkg-deb', ['-x', join(CACHE, deb), debs]);
  }
  return {
    debs,
    lib: (amd64) => {
      const found = usrVariants(arm64Path(amd64))
        .map((p) => join(debs, p))
        .find((p) => existsSync(p));
      if (!found) throw new Error(`${arm64Path(amd64)} is in none of the arm64 packages ${all.join(', ')}`);
      return realpathSync(found);
    },
  };
}

/**
 * Runs each command in the staged arm64 root under the emulator (chroot; binfmt's qemu), so a
 * library missing from the image shows now rather than in a build. A container has /dev/null and
 * some programs (git) open it first: a plain file stands in for it meanwhile.
 */
export function runsEmulated(root: string, what: string, commands: readonly (readonly string[])[]): void {
  writeFileSync(join(root, 'dev/null'), '');
  try {
    for (const argv of commands) {
      try {
        execFileSync('chroot', [root, ...argv], { stdio: 'pipe' });
      } catch (err) {
        const why = (err as { stderr?: Buffer }).stderr?.toString().trim();
        throw new Error(`the arm64 ${what} does not run ${argv.join(' ')}: ${why}`);
      }
    }
  } finally {
    rmSync(join(root, 'dev/null'));
  }
}

/** Each library at the path the loader asks for (its content, not the symlink chain); arm64's from `foreign`. */
export function placeLibraries(
  root: string,
  libs: readonly string[],
  foreign?: { lib: (amd64: string) => string },
): void {
  for (const lib of libs) {
    const at = foreign ? arm64Path(lib) : lib;
    mkdirSync(join(root, dirname(at).slice(1)), { recursive: true });
    copyFileSync(foreign ? foreign.lib(lib) : realpathSync(lib), join(root, at.slice(1)));
  }
}

export function isElf(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    return readFileSync(file)
      .subarray(0, 4)
      .equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } catch {
    return false;
  }
}

/** Absolute paths `ldd` resolves for `file` (the loader included). */
export function sharedLibraries(file: string): string[] {
  const out = execFileSync('ldd', [file], { encoding: 'utf8' });
  return [...out.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
}
