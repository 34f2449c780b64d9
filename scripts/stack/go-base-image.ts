// A Go toolchain image made from this host, for the Dockerfile's stdio-bridge stage where no image hub
// is reachable (GO_IMAGE): the host's Go (the one `npm run setup` builds the bridge with), Debian's
// static busybox as the shell, and the CA bundle (modules come through the module proxy). `docker
// import`ed straight from the host's files in one layer; replaced only when the Go version changes.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { readJsonStream } from '../../lib/docker.js';

const GO_ROOT = '/usr/local/go';
const BUSYBOX = '/bin/busybox';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const LABEL = 'mcp-host.go-base.inputs';
const FORMAT = '1'; // bump when the image's layout or config changes

export const GO_BASE_IMAGE = 'mcp-host/go-base:host';

/** Makes (or keeps) the image in the daemon; returns whether it was imported now. */
export async function ensureGoBaseImage(docker: Docker, tag = GO_BASE_IMAGE): Promise<{ imported: boolean }> {
  for (const path of [`${GO_ROOT}/bin/go`, BUSYBOX, CA_BUNDLE]) {
    if (!existsSync(path))
      throw new Error(`${path} not found; run "npm run setup" (Go, busybox-static, ca-certificates)`);
  }
  const inputs = `${FORMAT}-${execFileSync(`${GO_ROOT}/bin/go`, ['version'], { encoding: 'utf8' }).trim().split(' ')[2]}`;
  const existing = await docker
    .getImage(tag)
    .inspect()
    .catch(() => undefined);
  if (existing?.Config?.Labels?.[LABEL] === inputs) return { imported: false };

  // The Go tree packed from its parent (tar-fs refuses entries below a cwd of /), the rest added as files.
  const rootfs = tar.pack(dirname(GO_ROOT), {
    entries: [basename(GO_ROOT)],
    finalize: false,
    map: (header) => ({ ...header, name: `${dirname(GO_ROOT).slice(1)}/${header.name}`, uid: 0, gid: 0 }),
    finish: (pack) => {
      pack.entry({ name: 'bin/busybox', mode: 0o755 }, readFileSync(BUSYBOX));
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
      `ENV PATH=${GO_ROOT}/bin:/bin`,
      'ENV HOME=/tmp GOPATH=/tmp/go GOCACHE=/tmp/go-cache SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
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
