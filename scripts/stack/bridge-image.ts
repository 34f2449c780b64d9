// The stdio bridge as an image, for Kubernetes pods (their init container copies it out): one layer
// per architecture holding the static /stdio-bridge alone (linux/amd64 and linux/arm64, from
// .tools/bin, built by `npm run setup`), under a multi-arch index, uploaded straight through the
// registry's HTTP API — no image hub, no docker daemon. The layers are reproducible (fixed mtime,
// root-owned), and the tag is named by the binaries, so an unchanged bridge is not uploaded twice.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-fs';
import { MediaType, RegistryClient, type IndexEntry } from '../../lib/registry/client.js';
import { PROJECT_ROOT } from './paths.js';

const ARCHES = ['amd64', 'arm64'] as const;
const EPOCH = '1970-01-01T00:00:00Z';

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A tar of the one file, as bytes. */
async function layerTar(dir: string, binary: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = tar.pack(dir, {
    ignore: () => true,
    finalize: false,
    finish: (pack) => {
      pack.entry({ name: 'stdio-bridge', mode: 0o755, uid: 0, gid: 0, mtime: new Date(0) }, binary);
      pack.finalize();
    },
  });
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function ensureBridgeImage(opts: {
  /** Registry host:port (plain HTTP). */
  registry: string;
  repository?: string;
  auth?: { username: string; password: string };
  /** Where stdio-bridge-amd64 and -arm64 are; default .tools/bin. */
  binDir?: string;
}): Promise<{ reference: string; uploaded: boolean }> {
  const repository = opts.repository ?? 'mcp-host/stdio-bridge';
  const dir = opts.binDir ?? join(PROJECT_ROOT, '.tools', 'bin');
  const binaries = ARCHES.map((arch) => {
    try {
      return readFileSync(join(dir, `stdio-bridge-${arch}`));
    } catch {
      throw new Error(`${join(dir, `stdio-bridge-${arch}`)} not found; run "npm run setup" (builds the stdio bridge)`);
    }
  });
  const tag = createHash('sha256').update(Buffer.concat(binaries)).digest('hex').slice(0, 16);
  const reference = `${opts.registry}/${repository}:${tag}`;
  const client = new RegistryClient({ apiBase: `http://${opts.registry}`, credentials: opts.auth });
  if (await client.headManifest(repository, tag)) return { reference, uploaded: false };

  const entries: IndexEntry[] = [];
  for (const [i, arch] of ARCHES.entries()) {
    const tarball = await layerTar(dir, binaries[i]!);
    const layer = gzipSync(tarball, { level: 9 });
    const config = Buffer.from(
      JSON.stringify({
        architecture: arch,
        os: 'linux',
        ...(arch === 'arm64' ? { variant: 'v8' } : {}),
        created: EPOCH,
        config: { Entrypoint: ['/stdio-bridge'], User: '65532:65532' },
        rootfs: { type: 'layers', diff_ids: [sha256(tarball)] },
        history: [{ created: EPOCH, created_by: `mcp-host stdio-bridge (${arch})` }],
      }),
    );
    await client.uploadBlob(repository, layer);
    await client.uploadBlob(repository, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: { mediaType: MediaType.DockerConfig, size: config.length, digest: sha256(config) },
        layers: [{ mediaType: MediaType.DockerLayerGzip, size: layer.length, digest: sha256(layer) }],
      }),
    );
    const pushed = await client.putManifest(repository, sha256(manifest), MediaType.DockerManifest, manifest);
    entries.push({
      ...pushed,
      platform: { os: 'linux', architecture: arch, ...(arch === 'arm64' ? { variant: 'v8' } : {}) },
    });
  }
  await client.putIndex(repository, tag, entries, 'docker');
  return { reference, uploaded: true };
}
