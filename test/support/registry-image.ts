// A minimal image pushed straight through a registry's HTTP API (no daemon): one empty layer and the
// given image config, under a tag. Enough for a decision to resolve the tag to a digest and for a
// kubelet stand-in that runs no containers; nothing here could run on a real node.
import { gzipSync } from 'node:zlib';
import { MediaType, RegistryClient, sha256Digest } from '../../lib/registry/client.js';

/** Pushes `registry/repo:tag` (plain HTTP); returns the manifest digest the tag names. */
export async function pushMinimalImage(
  registry: string,
  repo: string,
  tag: string,
  config: { Labels?: Record<string, string>; Cmd?: string[]; Entrypoint?: string[] } = {},
): Promise<string> {
  const client = new RegistryClient({ apiBase: `http://${registry}` });
  const emptyTar = Buffer.alloc(1024);
  const layer = gzipSync(emptyTar);
  const imageConfig = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config,
    rootfs: { type: 'layers', diff_ids: [sha256Digest(emptyTar)] },
  });
  await client.uploadBlob(repo, layer);
  await client.uploadBlob(repo, imageConfig);
  const manifest = await client.putManifest(repo, tag, MediaType.DockerManifest, {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: {
      mediaType: MediaType.DockerConfig,
      size: Buffer.byteLength(imageConfig),
      digest: sha256Digest(imageConfig),
    },
    layers: [{ mediaType: MediaType.DockerLayerGzip, size: layer.length, digest: sha256Digest(layer) }],
  });
  return manifest.digest;
}
