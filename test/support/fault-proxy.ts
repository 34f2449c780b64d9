// A TCP proxy in front of a real server that can break connections on demand (registry, git, API…):
//
//   'pass'        forward bytes both ways.
//   'reset-next'  the next N requests are cut: the first chunk a client sends (on a new connection or
//                 on a kept-alive one) is dropped and the connection is reset (RST, ECONNRESET for
//                 the client) before the server sees it; after N of them, back to 'pass'.
//   'refuse'      every connection is accepted and reset at once (ECONNRESET).
//   'down'        every connection is accepted and closed at once (FIN: "socket hang up" / "other
//                 side closed").
//
// Switching to 'refuse' or 'down' also cuts the connections already open, so clients that pool
// connections (fetch, dockerd) cannot sneak past on a kept-alive socket.
import { createConnection, createServer, type Socket } from 'node:net';

export type FaultMode = 'pass' | 'reset-next' | 'refuse' | 'down';

export interface FaultProxyStats {
  /** Connections accepted by the proxy, in any mode. */
  accepted: number;
  /** Connections open right now. */
  active: number;
  /** Connections forwarded to the target. */
  forwarded: number;
  /** Connections cut by 'reset-next'. */
  reset: number;
  /** Connections turned away by 'refuse' / 'down'. */
  refused: number;
}

export interface FaultProxy {
  port: number;
  /** 127.0.0.1:<port> */
  address: string;
  readonly mode: FaultMode;
  /** `count` is for 'reset-next' (default 1). */
  setMode(mode: FaultMode, count?: number): void;
  /** Live counters. */
  readonly connections: Readonly<FaultProxyStats>;
  stop(): Promise<void>;
}

export async function startFaultProxy(opts: { target: { host?: string; port: number }; port?: number }): Promise<FaultProxy> {
  const targetHost = opts.target.host ?? '127.0.0.1';
  let mode: FaultMode = 'pass';
  let resetsLeft = 0;
  const stats: FaultProxyStats = { accepted: 0, active: 0, forwarded: 0, reset: 0, refused: 0 };
  const open = new Set<{ client: Socket; upstream: Socket }>();

  const turnAway = (client: Socket, how: 'refuse' | 'down') => (how === 'refuse' ? client.resetAndDestroy() : client.destroy());

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
    client.on('error', () => close(true));
    upstream.on('error', () => close(true));
    client.on('close', () => close(false));
    upstream.on('close', () => close(false));
    client.on('data', (chunk) => {
      if (resetsLeft > 0) {
        resetsLeft--;
        if (resetsLeft === 0 && mode === 'reset-next') mode = 'pass';
        stats.reset++;
        close(true);
        return;
      }
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
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
    setMode(next, count = 1) {
      mode = next;
      resetsLeft = next === 'reset-next' ? count : 0;
      if (next === 'refuse' || next === 'down') {
        for (const { client, upstream } of [...open]) {
          upstream.destroy();
          turnAway(client, next);
        }
      }
    },
    async stop() {
      for (const { client, upstream } of [...open]) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
