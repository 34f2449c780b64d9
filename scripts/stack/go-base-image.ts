// Go toolchain images made without an image hub, in two forms:
// - `ensureGoBaseImage`: the host's Go (the one `npm run setup` builds the stdio bridge with), `docker
//   import`ed into a daemon for the host's architecture, for the project Dockerfile's stdio-bridge stage
//   (GO_IMAGE); replaced only when the Go version changes.
// - `ensureGoBaseImages`: the base of generated Go builds, published to a registry for linux/amd64 and
//   linux/arm64 under one index: the official toolchain of each architecture as the Go module proxy
//   serves it (golang.org/toolchain, fetched and checked against the checksum database by the host's
//   `go mod download`, through the host's GOPROXY), at /usr/local/go. A generated build runs the
//   toolchain of the build platform and cross-compiles; the other is there for a daemon of that
//   architecture. Labelled with its inputs: an unchanged toolchain is not made or uploaded twice.
// Both have Debian's static busybox as the shell of RUN steps and the host's CA bundle (modules come
// through the module proxy).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { readJsonStream } from '../../lib/docker.js';
import { CA_BUNDLE, stageBusyboxRoot } from './base-images.js';
import { DATA_DIR } from './paths.js';
import { ensureRootfsImage, rootfsTar, type Arch, type RootfsImage, type RootfsImageOptions } from './rootfs-image.js';

/** The toolchain release the base carries; its minor version is the tag. */
export const GO_BASE_VERSION = '1.26.8';
const LABEL = 'mcp-host.go-base.inputs';
const FORMAT = '2'; // bump when the registry image's layout or config changes
const HOST_FORMAT = '1'; // bump when the imported image's layout or config changes
const HOST_GO_ROOT = '/usr/local/go';
const HOST_BUSYBOX = '/bin/busybox';

/** The host's Go, imported into a daemon (the project Dockerfile's GO_IMAGE). */
export const GO_BASE_IMAGE = 'mcp-host/go-base:host';
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

/** Makes (or keeps) `tag` in the daemon from the host's Go; returns whether it was imported now. */
export async function ensureGoBaseImage(docker: Docker, tag = GO_BASE_IMAGE): Promise<{ imported: boolean }> {
  for (const path of [`${HOST_GO_ROOT}/bin/go`, HOST_BUSYBOX, CA_BUNDLE]) {
    if (!existsSync(path))
      throw new Error(`${path} not found; run "npm run setup" (Go, busybox-static, ca-certificates)`);
  }
  const version = execFileSync(`${HOST_GO_ROOT}/bin/go`, ['version'], { encoding: 'utf8' }).trim().split(' ')[2];
  const inputs = `${HOST_FORMAT}-${version}`;
  const existing = await docker
    .getImage(tag)
    .inspect()
    .catch(() => undefined);
  if (existing?.Config?.Labels?.[LABEL] === inputs) return { imported: false };

  // The Go tree packed from its parent (tar-fs refuses entries below a cwd of /), the rest added as files.
  const rootfs = tar.pack(dirname(HOST_GO_ROOT), {
    entries: [basename(HOST_GO_ROOT)],
    finalize: false,
    map: (header) => ({ ...header, name: `${dirname(HOST_GO_ROOT).slice(1)}/${header.name}`, uid: 0, gid: 0 }),
    finish: (pack) => {
      pack.entry({ name: 'bin/busybox', mode: 0o755 }, readFileSync(HOST_BUSYBOX));
      pack.entry({ name: 'bin/sh', type: 'symlink', linkname: 'busybox' });
      pack.entry({ name: CA_BUNDLE.slice(1), mode: 0o644 }, readFileSync(CA_BUNDLE));
      pack.entry({ name: 'tmp', type: 'directory', mode: 0o1777 });
      pack.finalize();
    },
  }) as unknown as NodeJS.ReadableStream;
  const stream = await docker.importImage(rootfs, {
    repo: tag.split(':')[0],
    tag: tag.split(':')[1] ?? 'latest',
    changes: [
      `ENV PATH=${HOST_GO_ROOT}/bin:/bin`,
      `ENV HOME=/tmp GOPATH=/tmp/go GOCACHE=/tmp/go-cache SSL_CERT_FILE=${CA_BUNDLE}`,
      `LABEL ${LABEL}=${inputs}`,
    ],
  } as object);
  let failure: string | undefined;
  await readJsonStream(stream as NodeJS.ReadableStream, (msg) => {
    if (msg.error || msg.errorDetail) failure = msg.errorDetail?.message ?? msg.error;
  });
  if (failure) throw new Error(`docker import ${tag}: ${failure}`);
  return { imported: true };
}

/** `<registry>/mcp-host/go-base:<minor>` for linux/amd64 and linux/arm64 (the base of generated Go builds). */
export async function ensureGoBaseImages(
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
