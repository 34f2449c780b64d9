// A TCP proxy in front of a real server that can break connections on demand (registry, git, API…):
//
//   'pass'        forward bytes both ways.
//   'reset-next'  the next N requests are cut: the first chunk a client sends (on a new connection or
//                 on a kept-alive one) is dropped and the connection is reset (RST, ECONNRESET for
//                 the client) before the server sees it; after N of them, back to 'pass'.
//   'hold'        the next N requests are held: their first chunk is kept back (the client waits for
//                 an answer) until the mode changes, when the held chunks are forwarded as they are
//                 (or, for 'refuse' / 'down', dropped with their connections).
//   'refuse'      every connection is accepted and reset at once (ECONNRESET).
//   'down'        every connection is accepted and closed at once (FIN: "socket hang up" / "other
//                 side closed").
//
// 'reset-next' and 'hold' take an optional `match`: only chunks whose first line matches count (and
// are cut or held), e.g. /^PUT \/v2\/app\/manifests\// singles out one request of an HTTP client;
// everything else passes. Without `match` every chunk counts.
//
// Switching to 'refuse' or 'down' also cuts the connections already open, so clients that pool
// connections (fetch, dockerd) cannot sneak past on a kept-alive socket.
import { createConnection, createServer, type Socket } from 'node:net';

export type FaultMode = 'pass' | 'reset-next' | 'hold' | 'refuse' | 'down';

export interface FaultProxyStats {
  /** Connections accepted by the proxy, in any mode. */
  accepted: number;
  /** Connections open right now. */
  active: number;
  /** Connections forwarded to the target. */
  forwarded: number;
  /** Connections cut by 'reset-next'. */
  reset: number;
  /** Requests held by 'hold' so far (released or not). */
  held: number;
  /** Connections turned away by 'refuse' / 'down'. */
  refused: number;
}

export interface FaultProxy {
  port: number;
  /** 127.0.0.1:<port> */
  address: string;
  readonly mode: FaultMode;
  /** `count` is for 'reset-next' and 'hold' (default 1); `match` picks the requests they apply to. */
  setMode(mode: FaultMode, count?: number, opts?: { match?: RegExp }): void;
  /** Live counters. */
  readonly connections: Readonly<FaultProxyStats>;
  /** First lines of the last 500 plain-text request chunks seen ("GET /v2/ HTTP/1.1"), oldest first. */
  readonly requests: readonly string[];
  stop(): Promise<void>;
}

/** The first line of a chunk when it looks like the start of an HTTP/1 request, else undefined. */
function requestLine(chunk: Buffer): string | undefined {
  const head = chunk.subarray(0, 2048).toString('latin1');
  const line = head.split('\r\n', 1)[0]!;
  return /^[A-Z]+ \S+ HTTP\/1\.[01]$/.test(line) ? line : undefined;
}

export async function startFaultProxy(opts: {
  target: { host?: string; port: number };
  port?: number;
}): Promise<FaultProxy> {
  const targetHost = opts.target.host ?? '127.0.0.1';
  let mode: FaultMode = 'pass';
  let left = 0;
  let match: RegExp | undefined;
  const stats: FaultProxyStats = { accepted: 0, active: 0, forwarded: 0, reset: 0, held: 0, refused: 0 };
  const requests: string[] = [];
  const open = new Set<{ client: Socket; upstream: Socket }>();
  /** Held chunks, forwarded when the mode changes. */
  let holding: (() => void)[] = [];

  const turnAway = (client: Socket, how: 'refuse' | 'down') =>
    how === 'refuse' ? client.resetAndDestroy() : client.destroy();
  /** Whether `chunk` is one the armed 'reset-next'/'hold' applies to (and counts it). */
  const takes = (chunk: Buffer, line: string | undefined): boolean => {
    if ((mode !== 'reset-next' && mode !== 'hold') || left <= 0) return false;
    if (match && !match.test(line ?? chunk.subarray(0, 256).toString('latin1'))) return false;
    left--;
    return true;
  };

  const server = createServer((client) => {
    stats.accepted++;
    if (mode === 'refuse' || mode === 'down') {
      stats.refused++;
      client.on('error', () => {});
      turnAway(client, mode);
      return;
    }
    stats.forwarded++;
    stats.active++;
    const upstream = createConnection({ host: targetHost, port: opts.target.port });
    const pair = { client, upstream };
    open.add(pair);
    let closed = false;
    const close = (reset: boolean) => {
      if (closed) return;
      closed = true;
      open.delete(pair);
      stats.active--;
      if (reset) client.resetAndDestroy();
      else client.destroy();
      upstream.destroy();
    };
    const forward = (chunk: Buffer) => {
      if (closed) return;
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    };
    client.on('error', () => close(true));
    upstream.on('error', () => close(true));
    client.on('close', () => close(false));
    upstream.on('close', () => close(false));
    client.on('data', (chunk: Buffer) => {
      const line = requestLine(chunk);
      if (line) {
        requests.push(line);
        if (requests.length > 500) requests.shift();
      }
      if (takes(chunk, line)) {
        if (mode === 'reset-next') {
          if (left === 0) mode = 'pass';
          stats.reset++;
          close(true);
          return;
        }
        // 'hold': keep this chunk and everything after it on this connection until released.
        stats.held++;
        client.pause();
        holding.push(() => {
          forward(chunk);
          client.resume();
        });
        return;
      }
      forward(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.pipe(client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  return {
    port,
    address: `127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    connections: stats,
    requests,
    setMode(next, count = 1, options = {}) {
      mode = next;
      left = next === 'reset-next' || next === 'hold' ? count : 0;
      match = options.match;
      if (next === 'refuse' || next === 'down') {
        holding = []; // their connections are cut below: held requests never arrive
        for (const { client, upstream } of [...open]) {
          upstream.destroy();
          turnAway(client, next);
        }
      }
      if (next !== 'hold') {
        const release = holding;
        holding = [];
        for (const go of release) go();
      }
    },
    async stop() {
      holding = [];
      for (const { client, upstream } of [...open]) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
