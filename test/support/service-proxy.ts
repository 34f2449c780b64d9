// What stands for a cluster's Service routing (its DNS and kube-proxy) in the Kubernetes tests, whose
// API and worker run outside the cluster: an HTTP proxy on loopback that K8S_SERVICE_ENDPOINT names
// (`endpoint`), sending each request for `/<namespace>/<service>/<path>` to a Ready pod the Service
// selects, on the host port the kubelet stand-in runs that pod's server on. With no Ready pod it
// answers 503, as a connection to a Service without endpoints is refused. So the gateway and the
// supervisor's probes reach a pod the way they would through the cluster's network.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { PodRunner } from './kubelet-stand-in.js';

export interface ServiceProxy {
  /** K8S_SERVICE_ENDPOINT for the harness. */
  endpoint: string;
  /** The pod each proxied request went to, oldest first. */
  routed: string[];
  stop(): Promise<void>;
}

const ready = (pod: V1Pod) =>
  !pod.metadata?.deletionTimestamp &&
  (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

export async function startServiceProxy(opts: { kubeconfig: string; node: PodRunner }): Promise<ServiceProxy> {
  const kc = new KubeConfig();
  kc.loadFromFile(opts.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const routed: string[] = [];

  /** A Ready pod of the Service and its host port; undefined when it has none. */
  async function backend(namespace: string, name: string): Promise<{ pod: string; port: number } | undefined> {
    const service = await core.readNamespacedService({ name, namespace }).catch(() => undefined);
    const selector = service?.spec?.selector;
    if (!selector) return undefined;
    const labelSelector = Object.entries(selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const pods = (await core.listNamespacedPod({ namespace, labelSelector })).items.filter(ready);
    for (const pod of pods) {
      const port = opts.node.port(pod.metadata!.name!);
      if (port !== undefined) return { pod: pod.metadata!.name!, port };
    }
    return undefined;
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const [, namespace, service, ...rest] = url.pathname.split('/');
    const refuse = (status: number, why: string) => {
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(why);
    };
    if (!namespace || !service) return refuse(404, 'expected /<namespace>/<service>/<path>');
    backend(namespace, service).then(
      (to) => {
        if (!to) return refuse(503, `service ${namespace}/${service} has no ready endpoint`);
        routed.push(to.pod);
        const upstream = request(
          {
            host: '127.0.0.1',
            port: to.port,
            method: req.method,
            path: `/${rest.join('/')}${url.search}`,
            headers: { ...req.headers, host: `127.0.0.1:${to.port}` },
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', (err) => refuse(502, err.message));
        res.on('close', () => upstream.destroy());
        req.pipe(upstream);
      },
      (err: Error) => refuse(502, err.message),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}/{namespace}/{service}{path}`,
    routed,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
