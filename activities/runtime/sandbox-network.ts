// A network of its own for every hosted server and every evaluation container: a Docker bridge
// network whose Linux bridge is named by the server's egress (`mcpn-…` none, `mcpe-…` internet), so
// the host's tenant network policy (scripts/stack/sandbox.nft) applies to it. The host — the worker,
// the gateway, the health probe — reaches the server at its container address on that bridge; nothing
// is published on the host. Before launches a canary on a fresh network checks that the policy is in
// force, and a launch is refused, with the reason, when it is not.
//
// When the control plane runs in containers (docker-compose.yml), the host's address on the bridge is
// not theirs, and Docker isolates one bridge network from another: the containers named in
// DOCKER_ATTACH_CONTAINERS (the API for the gateway, the worker for health probes) are joined to each
// server's network instead, and leave it before it is removed. Their traffic with the server stays on
// that one bridge (the policy lets frames between a tenant bridge's own ports through), so nothing is
// routed: the server still reaches no other network of theirs (Postgres and Temporal are never joined;
// a container does not forward, and a server has no capability to change its routes) and no other
// server (each has a bridge of its own). The canary's listener then runs in a container on the host's
// network, since the worker is not there.
import { createHash, randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type Docker from 'dockerode';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import type { ConfigValues } from '../../lib/schemas/secrets.js';
import { createNetworkCanary, removeNetwork, type HostListener } from '../docker/network-canary.js';

export type Egress = 'none' | 'internet';

/** A server's egress, from its config (`egress`, validated when the server is written); none by default. */
export const egressOf = (config: ConfigValues): Egress => (config.egress === 'internet' ? 'internet' : 'none');

/** How long a passed canary vouches for the policy; a failed one is never remembered. */
const CANARY_TTL_MS = 60_000;

/** Linux bridge names: the egress prefix and 10 hex characters (interface names stop at 15). */
const bridgeName = (egress: Egress, key: string) => `${egress === 'internet' ? 'mcpe' : 'mcpn'}-${key}`;

const BRIDGE_OPTION = 'com.docker.network.bridge.name';

const notFound = (err: { statusCode?: number }) => {
  if (err.statusCode !== 404) throw err;
};

export function createSandboxNetworks(
  /** This installation's id, as the process read it at start. */
  installation: string,
  env: Env,
  docker: Docker,
  ensureImage: (image: string) => Promise<unknown>,
) {
  let passedAt = 0;
  let canaryRun: Promise<void> | undefined;

  /** Runs the canary, once for concurrent callers; a pass is remembered from when it passed. */
  const runCanary = () =>
    (canaryRun ??= canary()
      .then(() => {
        passedAt = Date.now();
      })
      .finally(() => {
        canaryRun = undefined;
      }));

  /** Bridge names are global on the host: keyed by the installation, so parallel stacks never collide. */
  function keyOf(name: string): string {
    return createHash('sha256').update(`${installation}/${name}`).digest('hex').slice(0, 10);
  }

  async function create(name: string, bridge: string, egress: Egress, labels: Record<string, string>) {
    // Subnets come from the daemon's pool; another daemon may take the same one at the same moment.
    for (let attempt = 1; ; attempt++) {
      try {
        return await docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          CheckDuplicate: true,
          Internal: egress === 'none',
          Labels: { 'mcp-host.managed': 'true', 'mcp-host.egress': egress, ...labels },
          Options: { [BRIDGE_OPTION]: bridge, 'com.docker.network.bridge.enable_ip_masquerade': 'false' },
        });
      } catch (err) {
        if (attempt >= 3 || !/overlap/i.test((err as Error).message)) throw err;
      }
    }
  }

  /** Joins the control plane's containers (DOCKER_ATTACH_CONTAINERS) to the network; those already joined stay. */
  async function attach(name: string): Promise<void> {
    const network = docker.getNetwork(name);
    for (const container of env.DOCKER_ATTACH_CONTAINERS) {
      await network.connect({ Container: container }).catch((err: { statusCode?: number; message: string }) => {
        if (/already (exists|attached|connected)/i.test(err.message)) return; // joined before
        throw ApplicationFailure.retryable(
          `cannot join container ${container} (DOCKER_ATTACH_CONTAINERS) to network ${name}: ${err.message}`,
          ErrorType.LaunchFailed,
        );
      });
    }
  }

  /** Removes the network, after whatever containers are still joined to it (attach) leave: Docker refuses otherwise. */
  const remove = (name: string) => removeNetwork(docker, name, notFound);

  const canaries = createNetworkCanary(docker, {
    image: env.DOCKER_CANARY_IMAGE,
    // The control plane runs in containers (the worker's addresses are not the host's) when it names some to attach.
    onHost: env.DOCKER_ATTACH_CONTAINERS.length === 0,
    removalFailed: notFound,
    cannotListen: (err, gateway) =>
      refuse(
        `cannot listen on the canary network's gateway ${gateway} (${err.message}); the worker must run on the Docker host, or name its container in DOCKER_ATTACH_CONTAINERS`,
      ),
    listenerDidNotStart: (port, output) =>
      refuse(`the canary's listener on the host's port ${port} did not start: ${output}`),
  });

  /** Runs the canary: a container on a fresh egress-none network tries to reach a listener of the host's. */
  async function canary(): Promise<void> {
    const name = `mcp-canary-${randomBytes(5).toString('hex')}`;
    await ensureImage(env.DOCKER_CANARY_IMAGE).catch((err: Error) => {
      throw refuse(`the network canary cannot run (DOCKER_CANARY_IMAGE ${env.DOCKER_CANARY_IMAGE}): ${err.message}`);
    });
    const network = await create(name, bridgeName('none', randomBytes(5).toString('hex')), 'none', {
      'mcp-host.canary': 'true',
    });
    let listener: HostListener | undefined;
    try {
      const gateway = (await network.inspect()).IPAM?.Config?.[0]?.Gateway as string | undefined;
      if (!gateway) throw refuse(`the canary network ${name} has no gateway address`);
      listener = await canaries.hostListener(gateway);
      const { port } = listener;
      const output = await canaries.probe(
        name,
        `if echo | timeout 3 nc -w 2 ${gateway} ${port} >/dev/null 2>&1; then echo canary:reached; else echo canary:blocked; fi`,
      );
      if ((await listener.reached()) || output.includes('canary:reached')) {
        throw refuse(
          `a tenant network reaches the host (${gateway}:${port}): the tenant network policy is missing; load it with nft -f scripts/stack/sandbox.nft`,
        );
      }
      if (!output.includes('canary:blocked'))
        throw refuse(
          `the network canary (image ${env.DOCKER_CANARY_IMAGE}) did not run: ${output.trim().slice(0, 200)}`,
        );
    } finally {
      await listener?.close();
      await remove(name);
    }
  }

  return {
    /**
     * Passes when the policy was in force within the last minute; otherwise runs the canary (once
     * for concurrent callers) and passes only if it does. A pass past half its time is renewed in the
     * background by renewIfDue, so launches in a steady stream do not wait for the canary's two
     * containers (seconds on a busy daemon: most of a launch).
     */
    async verify(): Promise<void> {
      if (Date.now() - passedAt < CANARY_TTL_MS) return;
      await runCanary();
    },

    /**
     * Starts renewing a pass past half its time, without waiting for it (true when it did, or one
     * was under way); a renewal that fails withdraws the pass, and the next launch runs the canary
     * itself. Called once a launch has started its container: the canary's containers on the same
     * daemon would slow its create and start, while the pass that launch relied on is still within
     * its time.
     */
    renewIfDue(): boolean {
      const age = Date.now() - passedAt;
      if (age < CANARY_TTL_MS / 2 || age >= CANARY_TTL_MS) return false;
      runCanary().catch(() => {
        passedAt = 0;
      });
      return true;
    },

    /** The workload's network (named as the workload), created or replaced to match its egress. */
    async ensure(name: string, egress: Egress, labels: Record<string, string>): Promise<string> {
      const bridge = bridgeName(egress, keyOf(name));
      const existing = await docker
        .getNetwork(name)
        .inspect()
        .catch((err: { statusCode?: number }) => notFound(err));
      if (existing?.Options?.[BRIDGE_OPTION] !== bridge) {
        if (existing) await remove(name);
        await create(name, bridge, egress, labels);
      }
      // Also for a network that was there: a control-plane container made again since then joins it now.
      await attach(name);
      return name;
    },

    /** The container's address on its network, where the host reaches it. */
    async address(container: string, network: string): Promise<string> {
      const ip = (await docker.getContainer(container).inspect()).NetworkSettings.Networks?.[network]?.IPAddress;
      if (!ip)
        throw ApplicationFailure.nonRetryable(
          `container ${container} has no address on its network ${network}`,
          ErrorType.LaunchFailed,
        );
      return ip;
    },

    attach,
    remove,
  };
}

function refuse(reason: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`refusing to launch: ${reason}`, ErrorType.LaunchFailed);
}

export type SandboxNetworks = ReturnType<typeof createSandboxNetworks>;
