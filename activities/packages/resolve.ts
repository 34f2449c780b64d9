// Package sources (npm, PyPI, Go): the requested version resolved once per build against the
// registry the worker reaches — the exact version, its integrity hash (recorded in the ledger) and
// the command to start — then a build context of one generated Dockerfile that installs exactly that.
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import {
  GENERATOR_VERSION,
  packageDockerfile,
  type BaseImages,
  type ResolvedPackage,
} from '../../lib/build/dockerfile.js';
import { ErrorType } from '../../lib/errors.js';
import type { PackageSource, ServerTransport } from '../../lib/schemas/servers.js';
import type { PreparedSource } from '../../workflows/build-and-publish.messages.js';

export interface PackageRegistries {
  npm: string;
  goproxy: string;
  gosumdb: string;
  pypi: string;
}

export interface ResolvedBuild {
  resolved: ResolvedPackage;
  /** npm `dist.integrity` (sha512-…), Go `h1:` (checksum database) or the module zip's sha256, PyPI sha256 of the file. */
  integrity: string | null;
  /** What the build is keyed by: the resolved package and everything that shapes its image. */
  revision: string;
}

const TIMEOUT_MS = 20_000;
const EXACT = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const SAFE_PATH = /^(?!\/)(?!.*\.\.)[A-Za-z0-9._/@+-]{1,255}$/;

const invalid = (message: string) => ApplicationFailure.nonRetryable(message, ErrorType.BuildFailed);

/** A registry's answer: 404 is final (no such package or version), anything else may pass. */
async function get(url: string, what: string, accept = 'application/json'): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept }, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    // fetch's own message is only "fetch failed": the cause says what (DNS, refused, timeout).
    const cause = (err as { cause?: { message?: string; code?: string } }).cause;
    const detail = [(err as Error).message, cause?.code ?? cause?.message].filter(Boolean).join(': ');
    throw ApplicationFailure.retryable(`${what}: ${new URL(url).host} did not answer (${detail})`);
  }
  if (res.status === 404 || res.status === 410) throw invalid(`${what} not found (${new URL(url).host})`);
  if (!res.ok) throw ApplicationFailure.retryable(`${what}: ${new URL(url).host} answered ${res.status}`);
  return res;
}

const base = (url: string) => url.replace(/\/+$/, '');

async function resolveNpm(source: Extract<PackageSource, { type: 'npm' }>, registry: string) {
  const name = source.package.replace('/', '%2f');
  const doc = (await (
    await get(
      `${base(registry)}/${name}/${encodeURIComponent(source.version)}`,
      `npm package ${source.package}@${source.version}`,
    )
  ).json()) as {
    version?: unknown;
    bin?: unknown;
    name?: unknown;
    dist?: { integrity?: unknown; shasum?: unknown };
  };
  if (typeof doc.version !== 'string' || !EXACT.test(doc.version))
    throw invalid(`npm package ${source.package}@${source.version}: the registry named no exact version`);
  const bins =
    typeof doc.bin === 'string' ? { [source.package]: doc.bin } : (doc.bin as Record<string, unknown> | undefined);
  const unscoped = source.package.replace(/^@[^/]+\//, '');
  const bin = bins && (bins[unscoped] ?? Object.values(bins)[0]);
  if (typeof bin !== 'string') throw invalid(`npm package ${source.package}@${doc.version} has no "bin" to run`);
  const path = bin.replace(/^\.\//, '');
  if (!SAFE_PATH.test(path))
    throw invalid(`npm package ${source.package}@${doc.version}: its bin ${bin} is not a plain path`);
  const integrity =
    typeof doc.dist?.integrity === 'string'
      ? doc.dist.integrity
      : typeof doc.dist?.shasum === 'string'
        ? `sha1-${doc.dist.shasum}`
        : null;
  return {
    resolved: {
      type: 'npm',
      name: source.package,
      version: doc.version,
      bin: path,
      args: source.args,
      env: source.env,
    },
    integrity,
  } satisfies Omit<ResolvedBuild, 'revision'>;
}

/** The Go module proxy's case encoding: an upper-case letter is `!` and its lower case. */
const goEscape = (path: string) => path.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);

async function resolveGo(source: Extract<PackageSource, { type: 'go' }>, registries: PackageRegistries) {
  // The package path names a module and a directory in it: the longest prefix the proxy knows is the module.
  const parts = source.module.split('/');
  for (let n = parts.length; n >= 2; n--) {
    const mod = parts.slice(0, n).join('/');
    const at = source.version === 'latest' ? '@latest' : `@v/${source.version}.info`;
    let info: { Version?: unknown };
    try {
      info = (await (await get(`${base(registries.goproxy)}/${goEscape(mod)}/${at}`, `Go module ${mod}`)).json()) as {
        Version?: unknown;
      };
    } catch (err) {
      if (err instanceof ApplicationFailure && err.nonRetryable) continue; // not this prefix
      throw err;
    }
    if (typeof info.Version !== 'string' || !/^v\d+\.\d+\.\d+/.test(info.Version))
      throw invalid(`Go module ${mod}: the proxy named no version`);
    return {
      resolved: { type: 'go', module: source.module, version: info.Version, args: source.args, env: source.env },
      integrity: await goIntegrity(mod, info.Version, registries),
    } satisfies Omit<ResolvedBuild, 'revision'>;
  }
  throw invalid(`Go package ${source.module}@${source.version} not found on ${new URL(registries.goproxy).host}`);
}

/**
 * The module's `h1:` hash from the checksum database (what go.sum records), asked through the module
 * proxy first as the go command does (a proxy may serve the database where its host is unreachable);
 * without one (GOSUMDB=off, or the database unreachable) the sha256 of the zip the proxy serves, so
 * the ledger still says what was built.
 */
async function goIntegrity(mod: string, version: string, registries: PackageRegistries): Promise<string | null> {
  if (registries.gosumdb !== 'off') {
    const host = registries.gosumdb.split(/\s+/)[0]!;
    const lookup = `lookup/${goEscape(mod)}@${version}`;
    for (const url of [`${base(registries.goproxy)}/sumdb/${host}/${lookup}`, `https://${host}/${lookup}`]) {
      const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) }).catch(() => undefined);
      const text = res?.ok ? await res.text() : '';
      const h1 = new RegExp(`^${mod.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ${version} (h1:\\S+)$`, 'm').exec(
        text,
      )?.[1];
      if (h1) return h1;
    }
  }
  const zip = await get(
    `${base(registries.goproxy)}/${goEscape(mod)}/@v/${version}.zip`,
    `Go module ${mod}@${version}`,
    '*/*',
  );
  return `sha256:${createHash('sha256')
    .update(Buffer.from(await zip.arrayBuffer()))
    .digest('hex')}`;
}

