// Where images go: the `REGISTRY` setting parsed once into the three things callers need —
// the HTTP API base, the host[:port] that image references and dockerconfig keys use, and the
// repository path prefix.
//
// Scheme rule: a value without a scheme means https, also for 127.0.0.1 and localhost. A
// plain-HTTP registry must be written with `http://` (e.g. `http://127.0.0.1:5000/demo`); we do
// not guess from the host, so the same value always talks to the same endpoint. Image
// references never carry the scheme (`127.0.0.1:5000/demo/mcp-custom-12`).

export interface RegistryLocation {
  scheme: 'http' | 'https';
  /** host[:port], lower-case; what image references and dockerconfig `auths` keys use. */
  host: string;
  /** Repository path below the host, without surrounding slashes: `org`, `team/sub` or ''. */
  pathPrefix: string;
}

export class RegistryReferenceError extends Error {
  override readonly name = 'RegistryReferenceError';
}

// Distribution's grammar for one repository path component (reference/regexp.go).
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

/** Parses a `REGISTRY` value; throws RegistryReferenceError naming what is wrong. */
export function parseRegistry(value: string): RegistryLocation {
  const raw = value.trim();
  if (!raw) throw new RegistryReferenceError('registry is empty');
  if (/[\s\0-\x1f\x7f]/.test(raw))
    throw new RegistryReferenceError('registry must not contain whitespace or control characters');

  let scheme: RegistryLocation['scheme'] = 'https';
  let rest = raw;
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(raw);
  if (schemeMatch) {
    const given = schemeMatch[1]!.toLowerCase();
    if (given !== 'http' && given !== 'https') {
      throw new RegistryReferenceError(`registry scheme "${given}" is not supported; use https:// or http://`);
    }
    scheme = given;
    rest = raw.slice(schemeMatch[0].length);
  } else if (raw.includes('://')) {
    throw new RegistryReferenceError('registry has a malformed scheme; use https:// or http://');
  }
  if (/[?#]/.test(rest)) throw new RegistryReferenceError('registry must not contain a query or fragment');
  // Credentials belong in the dockerconfig file, never in a value that ends up in logs and image names.
  if (rest.includes('@')) throw new RegistryReferenceError('registry must not contain "@" (user info or a digest)');

  const slash = rest.indexOf('/');
  const hostPart = (slash === -1 ? rest : rest.slice(0, slash)).toLowerCase();
  const path = (slash === -1 ? '' : rest.slice(slash + 1)).replace(/\/+$/, '');
  const host = parseHost(hostPart);

  const components = path === '' ? [] : path.split('/');
  for (const c of components) {
    if (!PATH_COMPONENT.test(c)) {
      throw new RegistryReferenceError(
        `registry path component "${c}" is invalid; use lower-case letters, digits and single separators (. _ __ -)`,
      );
    }
  }
  return { scheme, host, pathPrefix: components.join('/') };
}

function parseHost(hostPart: string): string {
  if (!hostPart) throw new RegistryReferenceError('registry must start with a host');
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(hostPart);
  if (!m) throw new RegistryReferenceError(`registry host "${hostPart}" is invalid`);
  const name = m[1]!;
  const port = m[2];
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    throw new RegistryReferenceError(`registry port "${port}" is invalid; expected 1-65535`);
  }
  const isIpv6 = IPV6.test(name);
  if (!isIpv6 && !name.split('.').every((label) => HOST_LABEL.test(label))) {
    throw new RegistryReferenceError(`registry host "${name}" is not a valid host name`);
  }
  // Docker reads a first component without a dot or port (other than localhost) as a Docker Hub
  // namespace, so `registry/org/app` would be pulled from docker.io/registry/org/app.
  if (!isIpv6 && port === undefined && !name.includes('.') && name !== 'localhost') {
    throw new RegistryReferenceError(
      `registry host "${name}" would be read as a Docker Hub namespace; add a domain or port (e.g. ${name}:5000)`,
    );
  }
  return port === undefined ? name : `${name}:${port}`;
}

function location(registry: RegistryLocation | string): RegistryLocation {
  return typeof registry === 'string' ? parseRegistry(registry) : registry;
}

/** Checks one image name (`mcp-custom-12`, or a nested `team/app`). */
export function assertImageName(name: string): void {
  if (!name || !name.split('/').every((c) => PATH_COMPONENT.test(c))) {
    throw new RegistryReferenceError(
      `image name "${name}" is invalid; use lower-case letters, digits and single separators (. _ __ -)`,
    );
  }
}

/** Repository path on the registry API: `demo/mcp-custom-12`. */
export function repoPath(registry: RegistryLocation | string, name: string): string {
  assertImageName(name);
  const { pathPrefix } = location(registry);
  return pathPrefix ? `${pathPrefix}/${name}` : name;
}

/** Image repository as Docker names it (no scheme): `127.0.0.1:5000/demo/mcp-custom-12`. */
export function repositoryFor(registry: RegistryLocation | string, name: string): string {
  const loc = location(registry);
  return `${loc.host}/${repoPath(loc, name)}`;
}

/** Base URL of the distribution API, without a trailing slash: `http://127.0.0.1:5000`. */
export function apiBase(registry: RegistryLocation | string): string {
  const loc = location(registry);
  // Docker Hub's image host is not its API host.
  if (loc.scheme === 'https' && (loc.host === 'docker.io' || loc.host === 'index.docker.io')) {
    return 'https://registry-1.docker.io';
  }
  return `${loc.scheme}://${loc.host}`;
}

export function isTag(reference: string): boolean {
  return TAG.test(reference);
}

export function isDigest(reference: string): boolean {
  return DIGEST.test(reference);
}

/** `repo:tag` (or `repo`) pinned to a manifest digest: `repo@sha256:…` — exactly the artifact, whatever the tag says now. */
export function pinToDigest(image: string, digest: string): string {
  return `${image.split('@', 1)[0]!.replace(/:[^:/]+$/, '')}@${digest}`;
}

/** An image reference split as the distribution API needs it. */
export interface ImageReference {
  /** `host[:port]`; `docker.io` for names without a registry host. */
  host: string;
  /** The repository path on that host: `mcp/mcp-custom-7`, `library/busybox`. */
  repo: string;
  /** The digest when pinned, else the tag (`latest` when none). */
  reference: string;
}

/** Splits `host:port/repo:tag@digest` the way Docker reads it (the first component is a host only with a dot, a port or `localhost`). */
export function parseImageReference(image: string): ImageReference {
  const [named, digest] = image.split('@', 2) as [string, string | undefined];
  const slash = named.indexOf('/');
  const first = slash === -1 ? '' : named.slice(0, slash);
  const hasHost = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  const host = hasHost ? first.toLowerCase() : 'docker.io';
  let path = hasHost ? named.slice(slash + 1) : named;
  let tag = 'latest';
  const colon = path.lastIndexOf(':');
  if (colon > path.lastIndexOf('/')) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
  }
  if (host === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  return { host, repo: path, reference: digest ?? tag };
}
