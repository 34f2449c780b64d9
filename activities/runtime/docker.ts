// The Docker executor: one container per MCP server (`mcp-server-<id>`), labelled, with the image
// the decision names, config as environment, no restart policy (its supervisor restarts it) and GPUs when asked, on a network of
// its own (sandbox-network.ts). A stdio server runs behind the stdio bridge (stdio-bridge.ts), so
// every server answers Streamable HTTP at its address on its network. Every container (servers and evaluations alike) runs hardened: not
// as root, no capabilities, no new privileges, a read-only root with a small tmpfs /tmp, Docker's
// default seccomp profile, and CPU, memory and process limits. Where it runs is recorded in
// server_runtimes, so stop, delete and logs work after any restart.
import { PassThrough } from 'node:stream';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type Docker from 'dockerode';
import type { Sql } from '../../lib/db.js';
import { readJsonStream } from '../../lib/docker.js';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import { recordDockerLaunch, recordEndpoint } from '../../lib/ledger/runtime.js';
import { everyOwner } from '../../lib/ledger/scope.js';
import { findServer } from '../../lib/ledger/servers.js';
import { freePort } from '../../lib/net.js';
import { EXECUTORS, type Capability, type ExecutorDescriptor } from '../../lib/policy/decide.js';
import { lendsCredentials, type PullFor } from '../../lib/registry/namespace.js';
import { parseRegistry } from '../../lib/registry/reference.js';
import type { Executor, LaunchInput, Launched, WorkloadState } from '../../lib/runtime/executor.js';
import { formatBytes, isPlatformConfigKey } from '../../lib/runtime/resources.js';
import { BRIDGE_DIR, BRIDGE_MCP_PATH, bridgeEnvironment, bridgedCommand } from '../../lib/runtime/stdio-bridge.js';
import type { CredentialManager } from '../registry/credentials.js';
import { createStepTimer, type StepTimer } from '../telemetry.js';
import { createSandboxNetworks, egressOf, type SandboxNetworks } from './sandbox-network.js';
import { cachedProbe, launchResources, linesOf } from './shared.js';
import { createDockerBridge, type DockerBridge } from './stdio-bridge.js';
import {
  prepareSecrets,
  secretMounts,
  secretsCommand,
  type ContainerSecrets,
  type SecretDelivery,
} from './secret-delivery.js';
import { plainSettings } from '../../lib/schemas/secrets.js';
import type { ConfigValues } from '../../lib/schemas/secrets.js';

export const containerName = (serverId: number) => `mcp-server-${serverId}`;

/** Stopping and removing a container by name (evaluations' throw-away containers too). */
export function dockerWorkloads(docker: Docker) {
  return {
    async stopContainer(name: string): Promise<void> {
      await docker
        .getContainer(name)
        .stop({ t: 10 })
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 304 && err.statusCode !== 404) throw err; // already stopped, or gone
        });
    },
    async removeContainer(name: string): Promise<void> {
      await docker
        .getContainer(name)
        .remove({ force: true })
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404) throw err;
        });
    },
  };
}

/** The image's own description of how to reach it (examples/hello-mcp sets these labels). */
export function endpointLabels(labels: Record<string, string> | undefined) {
  return {
    transport: labels?.['io.mcp-host.transport'] === 'stdio' ? ('stdio' as const) : ('streamable-http' as const),
    port: Number(labels?.['io.mcp-host.port'] ?? 8080),
    path: labels?.['io.mcp-host.path'] ?? '/mcp',
  };
}

/** What a container needs to know of its image: how to reach it, the USER it declares, what it runs. */
export interface ImageFacts extends ReturnType<typeof endpointLabels> {
  /** The image's USER, empty when it declares none. */
  user: string;
  /** The image's ENTRYPOINT and CMD: what the stdio bridge runs as its child. */
  entrypoint: string[] | null;
  cmd: string[] | null;
}

const imageFacts = (
  config:
    | {
        Labels?: Record<string, string> | null;
        User?: string;
        Entrypoint?: string | string[] | null;
        Cmd?: string[] | null;
      }
    | undefined,
): ImageFacts => ({
  ...endpointLabels(config?.Labels ?? undefined),
  user: config?.User ?? '',
  entrypoint: typeof config?.Entrypoint === 'string' ? [config.Entrypoint] : (config?.Entrypoint ?? null),
  cmd: config?.Cmd ?? null,
});

/** An image USER that means root: none at all, `root` or uid 0 (with any group). */
const isRootUser = (user: string) => /^(|root|0+)(:.*)?$/.test(user.trim());

