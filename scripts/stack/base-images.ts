// A tiny multi-arch base image (linux/amd64 + linux/arm64) published to a registry without any image
// hub: Debian's static busybox for each architecture, one deterministic layer per architecture,
// uploaded straight through the registry's HTTP API, under a manifest list (or OCI index).
//
//   amd64: the installed busybox-static package (/bin/busybox).
//   arm64: busybox-static:arm64 fetched once with `apt-get download`, using a private apt state
//          (no `dpkg --add-architecture`, system package lists untouched) and cached under
//          .data/base-images, so later calls are offline. Drop a busybox-static_*_arm64.deb (or an
//          extracted `busybox-arm64` binary) in the cache folder to skip apt altogether.
//
// The layers and configs are byte-for-byte reproducible (fixed mtimes, sorted entries), so the index
// digest is known before talking to the registry: when the tag already points at it, nothing is sent.
// No docker daemon is needed; dockerd pulls the result like any hub image (`FROM`, `--platform`).
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DATA_DIR } from './paths.js';

export type BaseArch = 'amd64' | 'arm64';

export interface EnsureBaseImagesOptions {
  /** Registry host:port (plain HTTP; loopback registries are "insecure" for dockerd by default). */
  registry: string;
  repository?: string;
  tag?: string;
  /** Basic-auth credentials when the registry has htpasswd auth. */
  auth?: { username: string; password: string };
  /** 'docker' (manifest list v2, default) or 'oci' (image index). */
  format?: 'docker' | 'oci';
  /** Where the arm64 .deb and binary are cached; default .data/base-images. */
  cacheDir?: string;
  /** Override the busybox binaries (static ELF for the given architecture). */
  busybox?: Partial<Record<BaseArch, string>>;
  /**
   * Not used: the images go straight to the registry over HTTP. Accepted so callers can pass their
   * daemon's address along without caring.
   */
  dockerHost?: string;
}

export interface BaseImagePlatform {
  architecture: BaseArch;
  os: 'linux';
  variant?: string;
  /** Digest of the per-architecture manifest. */
  digest: string;
}

export interface BaseImages {
  /** `<registry>/<repository>:<tag>` — use in FROM. */
  reference: string;
  /** `<registry>/<repository>@<index digest>`. */
  pinned: string;
  digest: string;
  mediaType: string;
  platforms: BaseImagePlatform[];
  /** False when the registry already had exactly this index under the tag (nothing was uploaded). */
  uploaded: boolean;
}