async function resolvePypi(source: Extract<PackageSource, { type: 'pypi' }>, index: string) {
  // The JSON API beside the simple index (`…/simple` → `…/pypi/<name>/<version>/json`).
  const api = base(index).replace(/\/simple$/, '');
  const doc = (await (
    await get(
      `${api}/pypi/${source.package}/${source.version}/json`,
      `PyPI package ${source.package}==${source.version}`,
    )
  ).json()) as {
    info?: { version?: unknown };
    urls?: { packagetype?: unknown; digests?: { sha256?: unknown } }[];
  };
  const version = typeof doc.info?.version === 'string' ? doc.info.version : source.version;
  const file = doc.urls?.find((u) => u.packagetype === 'bdist_wheel') ?? doc.urls?.[0];
  return {
    resolved: pypiResolved(source, version),
    integrity: typeof file?.digests?.sha256 === 'string' ? `sha256:${file.digests.sha256}` : null,
  } satisfies Omit<ResolvedBuild, 'revision'>;
}

/** PyPI's JSON API does not list entry points: the console script is, by convention, the project's name. */
export const pypiResolved = (source: Extract<PackageSource, { type: 'pypi' }>, version: string): ResolvedPackage => ({
  type: 'pypi',
  name: source.package,
  version,
  script: source.package.toLowerCase().replace(/[._]+/g, '-'),
  args: source.args,
  env: source.env,
});

export function createPackageActivities(deps: {
  workDir: string;
  baseImages: BaseImages;
  registries: PackageRegistries;
}) {
  return {
    /** The package's exact version and integrity, and the revision its build is keyed by. */
    async resolvePackage({
      source,
      transport,
    }: {
      source: PackageSource;
      transport?: ServerTransport;
    }): Promise<ResolvedBuild> {
      const found =
        source.type === 'npm'
          ? await resolveNpm(source, deps.registries.npm)
          : source.type === 'go'
            ? await resolveGo(source, deps.registries)
            : await resolvePypi(source, deps.registries.pypi);
      const revision = createHash('sha256')
        .update(
          JSON.stringify([GENERATOR_VERSION, found.resolved, found.integrity, transport ?? 'stdio', deps.baseImages]),
        )
        .digest('hex');
      return { ...found, revision };
    },

    /** A build context of one Dockerfile, installing exactly the resolved package. */
    async preparePackage(input: {
      serverId: number;
      revision: string;
      resolved: ResolvedPackage;
      transport?: ServerTransport;
    }): Promise<PreparedSource> {
      const dir = join(deps.workDir, `server-${input.serverId}`, `${input.revision.slice(0, 40)}-package`);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const dockerfile = packageDockerfile(input.resolved, deps.baseImages, {
        transport: input.transport,
      });
      await writeFile(join(dir, 'Dockerfile'), dockerfile);
      return { contextDir: dir, revision: input.revision, dockerfileGenerated: true, dockerfile: 'Dockerfile' };
    },
  };
}
