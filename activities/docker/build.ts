// One image per platform through the real dockerd (classic builder, as the daemon here offers).
// Progress is heartbeated; cancellation aborts the request, and the daemon stops the build.
import { constants } from 'node:fs';
import { lstat, open, realpath } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import dockerignoreModule from '@balena/dockerignore';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { fromImages, pinFromImages, splitImage } from '../../lib/build/base-pinning.js';
import { declarePlatformArgs, platformSlug } from '../../lib/build/platform.js';
import { readJsonStream } from '../../lib/docker.js';
import { RegistryClient, RegistryError, type Manifest } from '../../lib/registry/client.js';
import { ErrorType } from '../../lib/errors.js';
import { mayNameImage } from '../../lib/registry/namespace.js';
import { parseRegistry } from '../../lib/registry/reference.js';
import { isTransportFailure } from '../../lib/registry/transport-failure.js';
import { imageRegistryHost, resolveAllowedHost, SourceHostRefused, type HostPolicy } from '../../lib/source-policy.js';
import type { BuildSettings, PlatformBuild } from '../../workflows/build-and-publish.messages.js';
import type { ServerTransport } from '../../lib/schemas/servers.js';
import type { RegistryCredentials } from '../../lib/registry/dockerconfig.js';
import type { CredentialManager } from '../registry/credentials.js';
import type { BaseRegistryLogins } from './base-registry-logins.js';
import { createBuildEgress } from './build-egress.js';
import { createBuildNetworkPool } from './build-network-pool.js';
import type { BuildLog, Telemetry } from '../telemetry.js';

export interface BuildPlatformInput {
  runId: number;
  serverId: number;
  platform: string;
  contextDir: string;
  revision: string;
  settings: BuildSettings;
  /** The Dockerfile relative to contextDir; `Dockerfile` when absent. */
  dockerfile?: string;
  /** Declared by the server: labelled on the image, whatever the Dockerfile says. */
  transport?: ServerTransport;
}

// Heartbeats are also how a cancellation (fail-fast, stop) reaches the build: the workflow's
// heartbeatTimeout bounds how often the SDK actually sends them, this only keeps one pending.
const HEARTBEAT_MS = 2_000;

/** Largest Dockerfile or .dockerignore read from a checkout. */
export const CONTROL_FILE_MAX_BYTES = 1024 * 1024;

/**
 * A checkout's Dockerfile or .dockerignore, or undefined when absent. Refused (BuildContextInvalid,
 * naming the file, never its content) when it is a symlink, not a regular file, or larger than
 * CONTROL_FILE_MAX_BYTES: the file is opened without following links and read within the bound.
 */