/** Who the container runs as: the image's own non-root USER, else the platform's unprivileged uid and gid. */
export const containerUser = (imageUser: string, env: Env) =>
  isRootUser(imageUser) ? `${env.SERVER_DEFAULT_UID}:${env.SERVER_DEFAULT_GID}` : imageUser.trim();

/** How long a daemon that enforced every limit is believed to still: its cgroup controllers change only when it restarts. */
const LIMITS_TTL_MS = 60_000;
const limitsPassedAt = new WeakMap<Docker, number>();

/**
 * Refuses to launch on a daemon that would drop a limit: Docker ignores memory, CPU or pids limits
 * (with only a warning) when the cgroup controller for them is missing. A pass is remembered for
 * LIMITS_TTL_MS (docker info is one of the daemon's heavier answers); a refusal is never.
 */
async function assertLimitsEnforced(docker: Docker, name: string): Promise<void> {
  if (Date.now() - (limitsPassedAt.get(docker) ?? 0) < LIMITS_TTL_MS) return;
  const info = (await docker.info()) as { MemoryLimit?: boolean; PidsLimit?: boolean; CpuCfsQuota?: boolean };
  const missing = [
    !info.MemoryLimit && 'memory',
    !info.CpuCfsQuota && 'CPU (CFS quota)',
    !info.PidsLimit && 'pids',
  ].filter(Boolean);
  if (missing.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `container ${name} not launched: the Docker daemon cannot enforce ${missing.join(', ')} limits (cgroup controller missing)`,
      ErrorType.LaunchFailed,
    );
  }
  limitsPassedAt.set(docker, Date.now());
}

/** A container as the executor reports it; one killed for using more memory than its limit says so. */
export function containerState(name: string, inspected: Docker.ContainerInspectInfo): WorkloadState {
  const { State: state, HostConfig: host } = inspected;
  // A server that restarts after an OOM kill is Restarting (or exited) with OOMKilled set.
  if (state.OOMKilled && (!state.Running || state.Restarting)) {
    const limit = host.Memory ? ` of ${formatBytes(host.Memory)}` : '';
    return {
      state: 'exited',
      reason: `container ${name} was killed for exceeding its memory limit${limit} (OOMKilled, exit code ${state.ExitCode})`,
    };
  }
  return state.Running || state.Restarting
    ? { state: 'running', reason: `container ${name} is ${state.Status}` }
    : { state: 'exited', reason: `container ${name} is ${state.Status} (exit code ${state.ExitCode})` };
}

/**
 * The started container's address on its network. One that has already exited (it crashed on start)
 * has none: that is its exit (WorkloadExited, so its supervisor restarts it), not a failed launch.
 */
async function addressOf(container: Docker.Container, name: string, networks: SandboxNetworks): Promise<string> {
  try {
    return await networks.address(name, name);
  } catch (err) {
    const state = containerState(name, await container.inspect());
    if (state.state === 'exited') throw ApplicationFailure.nonRetryable(state.reason, ErrorType.WorkloadExited);
    throw err;
  }
}

export interface ContainerSpec {
  name: string;
  image: string;
  /** The image's labels (how to reach the server) and USER. */
  labels: ImageFacts;
  config: ConfigValues;
  useGpu: boolean;
  extraLabels: Record<string, string>;
  networks: SandboxNetworks;
  /** Where a stdio server's bridge comes from. */
  bridge: DockerBridge;
  /** The server's secrets, written for this launch (secret-delivery.ts). */
  secrets?: ContainerSecrets;
  /** Where the launch's steps are timed (a server's launch); untimed without. */
  steps?: StepTimer;
  /** prepareContainerRun's promise for this spec, when the caller started it early; started here otherwise. */
  prepared?: Promise<void>;
}

/** Runs `fn` as the step `step` of `steps`, or just runs it. */
const timed = <T>(steps: StepTimer | undefined, step: string, fn: () => Promise<T>): Promise<T> =>
  steps ? steps.time(step, fn) : fn();

/** Host networking only where the operator allowed it (the environment refuses it otherwise). */
const onHostNetwork = (env: Env) => env.DOCKER_NETWORK_MODE === 'host' && env.ALLOW_HOST_NETWORK;

/**
 * What a container's launch checks and readies that its image, owner and secrets have no part in:
 * the sandbox policy in force (the canary) and the container's network made to match its egress
 * (or, on the host network, its own network removed), and a daemon that enforces its limits. A
 * launch starts it at once, beside finding the image and writing the secrets, and runMcpContainer
 * awaits it before the create: nothing is created that these would refuse.
 */
