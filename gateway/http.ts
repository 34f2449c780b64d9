// The HTTP server the gateway is reached on: node:http, each request offered to the gateway's own
// handler first (`/mcp/<server-id>`, relayed without Web streams in between), the rest to Hono.
import { createServer, type RequestListener, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Gateway } from './app.js';

type Fetch = Parameters<typeof getRequestListener>[0];

/** A request listener: the gateway's relay, else `fetch` (the Hono app holding everything else). */
export function gatewayFirst(gateway: Pick<Gateway, 'handle'>, fetch: Fetch): RequestListener {
  const rest = getRequestListener(fetch);
  return (req, res) => {
    if (!gateway.handle(req, res)) void rest(req, res);
  };
}

/** A server listening on `hostname:port` with the gateway first (port 0: a free one). */
export function serveGateway(
  options: { gateway: Pick<Gateway, 'handle'>; fetch: Fetch; hostname: string; port: number },
  listening?: (address: { address: string; port: number }) => void,
): Server {
  const server = createServer(gatewayFirst(options.gateway, options.fetch));
  server.listen(options.port, options.hostname, () => {
    const address = server.address() as { address: string; port: number };
    listening?.(address);
  });
  return server;
}
