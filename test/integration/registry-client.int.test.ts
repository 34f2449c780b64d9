// RegistryClient against a real registry (Debian's distribution 2.8): once behind htpasswd Basic
// auth, once open. Images are assembled by hand (config + layer blobs, per-platform manifests),
// so no Docker daemon is needed.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MediaType,
  RegistryClient,
  RegistryError,
  sha256Digest,
  type Descriptor,
  type IndexEntry,
  type Platform,
} from '../../lib/registry/client.js';
import { apiBase, parseRegistry, repoPath } from '../../lib/registry/reference.js';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { freePort } from '../../scripts/stack/process.js';
import { writeHtpasswd } from '../support/htpasswd.js';
import { startRegistry, type Registry } from '../../scripts/stack/registry.js';

const USER = 'builder';
const PASSWORD = 'correct-horse-battery';
const LOG_DIR = join(DATA_DIR, 'test-logs');

interface TestRegistry {
  registry: Registry;
  dir: string;
}

async function startTestRegistry(auth: boolean): Promise<TestRegistry> {
  const port = await freePort();
  const dir = join(DATA_DIR, `test-registry-${port}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let htpasswd: string | undefined;
  if (auth) {
    // distribution only accepts bcrypt entries (made without apache2-utils: test/support/htpasswd.ts).
    htpasswd = join(dir, 'htpasswd');
    writeHtpasswd(htpasswd, { [USER]: PASSWORD });
  }
  const registry = await startRegistry({ dir, port, logDir: LOG_DIR, htpasswd });
  return { registry, dir };
}

async function stopTestRegistry(r: TestRegistry | undefined): Promise<void> {
  if (!r) return;
  await r.registry.stop();
  rmSync(r.dir, { recursive: true, force: true });
}

const slug = (p: Platform) => [p.os, p.architecture, p.variant].filter(Boolean).join('_');

/** Pushes a tiny single-platform image the way a builder would; returns its index entry. */
async function pushPlatformImage(
  client: RegistryClient,
  repo: string,
  platform: Platform,
  format: 'oci' | 'docker',
): Promise<IndexEntry> {
  const layerTar = Buffer.from(`pretend tar for ${slug(platform)}\n`);
  const layer = gzipSync(layerTar);
  const config = JSON.stringify({
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Cmd: ['/server'] },
    rootfs: { type: 'layers', diff_ids: [sha256Digest(layerTar)] },
  });
  const configBlob = await client.uploadBlob(repo, config);
  const layerBlob = await client.uploadBlob(repo, layer);
  expect(configBlob.digest).toBe(sha256Digest(config));

  const oci = format === 'oci';
  const manifestType = oci ? MediaType.OciManifest : MediaType.DockerManifest;
  const manifest = {
    schemaVersion: 2,
    mediaType: manifestType,
    config: { mediaType: oci ? MediaType.OciConfig : MediaType.DockerConfig, ...configBlob },
    layers: [{ mediaType: oci ? MediaType.OciLayerGzip : MediaType.DockerLayerGzip, ...layerBlob }],
  };
  const pushed: Descriptor = await client.putManifest(
    repo,
    `latest-${slug(platform)}`,
    manifestType,
    JSON.stringify(manifest),
  );
  return { ...pushed, platform };
}

async function rejection(p: Promise<unknown>): Promise<RegistryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  return err as RegistryError;
}

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
const ARM64: Platform = { os: 'linux', architecture: 'arm64' };
const ARMV7: Platform = { os: 'linux', architecture: 'arm', variant: 'v7' };

/** A well-formed entry that no registry has. */
const NOT_PUSHED: IndexEntry = {
  mediaType: MediaType.OciManifest,
  digest: sha256Digest('not pushed'),
  size: 123,
  platform: AMD64,
};

describe('registry with htpasswd (Basic) auth', () => {
  let reg: TestRegistry | undefined;
  let base: string;
  let repo: string;
  let client: RegistryClient;

  beforeAll(async () => {
    reg = await startTestRegistry(true);
    const location = parseRegistry(`http://${reg.registry.address}/demo`);
    base = apiBase(location);
    repo = repoPath(location, 'mcp-custom-12');
    client = new RegistryClient({ apiBase: base, credentials: { username: USER, password: PASSWORD } });
  });
  afterAll(() => stopTestRegistry(reg));

  it('pings with credentials', async () => {
    expect(await client.ping()).toEqual({ apiVersion: 'registry/2.0' });
  });

  it('publishes an OCI index of two pushed platforms, inspects it and deletes a platform manifest', async () => {
    const amd64 = await pushPlatformImage(client, repo, AMD64, 'oci');
    const arm64 = await pushPlatformImage(client, repo, ARM64, 'oci');
    expect(amd64.digest).not.toBe(arm64.digest);

    const digest = await client.putIndex(repo, 'latest', [amd64, arm64], 'oci');

    const index = await client.getManifest(repo, 'latest');
    expect(index.mediaType).toBe(MediaType.OciIndex);
    expect(index.digest).toBe(digest);
    expect(sha256Digest(JSON.stringify(index.body))).toBe(digest); // the registry stored our exact bytes
    expect(index.body.manifests).toEqual([
      {
        mediaType: MediaType.OciManifest,
        digest: amd64.digest,
        size: amd64.size,
        platform: { architecture: 'amd64', os: 'linux' },
      },
      {
        mediaType: MediaType.OciManifest,
        digest: arm64.digest,
        size: arm64.size,
        platform: { architecture: 'arm64', os: 'linux' },
      },
    ]);
    for (const entry of index.body.manifests ?? []) expect(entry.size).toBeGreaterThan(0);

    expect(await client.headManifest(repo, 'latest')).toEqual({
      mediaType: MediaType.OciIndex,
      digest,
      size: index.size,
    });
    expect(await client.listIndexPlatforms(repo, 'latest')).toEqual([
      { digest: amd64.digest, platform: 'linux/amd64' },
      { digest: arm64.digest, platform: 'linux/arm64' },
    ]);

    // A platform manifest fetched by digest round-trips with its pushed size and type.
    const single = await client.getManifest(repo, arm64.digest);
    expect(single).toMatchObject({ mediaType: MediaType.OciManifest, digest: arm64.digest, size: arm64.size });
    expect(await client.listIndexPlatforms(repo, `latest-${slug(ARM64)}`)).toEqual([]);

    expect(await client.deleteManifest(repo, arm64.digest)).toBe('deleted');
    expect(await client.deleteManifest(repo, arm64.digest)).toBe('not_found');
    expect(await client.headManifest(repo, arm64.digest)).toBeUndefined();
    expect((await rejection(client.getManifest(repo, arm64.digest))).kind).toBe('not_found');
  });

  it('reports unknown repositories and tags as not found', async () => {
    expect(await client.headManifest('demo/nothing-here', 'latest')).toBeUndefined();
    expect(await client.listIndexPlatforms('demo/nothing-here', 'latest')).toEqual([]);
    const err = await rejection(client.getManifest('demo/nothing-here', 'latest'));
    expect(err).toMatchObject({ kind: 'not_found', status: 404 });
  });

  it('reports a wrong password or missing credentials as auth, without the password', async () => {
    const wrong = new RegistryClient({ apiBase: base, credentials: { username: USER, password: 'not-the-password' } });
    const err = await rejection(wrong.getManifest(repo, 'latest'));
    expect(err).toMatchObject({ kind: 'auth', status: 401, retryable: false });
    expect(err.message).not.toContain('not-the-password');
    expect((await rejection(wrong.ping())).kind).toBe('auth');

    const anonymous = new RegistryClient({ apiBase: base });
    const anonErr = await rejection(anonymous.putIndex(repo, 'latest', [NOT_PUSHED], 'oci'));
    expect(anonErr).toMatchObject({ kind: 'auth', message: expect.stringMatching(/requires credentials/) });
  });

  it('reports a stopped registry as transport', async () => {
    await reg!.registry.stop();
    const err = await rejection(client.getManifest(repo, 'latest'));
    expect(err).toMatchObject({ kind: 'transport', status: undefined, retryable: true });
    expect(err.message).toMatch(/ECONNREFUSED/);
  });
});