export function prepareContainerRun(
  docker: Docker,
  env: Env,
  spec: Pick<ContainerSpec, 'name' | 'config' | 'extraLabels' | 'networks' | 'steps'>,
): Promise<void> {
  const { name, networks, steps } = spec;
  const network = onHostNetwork(env)
    ? timed(steps, 'remove network', () => networks.remove(name))
    : timed(steps, 'verify sandbox policy (canary)', () => networks.verify()).then(() =>
        timed(steps, 'ensure network', () => networks.ensure(name, egressOf(spec.config), spec.extraLabels)),
      );
  const prepared = Promise.all([
    network,
    timed(steps, 'docker info (limits enforced)', () => assertLimitsEnforced(docker, name)),
  ]).then(() => undefined);
  // Awaited later, or never when the launch fails first (the image, the secrets): not unhandled meanwhile.
  prepared.catch(() => undefined);
  return prepared;
}

/** The name an old container is set aside under while its replacement is created. */
const asideName = (name: string) => `${name}-replaced`;

/**
 * Moves the container `name` out of the way of its replacement (a rename: the daemon only records
 * it), so that removing it, which deletes its filesystem, need not hold up the new one's create.
 * Answers the name it now has, or undefined when there was none. One left aside by a launch that
 * died half-way is removed first.
 */
async function setAside(docker: Docker, name: string): Promise<string | undefined> {
  const aside = asideName(name);
  for (let attempt = 1; ; attempt++) {
    try {
      await docker.getContainer(name).rename({ name: aside });
      return aside;
    } catch (err) {
      const { statusCode } = err as { statusCode?: number };
      if (statusCode === 404) return undefined; // nothing to replace
      if (statusCode !== 409 || attempt > 1) throw err;
      await dockerWorkloads(docker).removeContainer(aside);
    }
  }
}

/**
 * Creates and starts an MCP server container (replacing one of the same name) and says where it
 * answers: a Streamable HTTP URL at its address on its own network. A stdio image runs behind the
 * stdio bridge: the bridge is its entrypoint, the image's own ENTRYPOINT and CMD its arguments.
 * The old container is set aside and removed while the new one is readied and created; the launch
 * ends once both are done, failed if either failed (the old one is gone whatever becomes of the new).
 */
export async function runMcpContainer(docker: Docker, env: Env, spec: ContainerSpec): Promise<Launched> {
  const { name, networks, steps } = spec;
  const prepared = spec.prepared ?? prepareContainerRun(docker, env, spec);
  const aside = await timed(steps, 'set old container aside', () => setAside(docker, name));
  const removing = aside
    ? timed(steps, 'remove old container', () => dockerWorkloads(docker).removeContainer(aside))
    : Promise.resolve();
  const [run, removed] = await Promise.allSettled([createAndStart(docker, env, spec, prepared), removing]);
  // The sandbox policy's canary is renewed now, if due, rather than beside this launch's own create and start.
  if (networks.renewIfDue()) await timed(steps, 'canary renewal started (in the background)', async () => {});
  if (run.status === 'rejected') throw run.reason;
  if (removed.status === 'rejected') throw removed.reason;
  return run.value;
}