export async function readControlFile(dir: string, name: string): Promise<string | undefined> {
  const refuse = (why: string) => ApplicationFailure.nonRetryable(`${name} ${why}`, ErrorType.BuildContextInvalid);
  // A path's directories are not opened without following links: refuse any link on the way.
  if (name.includes('/')) {
    const real = await realpath(dirname(join(dir, name))).catch(() => undefined);
    if (real === undefined) return undefined;
    if (real !== join(await realpath(dir), dirname(name)))
      throw refuse('is under a symbolic link; it must be a regular file in the repository');
  }
  let handle;
  try {
    handle = await open(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw refuse('is a symbolic link; it must be a regular file in the repository');
    throw refuse(`cannot be opened (${code ?? 'error'})`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw refuse('is not a regular file');
    if (st.size > CONTROL_FILE_MAX_BYTES) throw refuse(`is larger than ${CONTROL_FILE_MAX_BYTES} bytes`);
    const buf = Buffer.alloc(CONTROL_FILE_MAX_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > CONTROL_FILE_MAX_BYTES) throw refuse(`is larger than ${CONTROL_FILE_MAX_BYTES} bytes`);
    }
    return buf.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** The patterns of a checkout's .dockerignore (none when absent), refused as readControlFile refuses. */
export async function dockerignorePatterns(dir: string): Promise<string[]> {
  const ignoreFile = await readControlFile(dir, '.dockerignore');
  return (ignoreFile ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/**
 * The build context: the checkout minus .git and whatever .dockerignore excludes (Dockerfile and
 * .dockerignore always sent, as the docker CLI does; the daemon drops them again when .dockerignore
 * names them). The Dockerfile sent is `dockerfile` — the per-platform pinned one — in place of the
 * checkout's: nothing is written into the checkout, so nothing of mcp-host's own reaches `COPY .`,
 * and concurrent builds for other platforms cannot see each other's Dockerfiles.
 */
export async function contextStream(
  dir: string,
  dockerfile: string,
  dockerfilePath = 'Dockerfile',
  patterns?: readonly string[],
): Promise<NodeJS.ReadableStream> {
  // A CommonJS module whose function sits on `.default`.
  const ig = dockerignoreModule
    .default({ ignorecase: false })
    .add(['.git', ...(patterns ?? (await dockerignorePatterns(dir)))]);
  const { mtime } = await lstat(join(dir, dockerfilePath));
  return tar.pack(dir, {
    ignore: (name) => {
      const rel = relative(dir, name);
      if (rel === 'Dockerfile') return true; // sent below, pinned
      return rel !== '' && rel !== '.dockerignore' && ig.ignores(rel);
    },
    finalize: false,
    finish: (pack) => {
      pack.entry({ name: 'Dockerfile', mode: 0o644, mtime }, dockerfile);
      pack.finalize();
    },
  }) as unknown as NodeJS.ReadableStream;
}

/**
 * `image@sha256:…` of `image`'s manifest for `platform`, read from its registry; undefined when the
 * registry cannot tell (unreachable, anonymous access refused, not an image) — the build then uses
 * the tag as written.
 *
 * For a base image in our own registry this is also the first use of our credentials in a build:
 * when the registry refuses them (a rotated password), they are refreshed here. Otherwise the
 * daemon's pull is refused the same way, the build fails, and the push — where auth failures are
 * otherwise healed — is never reached.
 */
async function pinForPlatform(
  image: string,
  platform: string,
  registry: string | null,
  credentials: CredentialManager,
  logins: ReadonlyMap<string, RegistryCredentials>,
  log: BuildLog,
): Promise<string | undefined> {
  const { host, repository, tag } = splitImage(image);
  const own = registry ? parseRegistry(registry) : undefined;
  const ownRegistry = own?.host === host;
  const scheme = ownRegistry ? own.scheme : /^(127\.|localhost(:|$))/.test(host) ? 'http' : 'https';
  const apiHost = host === 'docker.io' ? 'registry-1.docker.io' : host;
  const lookup = async () =>
    new RegistryClient({
      apiBase: `${scheme}://${apiHost}`,
      // The platform's own registry takes the platform's login; another, the server's own for it.
      credentials: ownRegistry ? await credentials.current() : logins.get(host),
      timeoutMs: 10_000,
    }).getManifest(repository, tag);
  try {
    let manifest: Manifest;
    try {
      manifest = await lookup();
    } catch (err) {
      const refused = err instanceof RegistryError && err.kind === 'auth';
      if (!(ownRegistry && refused && credentials.refreshConfigured)) throw err;
      log.line(`Registry refused the credentials for base image ${image}; refreshing them`);
      try {
        await credentials.refresh();
      } catch (refreshErr) {
        log.line(`Registry credential refresh failed: ${(refreshErr as Error).message}`);
        throw err;
      }
      log.line('Registry credentials refreshed');
      manifest = await lookup();
    }
    const [os, architecture, variant] = platform.split('/');
    const entries = Array.isArray(manifest.body.manifests) ? manifest.body.manifests : undefined;
    const digest = entries
      ? entries.find(
          (e) =>
            e?.platform?.os === os &&
            e.platform?.architecture === architecture &&
            (!variant || e.platform?.variant === variant),
        )?.digest
      : manifest.digest;
    if (typeof digest !== 'string') return undefined;
    return `${image.slice(0, image.length - (image.endsWith(`:${tag}`) ? tag.length + 1 : 0))}@${digest}`;
  } catch {
    return undefined;
  }
}

/** `<kind>PLATFORM`, `<kind>OS`, `<kind>ARCH` (and `<kind>VARIANT`) of a platform, as BuildKit sets them. */
function platformBuildArgs(kind: 'BUILD' | 'TARGET', platform: string): Record<string, string> {
  const [os, arch, variant] = platform.split('/');
  return {
    [`${kind}PLATFORM`]: platform,
    [`${kind}OS`]: os!,
    [`${kind}ARCH`]: arch!,
    ...(variant && { [`${kind}VARIANT`]: variant }),
  };
}

/** A build network's name: of this installation, run and platform (a retried attempt replaces it). */
function buildNetworkName(installation: string, input: { runId: number; platform: string }): string {
  return `mcp-build-${installation}-${input.runId}-${platformSlug(input.platform)}`;
}

/** `linux/arm64/v8` → the daemon's Architecture value `arm64`. */
const archOf = (platform: string) => platform.split('/')[1]!;

/** A daemon's error as the API shows it: at most 1,000 characters. */
const bounded = (text: string) => (text.length > 1_000 ? `${text.slice(0, 1_000)}…` : text);

/**
 * Refuses a FROM image whose registry the source policy does not allow (checked before pinning
 * contacts it, and so before the daemon pulls it). The platform's own registry is always allowed.
 * A name that does not resolve is left to the daemon's pull, which fails on its own.
 */
async function checkBaseRegistry(image: string, registry: string | null, policy: HostPolicy): Promise<void> {
  const { host, port } = imageRegistryHost(image);
  if (registry && parseRegistry(registry).host === splitImage(image).host) return;
  try {
    await resolveAllowedHost(policy, host, port);
  } catch (err) {
    if (err instanceof SourceHostRefused) {
      throw ApplicationFailure.nonRetryable(`base image ${image} ${err.message}`, ErrorType.SourceHostRefused);
    }
  }
}

/**
 * Refuses a FROM image of another owner's namespace, or one of the platform's own (a local build's
 * name, the registry outside every namespace): a build reads only its owner's images, and with the
 * platform's credentials only theirs. Builds recorded before namespaces (no owner) keep the old rule.
 */
function checkBaseTenancy(image: string, settings: BuildSettings): void {
  if (settings.ownerId === undefined || mayNameImage(image, settings.registry ?? undefined, settings.ownerId)) return;
  throw ApplicationFailure.nonRetryable(
    `base image ${image} not found (it is not in your namespace of the registry)`,
    ErrorType.BuildContextInvalid,
  );
}

export interface BuildNetworkSettings {
  /** The image of the build network's canary (DOCKER_CANARY_IMAGE: a shell with nc). */
  canaryImage: string;
  /** Pulls the canary's image when the daemon lacks it. */
  ensureCanaryImage: () => Promise<void>;
  /** Package registries and other hosts a build's RUN steps may reach through the egress proxy. */
  allowedHosts: string[];
  /** Build arguments naming the registries (npm_config_registry, GOPROXY, …). */
  registryArgs: Record<string, string>;
  idleTimeoutMs: number;
  /** This installation's id: build network names are global on the daemon. */
  installation: string;
  /** The worker's container, joined to build networks when the worker is not on the Docker host. */
  egressContainer?: string;
  /** Build networks kept open for builds to come (BUILD_NETWORK_POOL_SIZE); 0: each opens when its build asks. */
  poolSize: number;
  /** What goes wrong in the pool, outside any build (a build then opens its network itself). */
  warn: (message: string) => void;
  /** Registers what the worker's shutdown runs: the pool's untaken networks are removed. */
  onShutdown: (hook: () => Promise<void>) => void;
}

/** The daemon's key for a registry in X-Registry-Config: Docker Hub goes by its index URL. */
const registryConfigKey = (host: string) => (host === 'docker.io' ? 'https://index.docker.io/v1/' : host);

export function createDockerBuildActivities(
  docker: Docker,
  telemetry: Telemetry,
  credentials: CredentialManager,
  policy: HostPolicy,
  network: BuildNetworkSettings,
  baseLogins: BaseRegistryLogins,
) {
  const egress = createBuildEgress(docker, network.allowedHosts, network.canaryImage, network.egressContainer);
  const networks = createBuildNetworkPool(docker, egress, {
    size: network.poolSize,
    installation: network.installation,
    ready: network.ensureCanaryImage,
    warn: network.warn,
  });
  network.onShutdown(() => networks.close());
  let daemonPlatform: Promise<string> | undefined;
  /** The daemon's own platform: where RUN steps run without emulation. */
  const buildPlatform = () => {
    daemonPlatform ??= docker.version().then(
      (v) => `${v.Os}/${v.Arch}`,
      (err: unknown) => {
        daemonPlatform = undefined;
        throw err;
      },
    );
    return daemonPlatform;
  };
  return {
    async buildPlatformImage(input: BuildPlatformInput): Promise<PlatformBuild> {
      const ctx = Context.current();
      const log = telemetry.buildLog(input.runId, input.platform);
      const steps = telemetry.steps(input.serverId, input.runId, 'buildPlatformImage', input.platform);
      const localImage = `mcp-custom-${input.serverId}-${platformSlug(input.platform)}`;
      const abort = new AbortController();
      const onCancel = () => abort.abort();
      ctx.cancellationSignal.addEventListener('abort', onCancel);
      let progress = 'starting';
      let idleFailure: string | undefined;
      let stopIdle = () => {};
      let closeNetwork = async () => {};
      const beat = setInterval(() => ctx.heartbeat({ platform: input.platform, progress }), HEARTBEAT_MS);
      try {
        log.line(`Building image for ${input.platform}`);
        // A per-platform Dockerfile with every FROM pinned to that platform's digest.
        const dockerfilePath = input.dockerfile ?? 'Dockerfile';
        // A Dockerfile written for BuildKit names its platform arguments in FROM without declaring them.
        const original = declarePlatformArgs(await readControlFile(input.contextDir, dockerfilePath));
        if (original === undefined)
          throw ApplicationFailure.nonRetryable(
            `${dockerfilePath} is missing from the checkout`,
            ErrorType.BuildContextInvalid,
          );
        // Every refusal of the source comes before the daemon is asked for anything: opened beside
        // the pinning below, the build network would otherwise fail (or retry) first and hide it.
        const ignorePatterns = await dockerignorePatterns(input.contextDir);
        // A FROM's image never depends on the platform arguments (only its --platform does), so the
        // bases are judged before the daemon is asked for its platform.
        for (const { image } of fromImages(original)) {
          checkBaseTenancy(image, input.settings);
          await checkBaseRegistry(image, input.settings.registry, policy);
        }
        const platformArgs = {
          ...platformBuildArgs('BUILD', await buildPlatform()),
          ...platformBuildArgs('TARGET', input.platform),
        };
        const froms = fromImages(original, platformArgs);
        const logins = await baseLogins(input.serverId);
        // The network (a bridge, and its canary when none passed lately: the slow part) opens while
        // the bases are pinned; neither needs the other, and the build needs both.
        const pinning = steps.time('pin FROM', async () => {
          // Keyed by line: one image may be pinned for two platforms (a build platform's stage beside the target's).
          const pins = new Map<number, string>();
          for (const { line, image, platform = input.platform } of froms) {
            const pinned = await pinForPlatform(image, platform, input.settings.registry, credentials, logins, log);
            if (pinned) {
              pins.set(line, pinned);
              log.line(`Base image ${image} for ${platform} is ${pinned}`);
            }
          }
          return pins;
        });
        // RUN steps reach the package registries through the egress proxy, nothing else.
        const opening = steps.time('open build network', async () => {
          await network.ensureCanaryImage();
          return networks.open(buildNetworkName(network.installation, input), log).catch((err: Error) => {
            throw ApplicationFailure.nonRetryable(
              `the build network cannot open: ${err.message}`,
              ErrorType.BuildFailed,
            );
          });
        });
        const [pinned, opened] = await Promise.allSettled([pinning, opening]);
        if (opened.status === 'fulfilled') closeNetwork = opened.value.close;
        if (pinned.status === 'rejected') throw pinned.reason;
        if (opened.status === 'rejected') throw opened.reason;
        const pins = pinned.value;
        const net = opened.value;
        const allPinned = froms.every(({ line }) => pins.has(line));
        // Base images may live in the same (authenticated) registry the build pushes to. Read after
        // pinning, which may have refreshed them.
        // The server's own logins (source.registry_credentials) go beside it, each for its registry only.
        const creds = input.settings.registry ? await credentials.current() : undefined;
        const registryconfig =
          creds || logins.size > 0
            ? {
                ...Object.fromEntries([...logins].map(([host, login]) => [registryConfigKey(host), login])),
                ...(creds && { [parseRegistry(input.settings.registry!).host]: creds }),
              }
            : undefined;
        // Provenance labels as one LABEL line: the classic builder spends a step (~1 s here) per label option.
        const transport = input.transport ? ` "io.mcp-host.transport"="${input.transport}"` : '';
        const provenance = `\nLABEL "mcp-host.server-id"="${input.serverId}" "mcp-host.revision"="${input.revision}"${transport}\n`;
        const context = await contextStream(
          input.contextDir,
          pinFromImages(original, pins) + provenance,
          dockerfilePath,
          ignorePatterns,
        );
        // A build printing nothing for long fails with what it was waiting on, never hangs silently.
        let idleSince = Date.now();
        const idle = setInterval(() => {
          if (Date.now() - idleSince < network.idleTimeoutMs) return;
          idleFailure = `no output for ${Math.round(network.idleTimeoutMs / 1000)} s (build network: ${net.summary()})`;
          abort.abort();
        }, 1_000);
        stopIdle = () => clearInterval(idle);
        const built = await steps.time('docker build', async () => {
          const stream = (await docker.buildImage(context, {
            networkmode: net.networkMode,
            buildargs: {
              ...net.buildArgs,
              ...network.registryArgs,
              // The classic builder does not set these itself; generated Go builds cross-compile with them.
              ...platformArgs,
            },
            t: `${localImage}:latest`,
            dockerfile: 'Dockerfile',
            version: '1', // the classic builder: what this daemon runs
            ...(registryconfig && { registryconfig }),
            // With every FROM pinned, the digests choose each stage's platform. The classic builder checks
            // every image a step reads against `platform`, a stage of the build platform's too
            // (`FROM --platform=$BUILDPLATFORM`: "failed to get destination image ... wanted linux/arm64"),
            // so it is given only when a base is unpinned, for the daemon to pick that base's platform.
            ...(!allPinned && { platform: input.platform }),
            // A base the registry could not pin may exist only on the daemon (a local image): use it as it is.
            pull: allPinned,
            nocache: input.settings.noCache,
            ...(input.settings.cacheFrom.length > 0 && { cachefrom: JSON.stringify(input.settings.cacheFrom) }),
            rm: true,
            forcerm: true,
            abortSignal: abort.signal,
          } as Docker.ImageBuildOptions & { abortSignal: AbortSignal })) as NodeJS.ReadableStream;
          let failure: string | undefined;
          let imageId: string | undefined;
          await readJsonStream(stream, (msg) => {
            idleSince = Date.now();
            if (msg.stream) {
              log.line(msg.stream);
              const step = /^Step \d+\/\d+/.exec(msg.stream.trim());
              if (step) progress = step[0];
            }
            if (msg.error || msg.errorDetail)
              failure = bounded(msg.errorDetail?.message ?? msg.error ?? 'unknown build error');
            if (msg.aux?.ID) imageId = msg.aux.ID;
          });
          return { failure, imageId };
        });
        const { failure, imageId } = built;
        if (failure && isTransportFailure(failure)) {
          // The daemon could not reach a registry (pulling a base image): retried by Temporal.
          log.line(`Image build for ${input.platform} could not reach the registry, will retry: ${failure}`);
          throw ApplicationFailure.retryable(
            `image build for ${input.platform} could not reach the registry: ${failure}`,
            ErrorType.RegistryTransport,
          );
        }
        if (failure) {
          log.line(`Image build failed for ${input.platform}: ${failure}`);
          throw ApplicationFailure.nonRetryable(
            `image build failed for ${input.platform}: ${failure}`,
            ErrorType.BuildFailed,
          );
        }
        const inspected = await steps.time('inspect', () => docker.getImage(`${localImage}:latest`).inspect());
        // A misconfigured emulator silently builds the host's architecture: refuse such an image.
        if (inspected.Architecture !== archOf(input.platform)) {
          throw ApplicationFailure.nonRetryable(
            `built image for ${input.platform} reports architecture ${inspected.Architecture}`,
            ErrorType.BuildFailed,
          );
        }
        log.line(`Built ${localImage}:latest (${input.platform})`);
        return { platform: input.platform, localImage: `${localImage}:latest`, imageId: imageId ?? inspected.Id };
      } catch (err) {
        if (idleFailure) {
          log.line(`Image build failed for ${input.platform}: ${idleFailure}`);
          throw ApplicationFailure.nonRetryable(
            `image build failed for ${input.platform}: ${idleFailure}`,
            ErrorType.BuildFailed,
          );
        }
        if (abort.signal.aborted) {
          log.line(`Build for ${input.platform} cancelled`);
          throw ctx.cancellationSignal.reason ?? err;
        }
        throw err;
      } finally {
        stopIdle();
        await closeNetwork().catch(() => undefined);
        clearInterval(beat);
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
        await Promise.all([log.flush(), steps.flush()]);
      }
    },

    /** `mcp-custom-<id>:latest` names the first target's image, for runtimes that use local images. */
    async tagLocalAlias({ runId, from, to }: { serverId: number; runId?: number; from: string; to: string }) {
      try {
        await docker.getImage(from).tag({ repo: to, tag: 'latest' });
      } catch (err) {
        // With a registry the build may succeed without the alias: its log says why it is stale.
        if (runId !== undefined) {
          const log = telemetry.buildLog(runId, null);
          log.line(`Tagging the local alias ${to}:latest failed: ${bounded((err as Error).message)}`);
          await log.flush();
        }
        throw err;
      }
    },
  };
}