const MEDIA = {
  docker: {
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
  oci: {
    index: 'application/vnd.oci.image.index.v1+json',
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
} as const;

const ELF_MACHINE: Record<BaseArch, number> = { amd64: 62, arm64: 183 };
const EPOCH = '1970-01-01T00:00:00Z';

export async function ensureBaseImages(opts: EnsureBaseImagesOptions): Promise<BaseImages> {
  const repository = opts.repository ?? 'mcp-base/busybox';
  const tag = opts.tag ?? 'latest';
  const media = MEDIA[opts.format ?? 'docker'];
  const cacheDir = opts.cacheDir ?? join(DATA_DIR, 'base-images');
  const registry = new RegistryClient(opts.registry, repository, opts.auth);

  const amd64 = opts.busybox?.amd64 ?? '/bin/busybox';
  const binaries = {
    amd64: readStaticElf(amd64, 'amd64'),
    arm64: readStaticElf(opts.busybox?.arm64 ?? arm64Busybox(cacheDir), 'arm64'),
  };
  // Same Debian build for both architectures, so the host's applet list serves for both.
  const applets = listApplets(amd64);
  const images = (['amd64', 'arm64'] as const).map((arch) => buildImage(arch, binaries[arch], applets, media));
  const index = json({
    schemaVersion: 2,
    mediaType: media.index,
    manifests: images.map((img) => ({
      mediaType: media.manifest,
      size: img.manifest.length,
      digest: sha256(img.manifest),
      platform: { architecture: img.arch, os: 'linux', ...(img.arch === 'arm64' ? { variant: 'v8' } : {}) },
    })),
  });
  const digest = sha256(index);
  const platforms: BaseImagePlatform[] = images.map((img) => ({
    architecture: img.arch,
    os: 'linux',
    ...(img.arch === 'arm64' ? { variant: 'v8' } : {}),
    digest: sha256(img.manifest),
  }));
  const result = {
    reference: `${opts.registry}/${repository}:${tag}`,
    pinned: `${opts.registry}/${repository}@${digest}`,
    digest,
    mediaType: media.index,
    platforms,
  };

  if ((await registry.manifestDigest(tag, media.index)) === digest) return { ...result, uploaded: false };
  for (const img of images) {
    await registry.putBlob(img.layer);
    await registry.putBlob(img.config);
    await registry.putManifest(sha256(img.manifest), img.manifest, media.manifest);
  }
  await registry.putManifest(tag, index, media.index);
  return { ...result, uploaded: true };
}

// ---------------------------------------------------------------------------------------------
// Image content

interface BuiltImage {
  arch: BaseArch;
  layer: Buffer;
  config: Buffer;
  manifest: Buffer;
}

function buildImage(
  arch: BaseArch,
  busybox: Buffer,
  applets: string[],
  media: (typeof MEDIA)['docker' | 'oci'],
): BuiltImage {
  const tar = rootfsTar(busybox, applets);
  const layer = gzipSync(tar, { level: 9 });
  const config = json({
    architecture: arch,
    os: 'linux',
    ...(arch === 'arm64' ? { variant: 'v8' } : {}),
    created: EPOCH,
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['sh'],
    },
    rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
    history: [{ created: EPOCH, created_by: `mcp-host base image: Debian busybox-static (${arch})` }],
  });
  const manifest = json({
    schemaVersion: 2,
    mediaType: media.manifest,
    config: { mediaType: media.config, size: config.length, digest: sha256(config) },
    layers: [{ mediaType: media.layer, size: layer.length, digest: sha256(layer) }],
  });
  return { arch, layer, config, manifest };
}

/** Applet paths (bin/sh, usr/bin/env, …) from `busybox --list-full`, run on the host's busybox. */
export function listApplets(amd64Busybox = '/bin/busybox'): string[] {
  const out = execFileSync(amd64Busybox, ['--list-full'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(bin|sbin|usr\/bin|usr\/sbin)\/[\w.[\]-]+$/.test(l) && l !== 'bin/busybox');
}

function rootfsTar(busybox: Buffer, applets: string[]): Buffer {
  const entries: TarEntry[] = [];
  const dirs = [
    'bin',
    'dev',
    'etc',
    'proc',
    'root',
    'sbin',
    'sys',
    'tmp',
    'usr',
    'usr/bin',
    'usr/sbin',
    'var',
    'var/tmp',
  ];
  for (const d of dirs)
    entries.push({
      type: 'dir',
      name: d,
      mode: d === 'tmp' || d === 'var/tmp' ? 0o1777 : d === 'root' ? 0o700 : 0o755,
    });
  entries.push({ type: 'file', name: 'bin/busybox', mode: 0o755, data: busybox });
  entries.push({
    type: 'file',
    name: 'etc/passwd',
    mode: 0o644,
    data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'),
  });
  entries.push({ type: 'file', name: 'etc/group', mode: 0o644, data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') });
  for (const a of [...new Set(applets)].sort())
    entries.push({ type: 'symlink', name: a, mode: 0o777, target: '/bin/busybox' });
  return tarArchive(entries);
}

type TarEntry =
  | { type: 'dir'; name: string; mode: number }
  | { type: 'file'; name: string; mode: number; data: Buffer }
  | { type: 'symlink'; name: string; mode: number; target: string };

/** A minimal ustar writer: root-owned entries, mtime 0, names under 100 bytes. */
function tarArchive(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const name = e.type === 'dir' ? `${e.name}/` : e.name;
    if (Buffer.byteLength(name) >= 100) throw new Error(`tar: name too long: ${name}`);
    const size = e.type === 'file' ? e.data.length : 0;
    const h = Buffer.alloc(512);
    const field = (off: number, len: number, value: string) => h.write(value, off, len, 'utf8');
    const octal = (off: number, len: number, value: number) =>
      field(off, len, `${value.toString(8).padStart(len - 1, '0')}\0`);
    field(0, 100, name);
    octal(100, 8, e.mode);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, size);
    octal(136, 12, 0);
    field(148, 8, '        ');
    field(156, 1, e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0');
    if (e.type === 'symlink') field(157, 100, e.target);
    field(257, 6, 'ustar\0');
    field(263, 2, '00');
    field(265, 32, 'root');
    field(297, 32, 'root');
    let sum = 0;
    for (const b of h) sum += b;
    field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(h);
    if (e.type === 'file') {
      blocks.push(e.data);
      const pad = (512 - (size % 512)) % 512;
      if (pad) blocks.push(Buffer.alloc(pad));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Reads a binary and checks it is a static ELF for `arch` (no PT_INTERP): it must run in an empty rootfs. */
function readStaticElf(path: string, arch: BaseArch): Buffer {
  if (!existsSync(path)) {
    throw new Error(`${path} not found${arch === 'amd64' ? '; run "npm run setup" (installs busybox-static)' : ''}`);
  }
  const buf = readFileSync(path);
  if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1)
    throw new Error(`${path}: not a 64-bit little-endian ELF`);
  const machine = buf.readUInt16LE(18);
  if (machine !== ELF_MACHINE[arch])
    throw new Error(`${path}: ELF machine ${machine}, expected ${ELF_MACHINE[arch]} (${arch})`);
  const phoff = Number(buf.readBigUInt64LE(32));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    if (buf.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) {
      throw new Error(`${path} is dynamically linked; a static busybox is needed (Debian package busybox-static)`);
    }
  }
  return buf;
}

// ---------------------------------------------------------------------------------------------
// arm64 busybox from Debian, cached

/**
 * The common ground of base images made from the host, under `root` (emptied first): the usual
 * directories, Debian's static busybox for `arch` as the shell and coreutils, the host's CA bundle,
 * and passwd and group with root, nobody and `users` (name and uid; home /home/<name>).
 */
export function stageBusyboxRoot(root: string, arch: BaseArch, users: Record<string, number> = {}): void {
  rmSync(root, { recursive: true, force: true });
  const homes = Object.keys(users).map((u) => `home/${u}`);
  for (const d of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'usr/lib',
    'etc/ssl/certs',
    'root',
    'tmp',
    'var/tmp',
    'dev',
    'proc',
    'sys',
    ...homes,
  ])
    mkdirSync(join(root, d), { recursive: true });
  copyFileSync(busyboxFor(arch), join(root, 'bin/busybox'));
  for (const applet of listApplets()) symlinkSync('/bin/busybox', join(root, applet));
  copyFileSync(CA_BUNDLE, join(root, CA_BUNDLE.slice(1)));
  const extra = Object.entries(users);
  writeFileSync(
    join(root, 'etc/passwd'),
    [
      'root:x:0:0:root:/root:/bin/sh',
      ...extra.map(([name, uid]) => `${name}:x:${uid}:${uid}::/home/${name}:/bin/sh`),
      'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(root, 'etc/group'),
    ['root:x:0:', ...extra.map(([name, uid]) => `${name}:x:${uid}:`), 'nogroup:x:65534:', ''].join('\n'),
  );
}

export const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** Debian's static busybox for `arch`: the host's for amd64, the cached arm64 package's otherwise. */
export const busyboxFor = (arch: BaseArch, cacheDir = join(DATA_DIR, 'base-images')): string =>
  arch === 'amd64' ? '/bin/busybox' : arm64Busybox(cacheDir);

function arm64Busybox(cacheDir: string): string {
  const bin = join(cacheDir, 'busybox-arm64');
  if (existsSync(bin)) return bin;
  mkdirSync(cacheDir, { recursive: true });
  let deb = findDeb(cacheDir);
  if (!deb) {
    aptDownloadArm64(cacheDir);
    deb = findDeb(cacheDir);
    if (!deb) throw new Error(`apt-get download busybox-static:arm64 left no .deb in ${cacheDir}`);
  }
  const tmp = join(cacheDir, `extract-${randomUUID()}`);
  try {
    execFileSync('dpkg-deb', ['-x', deb, tmp]);
    const extracted = ['bin/busybox', 'usr/bin/busybox'].map((p) => join(tmp, p)).find((p) => existsSync(p));
    if (!extracted) throw new Error(`${deb} has no bin/busybox`);
    readStaticElf(extracted, 'arm64');
    renameSync(extracted, bin); // atomic: concurrent callers see the whole binary or none
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}

function findDeb(dir: string): string | undefined {
  const name = readdirSync(dir)
    .filter((f) => /^busybox-static_.*_arm64\.deb$/.test(f))
    .sort()
    .pop();
  return name && join(dir, name);
}

/**
 * `apt-get update` + `download` of arm64 packages (`name:arm64`) into `cacheDir`, with a private state:
 * no dpkg foreign architecture, no system lists touched.
 */
export function aptDownloadArm64(cacheDir: string, packages = ['busybox-static:arm64']): void {
  const apt = join(cacheDir, 'apt');
  mkdirSync(join(apt, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(apt, 'cache', 'archives', 'partial'), { recursive: true });
  const o = [
    '-q',
    '-o',
    'APT::Architectures::=arm64',
    '-o',
    `Dir::State::Lists=${join(apt, 'lists')}`,
    '-o',
    `Dir::Cache=${join(apt, 'cache')}`,
    '-o',
    'APT::Sandbox::User=root',
    '-o',
    'Acquire::Languages=none',
  ];
  try {
    execFileSync('apt-get', [...o, 'update'], { stdio: 'pipe' });
    execFileSync('apt-get', [...o, 'download', ...packages], { cwd: cacheDir, stdio: 'pipe' });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(
      `could not fetch ${packages.join(' ')} with apt-get (${e.stderr?.toString().trim() || e.message}); ` +
        `put their arm64 .deb files in ${cacheDir} to skip apt`,
    );
  } finally {
    rmSync(apt, { recursive: true, force: true }); // ~45 MB of package lists, not needed once the .deb is here
  }
}

// ---------------------------------------------------------------------------------------------
// Registry HTTP API (distribution v2)

class RegistryClient {
  private readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(
    address: string,
    private readonly repository: string,
    auth?: { username: string; password: string },
  ) {
    this.base = `http://${address}/v2/${repository}`;
    this.headers = auth
      ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` }
      : {};
  }

  async manifestDigest(reference: string, accept: string): Promise<string | undefined> {
    const res = await fetch(`${this.base}/manifests/${reference}`, {
      method: 'HEAD',
      headers: { ...this.headers, accept },
    });
    if (res.status === 404) return undefined;
    if (res.status === 401)
      throw new Error(`registry ${this.base}: HTTP 401 (wrong or missing credentials: pass auth)`);
    if (!res.ok) throw new Error(`registry HEAD ${this.repository}:${reference}: HTTP ${res.status}`);
    return res.headers.get('docker-content-digest') ?? undefined;
  }

  async putBlob(data: Buffer): Promise<void> {
    const digest = sha256(data);
    const head = await fetch(`${this.base}/blobs/${digest}`, { method: 'HEAD', headers: this.headers });
    if (head.ok) return;
    const start = await fetch(`${this.base}/blobs/uploads/`, { method: 'POST', headers: this.headers });
    await start.arrayBuffer();
    const location = start.headers.get('location');
    if (start.status !== 202 || !location) throw new Error(`registry: starting a blob upload: HTTP ${start.status}`);
    const url = new URL(location, this.base);
    url.searchParams.set('digest', digest);
    const put = await fetch(url, {
      method: 'PUT',
      headers: { ...this.headers, 'content-type': 'application/octet-stream' },
      body: data,
    });
    if (put.status !== 201) throw new Error(`registry: uploading ${digest}: HTTP ${put.status} ${await put.text()}`);
  }

  async putManifest(reference: string, body: Buffer, mediaType: string): Promise<void> {
    const res = await fetch(`${this.base}/manifests/${reference}`, {
      method: 'PUT',
      headers: { ...this.headers, 'content-type': mediaType },
      body,
    });
    if (res.status !== 201)
      throw new Error(`registry: PUT manifest ${this.repository}:${reference}: HTTP ${res.status} ${await res.text()}`);
  }
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
