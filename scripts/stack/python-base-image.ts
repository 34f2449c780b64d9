// A Python base for generated Python builds, for linux/amd64 and linux/arm64, without an image hub
// or PyPI: Debian's Python 3.11 with venv and the pip and setuptools wheels ensurepip installs from
// (so `python -m venv` works offline), the shared libraries `ldd` names for the interpreter and its
// extension modules, Debian's static busybox as the shell and the host's CA bundle. amd64 takes
// the host's installed packages (their `dpkg -L` file lists); arm64 the same paths from Debian's
// arm64 builds of those packages (apt-get download, cached). Published to the registry with a label
// of its inputs: unchanged packages are not made or uploaded twice.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { CA_BUNDLE, stageBusyboxRoot } from './base-images.js';
import { arm64Counterparts, arm64Path, isElf, placeLibraries, runsEmulated, sharedLibraries } from './debian-arm64.js';
import { DATA_DIR } from './paths.js';
import { ensureRootfsImage, rootfsTar, type Arch, type RootfsImage, type RootfsImageOptions } from './rootfs-image.js';

const PYTHON = 'python3.11';
const PACKAGES = [
  `${PYTHON}-minimal`,
  `lib${PYTHON}-minimal`,
  `lib${PYTHON}-stdlib`,
  PYTHON,
  `${PYTHON}-venv`,
  'python3-pip-whl',
  'python3-setuptools-whl',
];
const LABEL = 'mcp-host.python-base.inputs';
const FORMAT = '1'; // bump when the image's layout or config changes
const DYNLOAD = `/usr/lib/${PYTHON}/lib-dynload`;

export const PYTHON_BASE_IMAGE = `mcp-host/python-base:${PYTHON.replace('python', '')}`;

/** The packages' files on this host, documentation left out. */
function hostFiles(): string[] {
  const out = execFileSync('dpkg-query', ['-L', ...PACKAGES], { encoding: 'utf8' });
  return [
    ...new Set(out.split('\n').filter((p) => p.startsWith('/usr/') && !/^\/usr\/share\/(doc|man|lintian)\//.test(p))),
  ]
    .filter((p) => existsSync(p) && !lstatSync(p).isDirectory())
    .sort();
}

function hostParts() {
  const missing = PACKAGES.filter((p) => {
    try {
      return !execFileSync('dpkg-query', ['-W', '-f=${db:Status-Abbrev}', p], { encoding: 'utf8' }).startsWith('ii');
    } catch {
      return true;
    }
  });
  if (missing.length > 0) throw new Error(`the Python base needs the Debian packages ${missing.join(', ')}`);
  const files = hostFiles();
  const elves = [`/usr/bin/${PYTHON}`, ...readdirSync(DYNLOAD).map((f) => join(DYNLOAD, f))].filter(isElf);
  const libs = [...new Set(elves.flatMap(sharedLibraries))].sort();
  const versions = execFileSync('dpkg-query', ['-W', '-f=${Package} ${Version}\n', ...PACKAGES], { encoding: 'utf8' });
  const inputs = createHash('sha256')
    .update([FORMAT, versions, ...libs].join('\n'))
    .digest('hex')
    .slice(0, 16);
  return { files, libs, inputs };
}

/** Copies `from` to `root` + `at`: a symbolic link as a link, a file by its content. */
function place(root: string, at: string, from: string): void {
  mkdirSync(join(root, dirname(at).slice(1)), { recursive: true });
  const target = join(root, at.slice(1));
  if (lstatSync(target, { throwIfNoEntry: false }) || !lstatSync(from, { throwIfNoEntry: false })) return;
  if (lstatSync(from).isSymbolicLink()) symlinkSync(readlinkSync(from), target);
  else copyFileSync(from, target);
}

function stage(root: string, arch: Arch, files: string[], libs: string[]): void {
  stageBusyboxRoot(root, arch);
  const foreign = arch === 'amd64' ? undefined : arm64Counterparts(libs, PACKAGES);
  try {
    // The packages' files at their paths (arm64: its own names of the platform's directories and modules).
    for (const file of files) {
      const at = foreign ? arm64Path(file) : file;
      place(root, at, foreign ? join(foreign.debs, at) : file);
    }
    placeLibraries(root, libs, foreign);
  } finally {
    if (foreign) rmSync(foreign.debs, { recursive: true, force: true });
  }
  for (const name of ['python3', 'python']) symlinkSync(PYTHON, join(root, 'usr/bin', name));
  if (foreign) {
    runsEmulated(root, 'python base', [
      [`/usr/bin/${PYTHON}`, '-c', 'import ssl, sqlite3, ctypes, zlib, bz2, lzma, hashlib, decimal, venv, ensurepip'],
    ]);
  }
}

const mode = (name: string, _type: string, current: number) =>
  name === 'tmp' || name === 'var/tmp' ? 0o41777 : current;

export async function ensurePythonBaseImages(
  opts: Omit<RootfsImageOptions, 'repository' | 'tag'>,
): Promise<{ reference: string; uploaded: boolean; made: boolean }> {
  const { files, libs, inputs } = hostParts();
  const [repository, tag] = PYTHON_BASE_IMAGE.split(':') as [string, string];
  return ensureRootfsImage({ ...opts, repository, tag }, LABEL, inputs, async () => {
    const images: RootfsImage[] = [];
    for (const arch of ['amd64', 'arm64'] as const) {
      const root = join(DATA_DIR, 'python-base', `${arch}-${process.pid}`);
      stage(root, arch, files, libs);
      images.push({
        arch,
        layer: await rootfsTar(root, { mode }),
        config: {
          Env: [
            'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            `SSL_CERT_FILE=${CA_BUNDLE}`,
            // pip trusts the bundle the host trusts (a TLS-inspecting proxy's CA included).
            `PIP_CERT=${CA_BUNDLE}`,
            'LANG=C.UTF-8',
          ],
          Cmd: ['python3'],
        },
        createdBy: `mcp-host python base: Debian ${PYTHON}, venv, pip and setuptools wheels, busybox-static (${arch})`,
      });
      rmSync(root, { recursive: true, force: true });
    }
    return images;
  });
}
