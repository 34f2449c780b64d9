// A build's network: its RUN steps reach the package registries and nothing else. Each platform
// build gets a Docker bridge network of its own, internal (no route out) and named `mcpb-…`, so
// the host's network policy (scripts/stack/sandbox.nft, table mcphost_build) drops everything it sends to the host
// — Postgres, Temporal, the API, the registry, other tenants — but the build egress proxy's port
// on the bridge's own gateway address. The proxy runs in the worker, so builds reach exactly the
// registries the worker reaches, by name, through the worker's resolver: HTTP CONNECT (and plain
// HTTP) to the allowed hosts only. RUN steps find it through HTTP(S)_PROXY build arguments, which
// Docker keeps out of the image's history; no credential of the worker's is ever handed on.
//
// The RUN steps do not join the bridge themselves: one holder container per build network does
// (unprivileged, read-only, idle), and every RUN step joins its network namespace
// (`container:<holder>`). The packets leave through the holder's port on the same bridge, so the
// policy is the same; what is saved is the daemon's per-container bridge attachment (a veth pair,
// an address, the embedded resolver: about a second per RUN step on this daemon, where joining an
// existing namespace costs what a container without network does).
//
// When the worker runs in a container (docker-compose.yml: BUILD_EGRESS_CONTAINER names it), the
// bridge's gateway address is the Docker host's, not the worker's. The worker's container is then
// joined to each build network and the proxy listens on its address there (and nowhere else); it
// leaves the network before the network is removed. The build shares a bridge with the worker and
// nothing else of the control plane: the policy lets a build bridge's own frames through to port 3128
// only (where br_netfilter passes them to it), the worker listens on nothing else, and a worker that
// would forward IP packets (net.ipv4.ip_forward, which the compose file sets to 0) is refused, since a
// RUN step could then send packets through it to the worker's other networks (Postgres, Temporal).
// The canary's listener then runs in a container on the host's network, as for servers' networks.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type Docker from 'dockerode';
import type { BuildLog } from '../telemetry.js';
import { createNetworkCanary, removeNetwork as removeBridgeNetwork } from './network-canary.js';

/** The proxy's port on every build network (sandbox.nft lets `mcpb-*` reach only this one). */
export const BUILD_PROXY_PORT = 3128;

/** How long one upstream connection may take to open before the build is told why. */
const CONNECT_TIMEOUT_MS = 30_000;

/**
 * How long a passed canary vouches for the policy (as the servers' networks' canary does): the rule
 * matches every build bridge by its name's prefix, so what one build network proved holds for the
 * next. A failed canary is never remembered, and a network that fails to open forgets the pass.
 */
const CANARY_TTL_MS = 60_000;

const BRIDGE_OPTION = 'com.docker.network.bridge.name';
const MASQUERADE_OPTION = 'com.docker.network.bridge.enable_ip_masquerade';

/** A build network before its build: bridge, running holder and the proxy's address on it. */
export interface PreparedNetwork {
  name: string;
  bridge: string;
  gateway: string;
  holder: Docker.Container;
  networkMode: string;
  address: string;
  /** Removes the holder, then the network (the worker's container leaves it first). */
  remove(): Promise<void>;
}

export interface BuildNetwork {
  /** The build's network mode for its RUN steps: the holder's namespace on the build network. */
  networkMode: string;
  /** Build arguments that point RUN steps at the proxy. */
  buildArgs: Record<string, string>;
  /** Hosts contacted and refused so far, for a failure's reason. */
  summary(): string;
  close(): Promise<void>;
}

/** `host` from `https://host[:port]/…`, `host:port` or `host`. */
export function hostOf(entry: string): string {
  const text = entry.trim().toLowerCase();
  if (/^[a-z]+:\/\//.test(text)) return new URL(text).hostname;
  return text.replace(/:\d+$/, '');
}

/** Whether `host` is allowed: an exact entry, or under a `.suffix` entry. */
export function hostAllowed(host: string, allowed: ReadonlySet<string>): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (allowed.has(h)) return true;
  for (const entry of allowed) if (entry.startsWith('.') && h.endsWith(entry)) return true;
  return false;
}

