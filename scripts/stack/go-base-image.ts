// The Go toolchain as a multi-arch build base (linux/amd64 and linux/arm64) without an image hub: the
// official toolchain of each architecture as the Go module proxy serves it (golang.org/toolchain,
// fetched and checked against the checksum database by the host's `go mod download`, through the
// host's GOPROXY), at /usr/local/go, with Debian's static busybox as the shell of RUN steps and the
// host's CA bundle. Each platform's generated Go build runs that platform's toolchain (emulated for
// a foreign one); the binaries run on the busybox base. Published to the registry with a label of
// its inputs: an unchanged toolchain is not made or uploaded twice.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CA_BUNDLE, stageBusyboxRoot } from './base-images.js';
import { DATA_DIR } from './paths.js';
import { ensureRootfsImage, rootfsTar, type Arch, type RootfsImage, type RootfsImageOptions } from './rootfs-image.js';

/** The toolchain release the base carries; its minor version is the tag. */
export const GO_BASE_VERSION = '1.26.8';
const LABEL = 'mcp-host.go-base.inputs';
const FORMAT = '2'; // bump when the image's layout or config changes
const ARCHES: Arch[] = ['amd64', 'arm64'];

export const goBaseRepository = 'mcp-host/go-base';
export const goBaseTag = (version = GO_BASE_VERSION) => version.split('.').slice(0, 2).join('.');

/** The toolchain module's directory in the host's module cache (downloaded and verified when missing). */
function toolchainDir(version: string, arch: Arch): string {
  const go = process.env.GO ?? '/usr/local/go/bin/go';
  const out = execFileSync(go, ['mod', 'download', '-json', `golang.org/toolchain@v0.0.1-go${version}.linux-${arch}`], {
    cwd: tmpdir(), // outside any module: nothing of a go.mod applies
    encoding: 'utf8',
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download golang.org/toolchain go${version} ${arch}: ${info.Error ?? out}`);
  return info.Dir;
}

function stage(root: string, arch: Arch, goroot: string): void {
  stageBusyboxRoot(root, arch);
  // What `go build` of a module reads: the standard library's sources without their tests and
  // test data, and not the toolchain's own (src/cmd). A third of the files: each step of a build on
  // a vfs daemon copies them all.
  cpSync(goroot, join(root, 'usr/local/go'), {
    recursive: true,
    verbatimSymlinks: true,
    filter: (src) => {
      const rel = relative(goroot, src);
      return rel !== 'src/cmd' && !rel.endsWith('_test.go') && !/(^|\/)testdata(\/|$)/.test(rel);
    },
  });
}

/** The module cache keeps files read-only: executables (bin/, pkg/tool/) get 0755, the rest 0644. */
function mode(name: string, type: string, current: number): number {
  if (name === 'tmp' || name === 'var/tmp') return 0o1777;
  if (type === 'directory') return 0o755;
  if (type !== 'file') return current;
  if (name === 'bin/busybox' || /^usr\/local\/go\/(bin|pkg\/tool\/[^/]+)\/[^/]+$/.test(name)) return 0o755;
  return 0o644;
}

export async function ensureGoBaseImage(
  opts: Omit<RootfsImageOptions, 'repository' | 'tag'> & { version?: string },
): Promise<{ reference: string; uploaded: boolean; made: boolean }> {
  const version = opts.version ?? GO_BASE_VERSION;
  const target: RootfsImageOptions = { ...opts, repository: goBaseRepository, tag: goBaseTag(version) };
  const inputs = `${FORMAT} go${version} ${ARCHES.join(',')}`;
  return ensureRootfsImage(target, LABEL, inputs, async () => {
    const images: RootfsImage[] = [];
    for (const arch of ARCHES) {
      const root = join(DATA_DIR, 'go-base', `${arch}-${process.pid}`);
      stage(root, arch, toolchainDir(version, arch));
      images.push({
        arch,
        layer: await rootfsTar(root, { mode }),
        config: {
          Env: [
            'PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            `SSL_CERT_FILE=${CA_BUNDLE}`,
            // The image is the toolchain: a go.mod naming a newer one fails rather than downloads it.
            'GOTOOLCHAIN=local',
            'CGO_ENABLED=0',
          ],
          Cmd: ['go', 'version'],
        },
        createdBy: `mcp-host go base: golang.org/toolchain go${version} (${arch}), Debian busybox-static`,
      });
      rmSync(root, { recursive: true, force: true });
    }
    return images;
  });
}
