// The Kubernetes API client (@kubernetes/client-node), built lazily from K8S_KUBECONFIG / KUBECONFIG
// (else in-cluster or ~/.kube/config), so processes that never touch Kubernetes need no cluster.
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  Watch,
  ApiException,
  VersionApi,
} from '@kubernetes/client-node';
import type { Env } from '../env.js';

export interface KubeClient {
  readonly namespace: string;
  core(): CoreV1Api;
  apps(): AppsV1Api;
  networking(): NetworkingV1Api;
  watch(): Watch;
  config(): KubeConfig;
  /** The API server answers (GET /version within a few seconds). */
  reachable(): Promise<boolean>;
}

export function createKubeClient(env: Pick<Env, 'K8S_KUBECONFIG' | 'KUBECONFIG' | 'K8S_NAMESPACE'>): KubeClient {
  let config: KubeConfig | undefined;
  const load = () => {
    if (config) return config;
    const kc = new KubeConfig();
    const path = env.K8S_KUBECONFIG ?? env.KUBECONFIG;
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
    config = kc;
    return kc;
  };
  return {
    namespace: env.K8S_NAMESPACE,
    core: () => load().makeApiClient(CoreV1Api),
    apps: () => load().makeApiClient(AppsV1Api),
    networking: () => load().makeApiClient(NetworkingV1Api),
    watch: () => new Watch(load()),
    config: load,
    async reachable() {
      try {
        const version = load().makeApiClient(VersionApi);
        await Promise.race([
          version.getCode(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 3_000)),
        ]);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** The HTTP status of a failed API call (undefined when the server was not reached at all). */
export function kubeStatus(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/**
 * A one-line error for logs and failures. client-node's own messages carry the response body and
 * headers; this keeps only the status code and the API server's message (which redacts secret data).
 */
export function kubeError(what: string, err: unknown): Error {
  if (err instanceof ApiException) {
    let message = '';
    try {
      const body = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as
        { message?: string; reason?: string } | undefined;
      message = body?.message ?? body?.reason ?? '';
    } catch {
      // a body that is not a Status: the code says enough
    }
    return new Error(`${what}: HTTP ${err.code}${message ? ` ${message.slice(0, 300)}` : ''}`);
  }
  const cause = err as { code?: string; message?: string };
  return new Error(
    `${what}: ${cause.code ?? ''}${cause.code ? ' ' : ''}${String(cause.message ?? err)
      .split('\n')[0]!
      .slice(0, 300)}`,
  );
}
