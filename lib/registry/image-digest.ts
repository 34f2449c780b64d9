// An image reference's manifest digest, read from its registry with one HEAD request: what an
// image source's tag names at the moment a launch is decided. The launch then runs that digest,
// so the decision, the ledger and the runtime agree on one image however the tag moves later.
import type { ImageResolution } from '../policy/decide.js';
import { RegistryClient, RegistryError } from './client.js';
import type { RegistryCredentials } from './dockerconfig.js';
import { apiBase, isDigest, parseImageReference, parseRegistry } from './reference.js';

export interface ImageRegistryAccess {
  /** `REGISTRY`: the platform's own registry, reached with its configured scheme. */
  ownRegistry?: string;
  /** Credentials to send, or undefined for anonymous access (decided by the caller's lending rule). */
  credentials?: RegistryCredentials;
  timeoutMs?: number;
}

/** Loopback registries speak plain HTTP, as Docker assumes; any other, HTTPS. */
const isLoopback = (host: string) => /^(127\.|localhost(:|$)|\[::1\])/.test(host);

/** The distribution API client for the registry `image` lives in (Docker Hub's API host for `docker.io`). */
export function registryClientFor(image: string, access: ImageRegistryAccess = {}) {
  const ref = parseImageReference(image);
  const own = access.ownRegistry ? parseRegistry(access.ownRegistry) : undefined;
  const base =
    own?.host === ref.host
      ? apiBase(own)
      : ref.host === 'docker.io'
        ? 'https://registry-1.docker.io'
        : `${isLoopback(ref.host) ? 'http' : 'https'}://${ref.host}`;
  return {
    ref,
    client: new RegistryClient({
      apiBase: base,
      credentials: access.credentials,
      timeoutMs: access.timeoutMs ?? 10_000,
    }),
  };
}

/** The digest `image` names now; a reference pinned already names its own, read from no registry. */
export async function resolveImageDigest(image: string, access: ImageRegistryAccess = {}): Promise<ImageResolution> {
  const { ref, client } = registryClientFor(image, access);
  if (isDigest(ref.reference)) return { digest: ref.reference };
  try {
    const descriptor = await client.headManifest(ref.repo, ref.reference);
    return descriptor ? { digest: descriptor.digest } : { problem: 'not-found' };
  } catch (err) {
    if (!(err instanceof RegistryError)) return { problem: 'unreachable' };
    if (err.kind === 'auth') return { problem: 'refused' };
    if (err.kind === 'not_found') return { problem: 'not-found' };
    return { problem: err.kind === 'transport' ? 'unreachable' : 'registry-error' };
  }
}
