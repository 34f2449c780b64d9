// The one part of a node that pod logs need: the kubelet's /containerLogs endpoint, over TLS with
// the certificate kube-apiserver was told to trust. No kubelet can run here (it needs a container
// runtime); kube-apiserver itself is real and proxies `pods/<name>/log` to this.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface KubeletStandIn {
  port: number;
  /** Paths with query strings, as kube-apiserver asked for them. */
  requests: string[];
  /** Output of a container, by `<namespace>/<pod>/<container>`. */
  logs: Map<string, string>;
  stop(): Promise<void>;
}

export async function startKubeletStandIn(tls: { cert: string; key: string }): Promise<KubeletStandIn> {
  const requests: string[] = [];
  const logs = new Map<string, string>();
  const server: Server = createServer(tls, (req, res) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const match = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    const text = match ? logs.get(`${match[1]}/${match[2]}/${match[3]}`) : undefined;
    if (text === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    const tail = Number(url.searchParams.get('tailLines') ?? 'NaN');
    const lines = text.split(/(?<=\n)/);
    const shown = Number.isInteger(tail) ? lines.slice(-tail) : lines;
    res.writeHead(200, { 'content-type': 'text/plain' });
    if (url.searchParams.get('follow') !== 'true') {
      res.end(shown.join(''));
      return;
    }
    // Following: one line at a time, then the container "exits".
    let i = 0;
    const next = () => (i < shown.length ? (res.write(shown[i++]), setTimeout(next, 50)) : res.end());
    next();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    logs,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
