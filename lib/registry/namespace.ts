// Each owner's images live in a registry namespace of their own, `<REGISTRY>/owner-<id>/…`: builds
// push there, an image source may name no other owner's namespace, and the platform's registry
// credentials are lent only for the namespace of the server's owner. Pure: the API, the build
// activities and the image puller share these rules.
import { splitImage } from '../build/base-pinning.js';
import { parseRegistry } from './reference.js';

/** The path component of an owner's namespace. */
export const ownerNamespace = (ownerId: number): string => `owner-${ownerId}`;

/** The REGISTRY value (scheme and path kept) extended by the owner's namespace. */
export const ownerRegistry = (registry: string, ownerId: number): string =>
  `${registry.trim().replace(/\/+$/, '')}/${ownerNamespace(ownerId)}`;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** One registry host, however a loopback address is spelled (`localhost:5000` is `127.0.0.1:5000`). */
function sameHost(a: string, b: string): boolean {
  if (a === b) return true;
  const [ha, pa] = splitPort(a);
  const [hb, pb] = splitPort(b);
  return pa === pb && LOOPBACK.has(ha) && LOOPBACK.has(hb);
}

function splitPort(host: string): [string, string] {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.toLowerCase());
  return [m?.[1] ?? host, m?.[2] ?? ''];
}

/** The local image names builds leave on the daemon (`mcp-custom-12`, `mcp-custom-12-linux_amd64`). */
const LOCAL_BUILD = /^library\/mcp-custom-\d+(?:-[a-z0-9_]+)?$/;

/**
 * Where an image reference points, as far as tenancy goes:
 * - `owner`: under the platform's registry, in that owner's namespace;
 * - `platform`: the platform's own, in no owner's namespace (its registry path outside every
 *   namespace, such as images pushed before namespaces, or a local name of a build);
 * - `outside`: anywhere else, the registry's other paths too (shared base images live there). With a
 *   REGISTRY without a path, the whole registry is the platform's.
 */
export type ImagePlace = { kind: 'owner'; ownerId: number } | { kind: 'platform' } | { kind: 'outside' };

export function imagePlace(image: string, registry: string | undefined): ImagePlace {
  const { host, repository } = splitImage(image.replace(/@.*$/, ''));
  if (host === 'docker.io' && LOCAL_BUILD.test(repository)) return { kind: 'platform' };
  if (!registry) return { kind: 'outside' };
  const own = parseRegistry(registry);
  if (!sameHost(host.toLowerCase(), own.host)) return { kind: 'outside' };
  const prefix = own.pathPrefix ? `${own.pathPrefix}/` : '';
  if (!repository.startsWith(prefix)) return { kind: 'outside' };
  const m = /^owner-(\d{1,10})\//.exec(repository.slice(prefix.length));
  return m ? { kind: 'owner', ownerId: Number(m[1]) } : { kind: 'platform' };
}

/** Whether an owner may name the image as a source: anything but another owner's or the platform's own. */
export function mayNameImage(image: string, registry: string | undefined, ownerId: number): boolean {
  const place = imagePlace(image, registry);
  return place.kind === 'outside' || (place.kind === 'owner' && place.ownerId === ownerId);
}

/**
 * Whose pull it is: a server owner's, lent the platform's registry credentials only for that owner's
 * namespace, or the platform's own (its network canary), lent them for its registry.
 */
export type PullFor = { ownerId: number } | 'platform';

export function lendsCredentials(image: string, registry: string, pullFor: PullFor): boolean {
  if (pullFor === 'platform') return image.startsWith(`${parseRegistry(registry).host}/`);
  const place = imagePlace(image, registry);
  return place.kind === 'owner' && place.ownerId === pullFor.ownerId;
}
