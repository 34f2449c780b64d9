// Build networks opened before their builds (BUILD_NETWORK_POOL_SIZE of them): a bridge, its
// running holder and the canary's pass take about a second per platform on this daemon, most of
// what the pipeline adds to a build. A build takes a pooled network that no build has used, after
// checking that it is still as it was opened (build-egress.ts: check); each one serves one build and
// is then removed, never handed to another, so nothing of one tenant's build (a process left in the
// holder's namespace, a connection, an address) meets the next. A replacement opens in the background
// once the build's network is gone, so the daemon's work for it does not slow the builds under way.
//
// Pooled networks are named `mcp-build-<installation>-pool-<random>` and labelled with the
// installation; a build renames the holder it takes after its run and platform, so a retried attempt
// removes what the one before left (removeLeftover), and what a worker start removes — networks of
// the pool that no build has taken, left by a worker that stopped without closing its pool — is only
// what bears the pool's names. Another worker's untaken network removed that way fails its check and
// is replaced, which is all it costs.
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import type { BuildLog } from '../telemetry.js';
import { removeNetwork } from './network-canary.js';
import type { BuildEgress, BuildNetwork, PreparedNetwork } from './build-egress.js';

const POOL_LABEL = 'mcp-host.build-pool';

export interface BuildNetworkPoolOptions {
  /** How many untaken networks are kept open; 0 opens every network when its build asks. */
  size: number;
  /** This installation's id: network names are global on the daemon. */
  installation: string;
  /** Before the first network opens: the holder's (the canary's) image present. */
  ready: () => Promise<void>;
  /** A network that failed to open or its check, and a leftover that could not go: never a build's failure. */
  warn: (message: string) => void;
}

export function createBuildNetworkPool(docker: Docker, egress: BuildEgress, options: BuildNetworkPoolOptions) {
  const { size, installation } = options;
  const prefix = `mcp-build-${installation}-pool-`;
  const idle: PreparedNetwork[] = [];
  /** Networks being opened for the pool. */
  const opening = new Set<Promise<void>>();
  /** Networks of finished builds being removed. */
  const removing = new Set<Promise<void>>();
  let closed = false;
  /** The leftovers' removal, once, before the pool's first network opens. */
  let started: Promise<void> | undefined;

  /** Removes the untaken networks of this installation's pool, and their holders, that a stopped worker left. */
  async function removeLeftovers(): Promise<void> {
    const filters = JSON.stringify({ label: [`${POOL_LABEL}=${installation}`] });
    const networks = await docker.listNetworks({ filters });
    for (const { Name } of networks) {
      if (!Name.startsWith(prefix)) continue;
      const info = (await docker
        .getNetwork(Name)
        .inspect()
        .catch(() => undefined)) as { Containers?: Record<string, { Name?: string }> } | undefined;
      // A holder renamed for a build: that build's (or its retry's) to remove.
      const taken = Object.values(info?.Containers ?? {}).some((c) => isTakenHolder(c.Name));
      if (taken) continue;
      await docker
        .getContainer(`${Name}-net`)
        .remove({ force: true })
        .catch(() => undefined);
      await removeNetwork(docker, Name, () => undefined);
    }
  }

  /** A holder renamed after the build that took it: `mcp-build-<installation>-<run>-<platform>-net`. */
  const isTakenHolder = (name: string | undefined) =>
    name !== undefined &&
    !name.startsWith(prefix) &&
    name.startsWith(`mcp-build-${installation}-`) &&
    name.endsWith('-net');

  /** Opens networks in the background until `size` are untaken or opening. */
  function fill(): void {
    started ??= options
      .ready()
      .then(removeLeftovers)
      .catch((err: Error) => options.warn(`build network pool: leftovers not removed: ${err.message}`));
    while (!closed && idle.length + opening.size < size) {
      const name = `${prefix}${randomBytes(5).toString('hex')}`;
      const run: Promise<void> = started
        .then(() => egress.prepare(name, { [POOL_LABEL]: installation }))
        .then(
          (prepared) => {
            if (closed) return prepared.remove();
            idle.push(prepared);
          },
          (err: Error) => options.warn(`build network pool: ${name} did not open: ${err.message}`),
        )
        .finally(() => opening.delete(run));
      opening.add(run);
    }
  }

  /** A pooled network that passes its check, renamed for the build; undefined when none does. */
  async function takeChecked(name: string): Promise<PreparedNetwork | undefined> {
    for (let prepared = idle.shift(); prepared; prepared = idle.shift()) {
      try {
        await prepared.holder.rename({ name: `${name}-net` });
        await egress.check(prepared);
        return prepared;
      } catch (err) {
        options.warn(`build network pool: ${prepared.name} discarded: ${(err as Error).message}`);
        void prepared.remove();
      }
    }
    return undefined;
  }

  if (size > 0) fill();

  return {
    /** The build's network: a pooled one when one passes its check, else one opened now under `name`. */
    async open(name: string, log: BuildLog): Promise<BuildNetwork> {
      await egress.removeLeftover(name);
      const prepared = size > 0 ? await takeChecked(name) : undefined;
      let net: BuildNetwork;
      if (!prepared) {
        if (size > 0) fill();
        net = await egress.serve(await egress.prepare(name), log);
      } else {
        net = await egress.serve(prepared, log).catch((err: unknown) => {
          fill();
          throw err;
        });
      }
      return {
        ...net,
        // The proxy stops at once (its connections are cut before close() first yields); removing the
        // holder and the bridge (a few hundred ms) goes on after the build returns, off its critical
        // path: the build's RUN containers are gone by then, and the network serves no other build.
        // The replacement opens once this network is gone, not beside the build it served.
        close: async () => {
          const removal: Promise<void> = net
            .close()
            .catch((err: Error) => options.warn(`build network ${name} not removed: ${err.message}`))
            .finally(() => {
              removing.delete(removal);
              if (size > 0) fill();
            });
          removing.add(removal);
        },
      };
    },

    /** Removes the untaken networks, and waits for those of finished builds to go; those of builds under way go when their builds end. */
    async close(): Promise<void> {
      closed = true;
      await Promise.allSettled([...opening, ...removing]);
      await Promise.allSettled(idle.splice(0).map((p) => p.remove()));
    },
  };
}

export type BuildNetworkPool = ReturnType<typeof createBuildNetworkPool>;
