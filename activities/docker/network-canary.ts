// What the canaries of the servers' networks (runtime/sandbox-network.ts) and of the builds'
// (build-egress.ts) share: a container on a bridge network tries a port of the host's on the bridge's
// gateway, and the network policy is in force only when it does not get through. Each caller words
// its own failures (a refused launch, a failed build), so the errors are theirs to build. Also the
// removal of a bridge network, which Docker refuses while containers are still joined to it.
import { randomInt } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import type Docker from 'dockerode';

export interface HostListener {
  port: number;
  /** Whether anything connected to it. */
  reached(): Promise<boolean>;
  close(): Promise<void>;
}

/** What a failed removal (or the inspection before it) means to the caller: return to pass over it, throw to fail. */
export type RemovalFailed = (err: { statusCode?: number }) => void;

export interface NetworkCanaryOptions {
  /** The canary's image (DOCKER_CANARY_IMAGE): a shell with nc. */
  image: string;
  /** Whether the worker runs on the Docker host, so that its addresses are the host's. */
  onHost: boolean;
  removalFailed: RemovalFailed;
  /** The error for a worker on the Docker host that cannot listen on the gateway. */
  cannotListen(err: Error, gateway: string): Error;
  /** The error for a listener's container that did not come up; `output` is the start of what it printed. */
  listenerDidNotStart(port: number, output: string): Error;
}

const logsOf = async (c: Docker.Container) =>
  ((await c.logs({ stdout: true, stderr: true })) as unknown as Buffer).toString('utf8');

/** Removes the network, after whatever containers are still joined to it leave: Docker refuses otherwise. */
export async function removeNetwork(docker: Docker, name: string, removalFailed: RemovalFailed): Promise<void> {
  const network = docker.getNetwork(name);
  const info = (await network.inspect().catch(removalFailed)) as { Containers?: Record<string, unknown> } | undefined;
  if (!info) return;
  for (const id of Object.keys(info.Containers ?? {}))
    await network.disconnect({ Container: id, Force: true }).catch(() => undefined); // gone meanwhile
  await network.remove().catch(removalFailed);
}

export function createNetworkCanary(docker: Docker, options: NetworkCanaryOptions) {
  const { image, removalFailed } = options;

  /** A container of the canary image running `script` unprivileged, on `network`. */
  function container(network: string, script: string): Promise<Docker.Container> {
    return docker.createContainer({
      Image: image,
      Entrypoint: ['sh', '-c', script],
      Cmd: [],
      User: '65534:65534',
      Labels: { 'mcp-host.managed': 'true', 'mcp-host.canary': 'true' },
      HostConfig: { NetworkMode: network, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'] },
    });
  }

  return {
    /** What `script` prints, run to its end in a canary container on `network` (a name, or `container:<id>`). */
    async probe(network: string, script: string): Promise<string> {
      const probe = await container(network, script);
      try {
        await probe.start();
        await probe.wait();
        return await logsOf(probe);
      } finally {
        await probe.remove({ force: true }).catch(removalFailed);
      }
    },

    /**
     * Something of the host's listening at a port of the gateway: the worker itself when it runs on the
     * Docker host, else (its addresses are not the host's) a container on the host's network, on every address.
     */
    async hostListener(gateway: string): Promise<HostListener> {
      if (options.onHost) {
        let reached = false;
        const listener = createServer((socket) => {
          reached = true;
          socket.destroy();
        });
        await new Promise<void>((resolve, reject) => listener.once('error', reject).listen(0, gateway, resolve)).catch(
          (err: Error) => {
            throw options.cannotListen(err, gateway);
          },
        );
        return {
          port: (listener.address() as AddressInfo).port,
          reached: async () => reached,
          close: async () => void listener.close(),
        };
      }
      const port = 20_000 + randomInt(40_000);
      // nc exits 0 once a connection came; `listening` only when it is still up a moment after start (bound).
      const listener = await container(
        'host',
        `(nc -l -p ${port} </dev/null >/dev/null 2>&1 && echo canary:reached) & sleep 1; kill -0 $! 2>/dev/null && echo canary:listening; wait`,
      );
      const close = async () => {
        await listener.remove({ force: true }).catch(removalFailed);
      };
      try {
        await listener.start();
        for (let waited = 0; !(await logsOf(listener)).includes('canary:listening'); waited += 250) {
          if (waited > 10_000 || !(await listener.inspect()).State.Running)
            throw options.listenerDidNotStart(port, (await logsOf(listener)).trim().slice(0, 200));
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      } catch (err) {
        await close();
        throw err;
      }
      return { port, reached: async () => (await logsOf(listener)).includes('canary:reached'), close };
    },
  };
}
