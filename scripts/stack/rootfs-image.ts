// A multi-arch image made from staged root filesystems, one layer per architecture, uploaded straight
// through the registry's HTTP API under a manifest list: no image hub, no docker daemon. The layers
// are root-owned with a fixed mtime. Whether the registry already holds the same image is told by a
// label of its inputs, read back before anything is made; the blobs are kept per inputs, so another
// registry gets them uploaded without making them again.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import tar from 'tar-fs';
import { MediaType, RegistryClient, type IndexEntry } from '../../lib/registry/client.js';
import { DATA_DIR } from './paths.js';

export type Arch = 'amd64' | 'arm64';

export interface RootfsImageOptions {
  /** Registry host:port (plain HTTP). */
  registry: string;
  repository: string;
  tag: string;
  auth?: { username: string; password: string };
}

export interface ImageRuntimeConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  User?: string;
  WorkingDir?: string;
}

const EPOCH = '1970-01-01T00:00:00Z';
const gzipAsync = promisify(gzip);
const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const platformOf = (arch: Arch) => ({
  os: 'linux',
  architecture: arch,
  ...(arch === 'arm64' ? { variant: 'v8' } : {}),
});

const client = (opts: RootfsImageOptions) =>
  new RegistryClient({ apiBase: `http://${opts.registry}`, credentials: opts.auth, timeoutMs: 600_000 });

/**
 * A staged directory as a layer: every entry root-owned but those `owner` names, mtime 0, and the
 * mode `mode` gives (module caches hold read-only files; an image needs its executables executable).
 */
export async function rootfsTar(
  dir: string,
  opts: { mode?: (name: string, type: string, mode: number) => number; owner?: (name: string) => number } = {},
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = tar.pack(dir, {
    map: (header) => {
      header.uid = opts.owner?.(header.name) ?? 0;
      header.gid = header.uid;
      header.mtime = new Date(0);
      if (opts.mode && header.mode !== undefined)
        header.mode = opts.mode(header.name, header.type ?? 'file', header.mode);
      return header;
    },
  });
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface RootfsImage {
  arch: Arch;
  /** The layer, an uncompressed tar (see rootfsTar). */
  layer: Buffer;
  config: ImageRuntimeConfig;
  createdBy: string;
}

/**
 * `<registry>/<repository>:<tag>`, labelled `label` = `inputs`: kept when the registry has it, else
 * uploaded from the blobs made for the same inputs before (.data/base-images/layers: a new registry,
 * as each test stack has, costs an upload, not a rebuild), else made by `make` and uploaded.
 */
export async function ensureRootfsImage(
  opts: RootfsImageOptions,
  label: string,
  inputs: string,
  make: () => Promise<RootfsImage[]>,
): Promise<{ reference: string; uploaded: boolean; made: boolean }> {
  const reference = `${opts.registry}/${opts.repository}:${opts.tag}`;
  const registry = client(opts);
  const config = await registry.getImageConfig(opts.repository, opts.tag, 'amd64').catch(() => undefined);
  if (config?.Labels?.[label] === inputs) return { reference, uploaded: false, made: false };

  const cacheRoot = join(DATA_DIR, 'base-images', 'layers', opts.repository.replace(/\//g, '_'));
  const cache = join(cacheRoot, createHash('sha256').update(inputs).digest('hex').slice(0, 16));
  const index = join(cache, 'index.json');
  let blobs: { arch: Arch; layer: string; config: string }[];
  let made = false;
  if (existsSync(index)) {
    blobs = JSON.parse(readFileSync(index, 'utf8')) as typeof blobs;
  } else {
    // Made aside and renamed into place: a concurrent maker (another test file) sees all of it or none.
    const tmp = `${cache}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    blobs = [];
    for (const img of await make()) {
      const layer = await gzipAsync(img.layer, { level: 6 });
      const imageConfig = Buffer.from(
        JSON.stringify({
          ...platformOf(img.arch),
          created: EPOCH,
          config: { ...img.config, Labels: { [label]: inputs } },
          rootfs: { type: 'layers', diff_ids: [sha256(img.layer)] },
          history: [{ created: EPOCH, created_by: img.createdBy }],
        }),
      );
      writeFileSync(join(tmp, `${img.arch}.tar.gz`), layer);
      writeFileSync(join(tmp, `${img.arch}.config.json`), imageConfig);
      blobs.push({ arch: img.arch, layer: `${img.arch}.tar.gz`, config: `${img.arch}.config.json` });
    }
    writeFileSync(join(tmp, 'index.json'), JSON.stringify(blobs));
    for (const old of readdirSync(cacheRoot)) {
      if (!old.includes('.tmp-')) rmSync(join(cacheRoot, old), { recursive: true, force: true }); // older inputs
    }
    try {
      renameSync(tmp, cache);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another maker was first: same inputs, same content
    }
    made = true;
  }

  const entries: IndexEntry[] = [];
  for (const blob of blobs) {
    const layer = readFileSync(join(cache, blob.layer));
    const imageConfig = readFileSync(join(cache, blob.config));
    await registry.uploadBlob(opts.repository, layer);
    await registry.uploadBlob(opts.repository, imageConfig);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: { mediaType: MediaType.DockerConfig, size: imageConfig.length, digest: sha256(imageConfig) },
        layers: [{ mediaType: MediaType.DockerLayerGzip, size: layer.length, digest: sha256(layer) }],
      }),
    );
    const pushed = await registry.putManifest(opts.repository, sha256(manifest), MediaType.DockerManifest, manifest);
    entries.push({ ...pushed, platform: platformOf(blob.arch) });
  }
  await registry.putIndex(opts.repository, opts.tag, entries, 'docker');
  return { reference, uploaded: true, made };
}
