// A Node base image made from this host, for building the project's own Dockerfile where no image hub
// is reachable: the `node` that runs this code (the project's Node, from node_modules), the host's npm,
// the shared libraries `ldd` names for them, Debian's static busybox as the shell and coreutils, git
// (with its helpers) and the CA bundle — the same things the Dockerfile's runtime stage otherwise
// installs with apt. A `node` user (uid 1000) as in the official images. Staged under .data and
// `docker import`ed; the image is replaced only when its inputs change.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { readJsonStream } from '../../lib/docker.js';
import { DATA_DIR } from './paths.js';

const NODE = process.execPath;
export const NODE_BASE_IMAGE = `mcp-host/node-base:${process.versions.node.split('.')[0]}`;

const NPM_DIR = '/usr/lib/node_modules/npm';
const BUSYBOX = '/bin/busybox';
const GIT = '/usr/bin/git';
const GIT_CORE = '/usr/lib/git-core';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const LABEL = 'mcp-host.node-base.inputs';
const FORMAT = '2'; // bump when the image's layout or config changes

/** Makes (or keeps) `tag` in the daemon; returns whether it was imported now. */
export async function ensureNodeBaseImage(
  docker: Docker,
  tag = NODE_BASE_IMAGE,
): Promise<{ tag: string; imported: boolean }> {
  for (const path of [NODE, NPM_DIR, BUSYBOX, GIT, GIT_CORE, CA_BUNDLE]) {
    if (!existsSync(path))
      throw new Error(`${path} not found; run "npm run setup" (node, busybox-static, git, ca-certificates)`);
  }
  const elves = [
    NODE,
    GIT,
    ...readdirSync(GIT_CORE)
      .map((f) => join(GIT_CORE, f))
      .filter(isElf),
  ];
  const libs = [...new Set(elves.flatMap(sharedLibraries))].sort();
  // Versions of what goes in: a different node, git or library set makes a new image.
  const inputs = createHash('sha256')
    .update([FORMAT, process.version, execFileSync(GIT, ['--version'], { encoding: 'utf8' }), ...libs].join('\n'))
    .update(readFileSync(join(NPM_DIR, 'package.json')))
    .digest('hex')
    .slice(0, 16);
  const existing = await docker
    .getImage(tag)
    .inspect()
    .catch(() => undefined);
  if (existing?.Config?.Labels?.[LABEL] === inputs) return { tag, imported: false };

  const root = join(DATA_DIR, 'node-base', 'rootfs');
  rmSync(root, { recursive: true, force: true });
  for (const d of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'usr/lib',
    'etc/ssl/certs',
    'root',
    'home/node',
    'tmp',
    'var/tmp',
    'dev',
    'proc',
    'sys',
  ]) {
    mkdirSync(join(root, d), { recursive: true });
  }
  copyFileSync(BUSYBOX, join(root, 'bin/busybox'));
  for (const applet of execFileSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' }).split('\n')) {
    const target = join(root, applet.trim());
    if (!/^(bin|sbin|usr\/bin|usr\/sbin)\/[\w.[\]-]+$/.test(applet.trim()) || existsSync(target)) continue;
    symlinkSync('/bin/busybox', target);
  }
  copyFileSync(NODE, join(root, 'usr/bin/node'));
  cpSync(NPM_DIR, join(root, NPM_DIR.slice(1)), { recursive: true, verbatimSymlinks: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/bin/npx'));
  copyFileSync(GIT, join(root, 'usr/bin/git'));
  cpSync(GIT_CORE, join(root, GIT_CORE.slice(1)), { recursive: true, verbatimSymlinks: true });
  // Each library at the path the loader asks for (its content, not the symlink chain).
  for (const lib of libs) {
    mkdirSync(join(root, dirname(lib).slice(1)), { recursive: true });
    copyFileSync(realpathSync(lib), join(root, lib.slice(1)));
  }
  copyFileSync(CA_BUNDLE, join(root, CA_BUNDLE.slice(1)));
  writeFileSync(
    join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n');

  const stream = await docker.importImage(
    tar.pack(root, {
      map: (header) => {
        // Root-owned, except the node user's home; /tmp world-writable and sticky.
        header.uid = header.name === 'home/node' ? 1000 : 0;
        header.gid = header.uid;
        if (header.name === 'tmp' || header.name === 'var/tmp') header.mode = 0o41777;
        return header;
      },
    }) as unknown as NodeJS.ReadableStream,
    {
      repo: tag.split(':')[0],
      tag: tag.split(':')[1] ?? 'latest',
      changes: [
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
        // The host's bundle may hold a TLS-inspecting proxy's CA (as here): npm inside builds trusts it too.
        'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt',
        `LABEL ${LABEL}=${inputs}`,
        'CMD ["node"]',
      ],
    } as object,
  );
  let failure: string | undefined;
  await readJsonStream(stream as NodeJS.ReadableStream, (msg) => {
    if (msg.error || msg.errorDetail) failure = msg.errorDetail?.message ?? msg.error;
  });
  if (failure) throw new Error(`docker import ${tag}: ${failure}`);
  rmSync(root, { recursive: true, force: true });
  return { tag, imported: true };
}

function isElf(file: string): boolean {
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
function sharedLibraries(file: string): string[] {
  const out = execFileSync('ldd', [file], { encoding: 'utf8' });
  return [...out.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
}