async function createAndStart(
  docker: Docker,
  env: Env,
  spec: ContainerSpec,
  prepared: Promise<void>,
): Promise<Launched> {
  const { labels, name, networks, steps } = spec;
  const stdio = labels.transport === 'stdio';
  const { secrets } = spec;
  const command = secretsCommand(secrets, stdio ? bridgedCommand(labels.entrypoint, labels.cmd) : null, labels);
  if ((stdio || secrets?.asEnv) && !command) {
    throw ApplicationFailure.nonRetryable(
      `image ${spec.image} is a stdio server (io.mcp-host.transport=stdio) without ENTRYPOINT or CMD: nothing to run`,
      ErrorType.LaunchFailed,
    );
  }
  const hostNetwork = onHostNetwork(env);
  // On the host network the server listens on a port of its own, told through PORT.
  const port = hostNetwork ? await freePort() : labels.port;
  const path = stdio ? BRIDGE_MCP_PATH : labels.path;
  const resources = launchResources(`container ${name}`, spec.config, env);
  await timed(steps, 'wait for network and limits', () => prepared);
  const bridgeVolume =
    stdio || secrets?.asEnv
      ? await timed(steps, 'bridge volume', () => spec.bridge.volume(spec.image, { envFrom: secrets?.asEnv }))
      : undefined;
  const environment = [
    ...Object.entries(plainSettings(spec.config))
      .filter(([key]) => !isPlatformConfigKey(key))
      .map(([key, value]) => `${key}=${String(value)}`),
    ...(secrets?.env ?? []),
    ...(stdio ? bridgeEnvironment(env.STDIO_BRIDGE_MAX_SESSIONS).map(([key, value]) => `${key}=${value}`) : []),
    `PORT=${port}`,
  ];
  const container = await timed(steps, 'create container', () =>
    docker.createContainer({
      name,
      Image: spec.image,
      User: containerUser(labels.user, env),
      Env: environment,
      Labels: {
        'mcp-host.managed': 'true',
        ...spec.extraLabels,
        // How the server is reached, and that its image speaks stdio behind the bridge.
        'mcp-host.transport': 'streamable-http',
        ...(stdio && { 'mcp-host.bridged-from': 'stdio' }),
      },
      ...(command && { Entrypoint: command, Cmd: [] }),
      HostConfig: {
        NetworkMode: hostNetwork ? 'host' : name,
        // No restart policy: the server's supervisor notices an exit (awaitExit) and restarts it with
        // backoff, counting restarts toward crashloop; Docker restarting it behind its back would hide both.
        RestartPolicy: { Name: 'no' },
        // No capabilities and no way to gain privileges; Docker's default seccomp profile stays on
        // (nothing here may set seccomp=unconfined).
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': `rw,noexec,nosuid,nodev,size=${env.SERVER_TMPFS_SIZE}` },
        Mounts: [
          ...(bridgeVolume
            ? [{ Type: 'volume' as const, Source: bridgeVolume, Target: BRIDGE_DIR, ReadOnly: true }]
            : []),
          ...secretMounts(secrets),
        ],
        // The bridge would be PID 1: Docker's init reaps what its children leave and forwards signals.
        ...(bridgeVolume && { Init: true }),
        Memory: resources.memoryBytes,
        MemorySwap: resources.memoryBytes, // no swap beyond the memory limit
        NanoCpus: Math.round(resources.cpus * 1e9),
        PidsLimit: resources.pids,
        ...(spec.useGpu && {
          DeviceRequests: [{ Driver: 'nvidia', Count: env.SERVER_GPU_COUNT, Capabilities: [['gpu']] }],
        }),
      },
    }),
  );
  await timed(steps, 'start container', () => container.start());
  const address = hostNetwork
    ? '127.0.0.1'
    : await timed(steps, 'container address', () => addressOf(container, name, networks));
  return {
    workload: name,
    endpoint: `http://${address}:${port}${path}`,
    transport: 'streamable-http',
    ...(stdio && { bridgedFrom: 'stdio' as const }),
  };
}

/** Pulls an image unless the daemon has it, with the platform's registry credentials where `pullFor` may have them. */
export function imagePuller(docker: Docker, env: Env, credentials: CredentialManager) {
  return async function ensureImage(image: string, pullFor: PullFor): Promise<ImageFacts> {
    try {
      return imageFacts((await docker.getImage(image).inspect()).Config);
    } catch {
      // not here yet: pull it
    }
    const creds = await credentials.current();
    const authconfig =
      creds && env.REGISTRY && lendsCredentials(image, env.REGISTRY, pullFor)
        ? { username: creds.username, password: creds.password, serveraddress: parseRegistry(env.REGISTRY).host }
        : undefined;
    const stream = (await docker.pull(image, { authconfig })) as NodeJS.ReadableStream;
    let failure: string | undefined;
    await readJsonStream(stream, (msg) => {
      if (msg.error || msg.errorDetail) failure = msg.errorDetail?.message ?? msg.error;
      Context.current().heartbeat();
    });
    if (failure) throw ApplicationFailure.nonRetryable(`pulling ${image} failed: ${failure}`, ErrorType.LaunchFailed);
    return imageFacts((await docker.getImage(image).inspect()).Config);
  };
}

/**
 * The Docker executor as the daemon is now: absent when the daemon does not answer (the decision
 * then says `executor:unavailable:docker`), offering GPUs only where it has the NVIDIA runtime.
 */
async function describeDaemon(docker: Docker): Promise<ExecutorDescriptor | undefined> {
  const info = (await docker.info().catch(() => undefined)) as { Runtimes?: Record<string, unknown> } | undefined;
  if (!info) return undefined;
  const capabilities: Capability[] = ['image-build'];
  if (info.Runtimes && 'nvidia' in info.Runtimes) capabilities.push('gpu');
  return { ...EXECUTORS.docker, capabilities };
}

/** Docker multiplexes stdout and stderr into one stream (no TTY): split them back into text. */
function demux(docker: Docker, raw: NodeJS.ReadableStream): PassThrough {
  const out = new PassThrough();
  docker.modem.demuxStream(raw, out, out);
  raw.on('end', () => out.end());
  raw.on('error', (err) => out.destroy(err));
  return out;
}