/**
 * Why a container that joins build networks must not: it forwards IP packets (IPv4, or IPv6 where the
 * kernel has it). `read` gives a /proc/sys file's text, undefined when absent.
 */
export async function forwardingProblem(
  read: (path: string) => Promise<string | undefined>,
): Promise<string | undefined> {
  for (const key of ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding']) {
    const value = (await read(`/proc/sys/${key}`))?.trim();
    if (value !== undefined && value !== '0')
      return `the worker's container forwards IP packets (${key.replace(/\//g, '.')}=${value}), so a build joined to it could reach its other networks; set it to 0 (compose: sysctls)`;
  }
  return undefined;
}

const procSys = (path: string) => readFile(path, 'utf8').catch(() => undefined);

/** Removals here pass over every failure: cleaning up never fails a build (a network left behind goes when its build opens it again). */
const ignore = () => undefined;

export function createBuildEgress(
  docker: Docker,
  allowedHosts: readonly string[],
  canaryImage: string,
  /** The worker's own container when it is not on the Docker host (BUILD_EGRESS_CONTAINER). */
  container?: string,
) {
  const allowed = new Set(allowedHosts.map(hostOf));
  let passedAt = -Infinity;
  /** The canary under way: builds opening their networks at once (the platforms of one build) share it. */
  let canaryRun: Promise<void> | undefined;
  const vouch = async (networkMode: string, gateway: string) => {
    if (Date.now() - passedAt < CANARY_TTL_MS) return;
    canaryRun ??= canary(networkMode, gateway)
      .then(() => {
        passedAt = Date.now();
      })
      .finally(() => {
        canaryRun = undefined;
      });
    await canaryRun;
  };

  const canaries = createNetworkCanary(docker, {
    image: canaryImage,
    onHost: !container,
    removalFailed: ignore,
    cannotListen: (err) => err,
    listenerDidNotStart: (port, output) =>
      new Error(`the build network canary's listener on the host's port ${port} did not start: ${output}`),
  });

  /**
   * Before a build uses the network: a container on it must not reach a listener of the host's on
   * the bridge's gateway (any port but the proxy's). Otherwise the policy is missing and the build is
   * refused — never run with the host reachable. It runs where the RUN steps run: in the holder's
   * namespace.
   */
  async function canary(networkMode: string, gateway: string): Promise<void> {
    const listener = await canaries.hostListener(gateway);
    const { port } = listener;
    try {
      const out = await canaries.probe(
        networkMode,
        `if echo | timeout 3 nc -w 2 ${gateway} ${port} >/dev/null 2>&1; then echo canary:reached; else echo canary:blocked; fi`,
      );
      if ((await listener.reached()) || out.includes('canary:reached'))
        throw new Error(
          `a build network reaches the host (${gateway}:${port}): the build network policy is missing; load it with nft -f scripts/stack/sandbox.nft`,
        );
      if (!out.includes('canary:blocked'))
        throw new Error(`the build network canary did not run: ${out.trim().slice(0, 200)}`);
    } finally {
      await listener.close();
    }
  }

  /** Removes the network, after the worker's container (and whatever else is still joined) leaves it. */
  const removeNetwork = (name: string) => removeBridgeNetwork(docker, name, ignore);

  /** Where the proxy listens on the network: the gateway (the worker is the host), or the worker's address on it. */
  async function proxyAddress(name: string, gateway: string): Promise<string> {
    if (!container) return gateway;
    const problem = await forwardingProblem(procSys);
    if (problem) throw new Error(problem);
    await docker.getNetwork(name).connect({ Container: container });
    const ip = (await docker.getContainer(container).inspect()).NetworkSettings.Networks?.[name]?.IPAddress;
    if (!ip) throw new Error(`the worker's container ${container} (BUILD_EGRESS_CONTAINER) has no address on ${name}`);
    return ip;
  }

  /**
   * A build network without its proxy: the bridge, its holder (running), the canary's pass, and the
   * address the proxy is to listen on. Labels mark what the pool opened, for a worker start to find it.
   */
  async function prepare(name: string, labels: Record<string, string> = {}): Promise<PreparedNetwork> {
    const bridge = `mcpb-${randomBytes(5).toString('hex')}`;
    const holderName = `${name}-net`;
    const managed = { 'mcp-host.managed': 'true', 'mcp-host.build': 'true', ...labels };
    const network = await docker.createNetwork({
      Name: name,
      Driver: 'bridge',
      CheckDuplicate: true,
      Internal: true,
      Labels: managed,
      Options: { [BRIDGE_OPTION]: bridge, [MASQUERADE_OPTION]: 'false' },
    });
    let holder: Docker.Container | undefined;
    const remove = async () => {
      await holder?.remove({ force: true }).catch(() => undefined);
      await removeNetwork(name);
    };
    try {
      const gateway = (await network.inspect()).IPAM?.Config?.[0]?.Gateway as string | undefined;
      if (!gateway) throw new Error(`the build network ${name} has no gateway address`);
      holder = await docker.createContainer({
        name: holderName,
        Image: canaryImage,
        Entrypoint: ['sh', '-c', 'while :; do sleep 3600; done'],
        Cmd: [],
        User: '65534:65534',
        Labels: managed,
        HostConfig: {
          NetworkMode: name,
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          ReadonlyRootfs: true,
          Memory: 32 * 1024 * 1024,
          PidsLimit: 8,
        },
      });
      await holder.start();
      const networkMode = `container:${holder.id}`;
      await vouch(networkMode, gateway);
      const address = await proxyAddress(name, gateway);
      return { name, bridge, gateway, holder, networkMode, address, remove };
    } catch (err) {
      passedAt = -Infinity;
      await remove();
      throw err;
    }
  }

  /**
   * Whether a prepared network is still as prepare left it: the holder running on it, the bridge
   * internal, unmasqueraded and named for the policy's rule. The canary's pass is renewed when it is
   * older than its time, in the holder's namespace, as for a network opened on the spot.
   */
  async function check(prepared: PreparedNetwork): Promise<void> {
    const [holder, net] = await Promise.all([
      prepared.holder.inspect(),
      docker.getNetwork(prepared.name).inspect() as Promise<{
        Internal?: boolean;
        Options?: Record<string, string>;
        Containers?: Record<string, unknown>;
      }>,
    ]);
    if (!holder.State.Running) throw new Error(`the holder of ${prepared.name} is not running`);
    if (
      !net.Internal ||
      net.Options?.[BRIDGE_OPTION] !== prepared.bridge ||
      net.Options?.[MASQUERADE_OPTION] !== 'false' ||
      !net.Containers?.[holder.Id]
    )
      throw new Error(`the build network ${prepared.name} is not as it was opened`);
    await vouch(prepared.networkMode, prepared.gateway);
  }

  /** Removes what an attempt that did not finish left under `name`: the holder first, or the network cannot go. */
  async function removeLeftover(name: string): Promise<void> {
    const holder = docker.getContainer(`${name}-net`);
    // A pooled network's holder is renamed for the build that takes it; its network keeps the pool's name.
    const joined = await holder
      .inspect()
      .then((info) => info.HostConfig.NetworkMode)
      .catch(() => undefined);
    await holder.remove({ force: true }).catch(() => undefined);
    if (joined && joined !== name && joined.startsWith('mcp-build-')) await removeNetwork(joined);
    await removeNetwork(name);
  }

  /** The build's proxy on a prepared network: the build's own log, and what it contacted and refused. */
  async function serve(prepared: PreparedNetwork, log: BuildLog): Promise<BuildNetwork> {
    const { networkMode, address, remove } = prepared;
    let server: Server | undefined;
    const sockets = new Set<Socket>();
    const contacted = new Set<string>();
    const refused = new Set<string>();
    try {
      const admit = (host: string): boolean => {
        if (!hostAllowed(host, allowed)) {
          if (!refused.has(host))
            log.line(`Build network: refused ${host} (not a package registry of this installation)`);
          refused.add(host);
          return false;
        }
        if (!contacted.has(host)) log.line(`Build network: fetching from ${host}`);
        contacted.add(host);
        return true;
      };
      const track = (s: Socket) => {
        sockets.add(s);
        s.once('close', () => sockets.delete(s));
      };

      server = createServer((req, res) => {
        // Plain HTTP through the proxy (`GET http://host/…`).
        let target: URL;
        try {
          target = new URL(req.url ?? '');
        } catch {
          res.writeHead(400).end('absolute URL required');
          return;
        }
        if (target.protocol !== 'http:' || !admit(target.hostname)) {
          res.writeHead(403).end(`${target.hostname} is not an allowed package registry`);
          return;
        }
        const headers = { ...req.headers };
        delete headers['proxy-authorization'];
        delete headers['proxy-connection'];
        const upstream = httpRequest(
          target,
          { method: req.method, headers, timeout: CONNECT_TIMEOUT_MS },
          (up: IncomingMessage) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        upstream.on('timeout', () => upstream.destroy(new Error('timed out')));
        upstream.on('error', (err) => {
          log.line(`Build network: ${target.hostname} failed: ${err.message}`);
          if (!res.headersSent) res.writeHead(502);
          res.end();
        });
        req.pipe(upstream);
      });
      server.on('connection', track);
      server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
        const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(req.url ?? '');
        const host = m?.[1]?.toLowerCase();
        const port = Number(m?.[2]);
        if (!host || !(port === 443 || port === 80) || !admit(host)) {
          client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
          return;
        }
        const upstream = connect({ host, port, timeout: CONNECT_TIMEOUT_MS });
        track(upstream);
        upstream.once('connect', () => {
          upstream.setTimeout(0);
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length) upstream.write(head);
          upstream.pipe(client);
          client.pipe(upstream);
        });
        upstream.once('timeout', () =>
          upstream.destroy(new Error(`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`)),
        );
        upstream.once('error', (err) => {
          log.line(`Build network: ${host}:${port} failed: ${err.message}`);
          client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
        });
        client.once('error', () => upstream.destroy());
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(BUILD_PROXY_PORT, address, () => resolve());
      });

      const proxy = `http://${address}:${BUILD_PROXY_PORT}`;
      return {
        networkMode,
        buildArgs: {
          // Predefined proxy arguments: usable by every RUN step, never recorded in the image.
          HTTP_PROXY: proxy,
          HTTPS_PROXY: proxy,
          http_proxy: proxy,
          https_proxy: proxy,
          NO_PROXY: '',
          no_proxy: '',
        },
        summary: () =>
          [
            contacted.size ? `contacted ${[...contacted].join(', ')}` : 'contacted no registry',
            ...(refused.size ? [`refused ${[...refused].join(', ')}`] : []),
          ].join('; '),
        close: async () => {
          for (const s of sockets) s.destroy();
          await new Promise<void>((resolve) => server!.close(() => resolve()));
          await remove();
        },
      };
    } catch (err) {
      server?.close();
      await remove();
      throw err;
    }
  }

  return {
    allowed: [...allowed],
    prepare,
    check,
    serve,
    removeLeftover,

    /** A build network opened on the spot, named `name` (a retried attempt's is replaced). */
    async open(name: string, log: BuildLog): Promise<BuildNetwork> {
      await removeLeftover(name);
      return serve(await prepare(name), log);
    },
  };
}

export type BuildEgress = ReturnType<typeof createBuildEgress>;