describe('registry without auth', () => {
  let reg: TestRegistry | undefined;
  let repo: string;
  let client: RegistryClient;

  beforeAll(async () => {
    reg = await startTestRegistry(false);
    const location = parseRegistry(`http://${reg.registry.address}`);
    repo = repoPath(location, 'mcp-custom-7');
    client = new RegistryClient({ apiBase: apiBase(location) });
  });
  afterAll(() => stopTestRegistry(reg));

  it('publishes a Docker manifest list, republishes with fewer platforms and prunes the stale one', async () => {
    const amd64 = await pushPlatformImage(client, repo, AMD64, 'docker');
    const armv7 = await pushPlatformImage(client, repo, ARMV7, 'docker');
    const first = await client.putIndex(repo, 'latest', [amd64, armv7], 'docker');
    const list = await client.getManifest(repo, 'latest');
    expect(list).toMatchObject({ mediaType: MediaType.DockerManifestList, digest: first });
    expect(list.body.manifests?.map((m) => [m.mediaType, m.size, m.platform])).toEqual([
      [MediaType.DockerManifest, amd64.size, { architecture: 'amd64', os: 'linux' }],
      [MediaType.DockerManifest, armv7.size, { architecture: 'arm', os: 'linux', variant: 'v7' }],
    ]);

    // Republishing an index: read the previous entries, publish the new set, delete what dropped out.
    const previous = await client.listIndexPlatforms(repo, 'latest');
    expect(previous).toEqual([
      { digest: amd64.digest, platform: 'linux/amd64' },
      { digest: armv7.digest, platform: 'linux/arm/v7' },
    ]);
    const second = await client.putIndex(repo, 'latest', [amd64], 'docker');
    expect(second).not.toBe(first);
    const stale = previous.filter((p) => p.digest !== amd64.digest);
    expect(await Promise.all(stale.map((p) => client.deleteManifest(repo, p.digest)))).toEqual(['deleted']);

    expect(await client.listIndexPlatforms(repo, 'latest')).toEqual([
      { digest: amd64.digest, platform: 'linux/amd64' },
    ]);
    expect((await client.headManifest(repo, 'latest'))?.digest).toBe(second);
    expect(await client.headManifest(repo, armv7.digest)).toBeUndefined();
  });

  it('skips uploading a blob the repository already has', async () => {
    const data = 'same bytes';
    const first = await client.uploadBlob(repo, data);
    const again = await client.uploadBlob(repo, data);
    expect(again).toEqual(first);
    expect(first).toEqual({ digest: sha256Digest(data), size: Buffer.byteLength(data) });
  });

  it('rejects an index whose entries the repository does not have (remote error)', async () => {
    const err = await rejection(client.putIndex(repo, 'broken', [NOT_PUSHED], 'oci'));
    expect(err.kind).toBe('remote');
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/MANIFEST_BLOB_UNKNOWN|MANIFEST_INVALID/);
  });
});
