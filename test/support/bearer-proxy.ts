// A loopback HTTP proxy that adds `Authorization: Bearer <token>` to every request, for a client that cannot
// send headers of its own (the MCP conformance CLI). Everything else passes as the client sent it — Host and
// Origin included, so the server behind judges what the client sent — and responses stream back as they come
// (SSE). A client that goes away takes its upstream request with it, as a closed SSE stream must.
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Headers of one hop only: each side of the proxy sets its own. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection'];

const withoutHopByHop = (headers: IncomingHttpHeaders) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.includes(name)));

export interface BearerProxy {
  /** The proxy's URL for `path` (as on the target). */
  url(path: string): string;
  /** Requests forwarded so far. */
  forwarded: number;
  stop(): Promise<void>;
}

export async function startBearerProxy(target: string, token: string): Promise<BearerProxy> {
  const base = new URL(target);
  const proxy: BearerProxy = { url: () => '', forwarded: 0, stop: async () => {} };
  const server = createServer((req, res) => {
    proxy.forwarded++;
    const upstream = request(
      {
        host: base.hostname,
        port: base.port,
        method: req.method,
        path: req.url,
        headers: { ...withoutHopByHop(req.headers), authorization: `Bearer ${token}` },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, withoutHopByHop(answer.headers));
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`bearer proxy: ${err.message}`);
      else res.destroy();
    });
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  proxy.url = (path) => `http://127.0.0.1:${port}${path}`;
  proxy.stop = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}
