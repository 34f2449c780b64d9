// Which hosts a build may contact for a tenant's source: git remotes, image registries and FROM
// base images. Private, loopback, link-local and unspecified addresses are refused unless the
// operator lists the host (or host:port) in SOURCE_ALLOWED_HOSTS; a name is resolved once and every
// address it resolves to is checked, so a name pointing at 169.254.169.254 is refused like the literal.
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { splitImage } from './build/base-pinning.js';

const DENIED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 3],
] as const) {
  DENIED.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  DENIED.addSubnet(net, prefix, 'ipv6');
}

/** A host as URLs write it (`[::1]`) or as lists do (`::1`), lowercased, IPv4-mapped IPv6 unwrapped. */
function normalizeHost(host: string): string {
  const bare = host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  return mapped ? mapped[1]! : bare;
}

/** Whether an IP address is private, loopback, link-local, unspecified or multicast. */
export function isPrivateAddress(ip: string): boolean {
  const address = normalizeHost(ip);
  const family = isIP(address);
  if (family === 0) return false;
  return DENIED.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** One SOURCE_ALLOWED_HOSTS entry: `host` (any port) or `host:port` (`[v6]:port` for IPv6). */
interface AllowedEntry {
  host: string;
  port?: number;
}

export function parseAllowedHost(entry: string): AllowedEntry | undefined {
  const text = entry.trim().toLowerCase();
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) return { host: normalizeHost(bracketed[1]!), ...(bracketed[2] && { port: Number(bracketed[2]) }) };
  if (isIP(text) === 6) return { host: normalizeHost(text) };
  const m = /^([a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m || Number(m[2] ?? 0) > 65535) return undefined;
  return { host: normalizeHost(m[1]!), ...(m[2] && { port: Number(m[2]) }) };
}

export interface HostPolicy {
  allowed: readonly AllowedEntry[];
}

export function hostPolicy(allowedHosts: readonly string[]): HostPolicy {
  return { allowed: allowedHosts.map(parseAllowedHost).filter((e): e is AllowedEntry => e !== undefined) };
}

export function isExplicitlyAllowed(policy: HostPolicy, host: string, port: number): boolean {
  const h = normalizeHost(host);
  return policy.allowed.some((e) => e.host === h && (e.port === undefined || e.port === port));
}

const isLocalName = (host: string) => host === 'localhost' || host.endsWith('.localhost');

/**
 * Why `host:port` is refused without resolving it (a literal private address, `localhost`), or
 * undefined. Names that need DNS are checked by `resolveAllowedHost`.
 */
export function literalHostProblem(policy: HostPolicy, host: string, port: number): string | undefined {
  if (isExplicitlyAllowed(policy, host, port)) return undefined;
  const h = normalizeHost(host);
  if (isPrivateAddress(h) || isLocalName(h)) {
    return `names ${h}:${port}, a private, loopback or link-local address (not in SOURCE_ALLOWED_HOSTS)`;
  }
  return undefined;
}

export class SourceHostRefused extends Error {
  override readonly name = 'SourceHostRefused';
}

type Lookup = (host: string) => Promise<{ address: string }[]>;
const systemLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

/**
 * The addresses to connect to for `host:port`, after the policy: a literal is checked as it is, a
 * name is resolved once and refused when any of its addresses is private (unless the host is
 * listed). Throws SourceHostRefused. Callers connect to the returned address, not the name again.
 */
export async function resolveAllowedHost(
  policy: HostPolicy,
  host: string,
  port: number,
  lookup: Lookup = systemLookup,
): Promise<string[]> {
  const problem = literalHostProblem(policy, host, port);
  if (problem) throw new SourceHostRefused(problem);
  const h = normalizeHost(host);
  if (isIP(h)) return [h];
  const addresses = (await lookup(h)).map((a) => normalizeHost(a.address));
  if (isExplicitlyAllowed(policy, h, port)) return addresses;
  const bad = addresses.find(isPrivateAddress);
  if (bad)
    throw new SourceHostRefused(
      `names ${h}:${port}, which resolves to ${bad}, a private, loopback or link-local address (not in SOURCE_ALLOWED_HOSTS)`,
    );
  return addresses;
}

const GIT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443, 'git:': 9418, 'ssh:': 22 };

/** Host, port and scheme of a git remote (URL or `user@host:path`); undefined when it is neither. */
export function gitRemoteHost(url: string): { host: string; port: number; scheme: string } | undefined {
  const scp = /^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+):(?!\/\/)/.exec(url);
  if (scp) return { host: normalizeHost(scp[1]!), port: 22, scheme: 'ssh:' };
  if (!URL.canParse(url)) return undefined;
  const parsed = new URL(url);
  const port = parsed.port ? Number(parsed.port) : GIT_PORTS[parsed.protocol];
  if (!parsed.hostname || port === undefined) return undefined;
  return { host: normalizeHost(parsed.hostname), port, scheme: parsed.protocol };
}

/** Registry host and port of an image reference (Docker Hub for names without one). */
export function imageRegistryHost(image: string): { host: string; port: number } {
  const { host } = splitImage(image);
  if (host === 'docker.io') return { host: 'registry-1.docker.io', port: 443 };
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
  return { host: normalizeHost(m?.[1] ?? host), port: m?.[2] ? Number(m[2]) : 443 };
}

// The API's policy, set once at start-up from SOURCE_ALLOWED_HOSTS; request schemas read it. Other
// processes that share the schemas (mcpctl) do not know the API's allow-list and leave it to the API.
let apiPolicy: HostPolicy | undefined;

export function setSourcePolicy(allowedHosts: readonly string[]): void {
  apiPolicy = hostPolicy(allowedHosts);
}

/** Why the API refuses a git remote's host without resolving it, or undefined. */
export function gitSourceHostProblem(url: string): string | undefined {
  const remote = gitRemoteHost(url);
  return apiPolicy && remote && literalHostProblem(apiPolicy, remote.host, remote.port);
}

/** Why the API refuses an image's registry host without resolving it, or undefined. */
export function imageSourceHostProblem(image: string): string | undefined {
  if (!apiPolicy) return undefined;
  const { host, port } = imageRegistryHost(image);
  return literalHostProblem(apiPolicy, host, port);
}