export function createDockerExecutor(
  sql: Sql,
  env: Env,
  docker: Docker,
  credentials: CredentialManager,
  installation: string,
  secrets?: SecretDelivery,
) {
  const ensureImage = imagePuller(docker, env, credentials);
  const containers = dockerWorkloads(docker);
  const networks = createSandboxNetworks(installation, env, docker, (image) => ensureImage(image, 'platform'));
  const bridge = createDockerBridge(docker, env);
  return {
    backend: 'docker',
    describe: cachedProbe(() => describeDaemon(docker)),

    async launch(input: LaunchInput): Promise<Launched> {
      const name = containerName(input.serverId);
      // Where the launch's time goes (bench/launch reads it); a lost record never fails the launch.
      const steps = createStepTimer(
        sql,
        { serverId: input.serverId, runId: null, activity: 'launchServer', platform: null },
        (err) => log.warn('launch step timings lost', { err: (err as Error).message, serverId: input.serverId }),
      );
      const config = { ...input.config, MCP_SERVER_ID: input.serverId };
      const extraLabels = {
        'mcp-host.server-id': String(input.serverId),
        'mcp-host.decision-id': String(input.decisionId),
      };
      // The canary, the network and the daemon's limits need nothing of what follows: readied meanwhile.
      const prepared = prepareContainerRun(docker, env, { name, config, extraLabels, networks, steps });
      const { owner_id: ownerId } = await timed(steps, 'find server', () =>
        findServer(sql, input.serverId, everyOwner),
      );
      const labels = await timed(steps, 'image', () => ensureImage(input.image, { ownerId }));
      await timed(steps, 'record launch', () =>
        recordDockerLaunch(sql, {
          serverId: input.serverId,
          decisionId: input.decisionId,
          workload: name,
          image: input.image,
          transport: 'streamable-http',
        }),
      );
      const delivered = await timed(steps, 'deliver secrets', () =>
        prepareSecrets(secrets, name, ownerId, input.config, containerUser(labels.user, env)),
      );
      // A redeploy replaces the previous container.
      const launched = await runMcpContainer(docker, env, {
        name,
        image: input.image,
        labels,
        config,
        useGpu: input.useGpu,
        extraLabels,
        networks,
        bridge,
        secrets: delivered,
        steps,
        prepared,
      });
      await timed(steps, 'record endpoint', () => recordEndpoint(sql, input.serverId, launched.endpoint));
      await steps.flush();
      return launched;
    },

    async stop({ workload }) {
      await containers.stopContainer(workload);
      await secrets?.removeDocker(workload);
    },
    async remove({ workload }) {
      await containers.removeContainer(workload);
      await containers.removeContainer(asideName(workload)); // left by a launch that died half-way, if any
      await secrets?.removeDocker(workload);
      await networks.remove(workload);
    },

    async logs({ workload }, { tail }) {
      const raw = (await docker
        .getContainer(workload)
        .logs({ stdout: true, stderr: true, tail: tail ?? 100, follow: false })) as unknown as Buffer;
      const out = demux(docker, PassThrough.from(raw) as unknown as NodeJS.ReadableStream);
      const chunks: Buffer[] = [];
      for await (const chunk of out) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },

    async followLogs({ workload }, { tail }) {
      const raw = (await docker
        .getContainer(workload)
        .logs({ stdout: true, stderr: true, follow: true, tail: tail ?? 20 })) as NodeJS.ReadableStream & {
        destroy(): void;
      };
      return { lines: linesOf(demux(docker, raw)), stop: () => raw.destroy(), endReason: 'the workload stopped' };
    },

    async inspect({ workload }) {
      const state = containerState(workload, await docker.getContainer(workload).inspect());
      // Health checks and supervision's periodic probes inspect first: a control-plane container made
      // again since the launch (a new image) joins the server's network here, not only at the next
      // launch. Failing that shows as the probe's own failure to reach the server.
      if (state.state === 'running' && env.DOCKER_ATTACH_CONTAINERS.length > 0)
        await networks.attach(workload).catch(() => {});
      return state;
    },

    /** The daemon answers the wait when the container's process ends: no polling, noticed at once. */
    async awaitExit({ workload }, signal) {
      const container = docker.getContainer(workload);
      await container.wait({ condition: 'not-running', abortSignal: signal });
      return containerState(workload, await container.inspect());
    },
  } satisfies Executor<LaunchInput, Launched>;
}

export type DockerExecutor = ReturnType<typeof createDockerExecutor>;
