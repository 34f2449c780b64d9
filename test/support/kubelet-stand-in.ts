// The node side of the test cluster, as far as mcp-host can see it. No kubelet can run here (it needs
// a container runtime); kube-apiserver and kube-controller-manager are real, and this stands in for
// the node:
// - the kubelet's /containerLogs endpoint, over TLS with the certificate kube-apiserver was told to
//   trust, which kube-apiserver proxies `pods/<name>/log` to;
// - with runPods, the node itself: it registers, binds the namespace's unscheduled pods to itself
//   (the scheduler's one decision on a one-node cluster), runs each pod's server container as a host
//   process, runs the container's readiness and liveness probes as the kubelet would, and reports
//   it all in the pod's status: phase, conditions, container states, restartCount. A liveness
//   failure past its threshold, or an exit, restarts the container with the kubelet's back-off; a
//   pod being deleted has its process stopped, then its deletion confirmed (grace period 0).
//
// The liberties it takes, since it has no containers: the init container (the bridge image copying
// /stdio-bridge into the pod) is reported completed and the host's bridge binary stands for the
// copy; a pod has no network namespace, so its container port is a free host port (given to the
// process as PORT) and the probes' 127.0.0.1:<containerPort> is rewritten to it; what process runs
// for an image is the test's choice (`start`). Secret volumes and secretKeyRef env are resolved as
// the kubelet does, from the Secret at container start: the volume's items are written with their
// modes into a host directory of the pod's own (the kubelet's tmpfs), and since a host process has
// no mount namespace, an env value under the mount path is rewritten to that directory.
import { execFile, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer, type Server } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1ContainerStatus,
  type V1Pod,
  type V1Probe,
} from '@kubernetes/client-node';
import { BRIDGE_BINARY } from '../../lib/runtime/stdio-bridge.js';
import { freePort } from '../../scripts/stack/process.js';

export interface KubeletStandIn {
  port: number;
  /** Paths with query strings, as kube-apiserver asked for them. */
  requests: string[];
  /** Output of a container, by `<namespace>/<pod>/<container>`. */
  logs: Map<string, string>;
  /** Registers the node and runs the namespace's pods on it (see the file's comment). */
  runPods(options: RunPodsOptions): Promise<PodRunner>;
  stop(): Promise<void>;
}

export interface RunPodsOptions {
  kubeconfig: string;
  namespace: string;
  nodeName?: string;
  /** The host binary that stands for the pod's copy of the stdio bridge (its probe). */
  bridgeBinary: string;
  /** Starts a pod's server container as a host process; `env` is the container's, PORT its host port. */
  start(pod: V1Pod, container: V1Container, env: Record<string, string>): ChildProcess;
}

export interface ProbeRun {
  pod: string;
  kind: 'readiness' | 'liveness';
  /** The probe as the pod declares it (an exec's command, an httpGet's path, a tcpSocket's port). */
  what: string;
  ok: boolean;
  output: string;
}

export interface PodRunner {
  /** Every probe run, oldest first. */
  probes: ProbeRun[];
  /** The host process of a pod's server container now. */
  process(pod: string): ChildProcess | undefined;
  /** The host port that stands for a pod's container port (its PORT). */
  port(pod: string): number | undefined;
  /** Where a pod's volumes are on the host, by the container's mount path. */
  mounts(pod: string): Map<string, string> | undefined;
  stop(): Promise<void>;
}

/** The kubelet's restart back-off: 10 s doubling up to five minutes; the first restart is at once. */
const backoffMs = (restarts: number) => (restarts === 0 ? 0 : Math.min(10_000 * 2 ** (restarts - 1), 300_000));

interface Running {
  pod: V1Pod;
  container: V1Container;
  port: number;
  child?: ChildProcess;
  restartCount: number;
  startedAt: Date;
  ready: boolean;
  waiting?: { reason: string; message: string };
  lastTerminated?: { exitCode: number; reason: string; message?: string; startedAt: Date; finishedAt: Date };
  timers: NodeJS.Timeout[];
  stopped: boolean;
  restarting: boolean;
  /** Mount path → host directory of the container's Secret volumes. */
  mounts: Map<string, string>;
}

async function runPodsOn(kubeletPort: number, options: RunPodsOptions): Promise<PodRunner> {
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const { namespace } = options;
  const nodeName = options.nodeName ?? 'stand-in-node';
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const probes: ProbeRun[] = [];
  const running = new Map<string, Running>();

  await core.createNode({ body: { metadata: { name: nodeName } } }).catch(() => undefined);
  await core.patchNodeStatus(
    {
      name: nodeName,
      body: {
        status: {
          addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
          daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } },
          conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
        },
      },
    },
    merge,
  );

  const patchStatus = async (r: Running) => {
    const state: V1ContainerStatus['state'] = r.waiting
      ? { waiting: r.waiting }
      : { running: { startedAt: r.startedAt } };
    const status: V1Pod['status'] = {
      phase: 'Running',
      hostIP: '127.0.0.1',
      podIP: '127.0.0.1',
      podIPs: [{ ip: '127.0.0.1' }],
      startTime: r.pod.status?.startTime ?? r.startedAt,
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Initialized', status: 'True' },
        { type: 'ContainersReady', status: r.ready ? 'True' : 'False' },
        {
          type: 'Ready',
          status: r.ready ? 'True' : 'False',
          ...(!r.ready && {
            reason: 'ContainersNotReady',
            message: `containers with unready status: [${r.container.name}]`,
          }),
        },
      ],
      initContainerStatuses: (r.pod.spec!.initContainers ?? []).map((c) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        ready: true,
        restartCount: 0,
        state: { terminated: { exitCode: 0, reason: 'Completed' } },
      })),
      containerStatuses: [
        {
          name: r.container.name,
          image: r.container.image ?? '',
          imageID: '',
          ready: r.ready,
          started: !r.waiting,
          restartCount: r.restartCount,
          state,
          ...(r.lastTerminated && { lastState: { terminated: r.lastTerminated } }),
        },
      ],
    };
    await core
      .patchNamespacedPodStatus({ name: r.pod.metadata!.name!, namespace, body: { status } }, merge)
      .catch(() => undefined); // deleted meanwhile
  };

  const containerPort = (r: Running) => r.container.ports?.[0]?.containerPort ?? 8080;

  /** One probe, as the kubelet runs it; inside the "pod", so its loopback port is the process's. */
  const runProbe = (r: Running, probe: V1Probe): Promise<{ ok: boolean; output: string; what: string }> => {
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    if (probe.exec?.command) {
      const [cmd, ...args] = probe.exec.command;
      const inPod = `127.0.0.1:${containerPort(r)}`;
      const file = cmd === BRIDGE_BINARY ? options.bridgeBinary : cmd!;
      const mapped = args.map((a) =>
        a.replace(inPod, `127.0.0.1:${r.port}`).replace(`localhost:${containerPort(r)}`, `127.0.0.1:${r.port}`),
      );
      return new Promise((resolve) =>
        execFile(file, mapped, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
          resolve({ ok: !err, output: `${stdout}${stderr}`.trim(), what: probe.exec!.command!.join(' ') }),
        ),
      );
    }
    if (probe.httpGet) {
      const path = probe.httpGet.path ?? '/';
      return fetch(`http://127.0.0.1:${r.port}${path}`, { signal: AbortSignal.timeout(timeoutMs) }).then(
        (res) => ({ ok: res.status >= 200 && res.status < 400, output: `HTTP ${res.status}`, what: `GET ${path}` }),
        (err: Error) => ({ ok: false, output: err.message, what: `GET ${path}` }),
      );
    }
    return new Promise((resolve) => {
      const socket = connect(r.port, '127.0.0.1');
      const done = (ok: boolean, output: string) => {
        socket.destroy();
        resolve({ ok, output, what: `tcp ${containerPort(r)}` });
      };
      socket.setTimeout(timeoutMs, () => done(false, 'timeout'));
      socket.once('connect', () => done(true, 'connected'));
      socket.once('error', (err) => done(false, err.message));
    });
  };

  const kill = (r: Running): Promise<void> =>
    new Promise((resolve) => {
      const child = r.child;
      r.child = undefined;
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });

  /** Reads a Secret's data (decoded); a missing Secret or key fails the container's start. */
  const secretData = async (name: string): Promise<Record<string, Buffer>> => {
    const secret = await core.readNamespacedSecret({ name, namespace });
    return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  };

  /** The Secret volumes' files, written afresh for each start as the kubelet projects them. */
  const mountSecrets = async (r: Running) => {
    for (const dir of r.mounts.values()) await rm(dir, { recursive: true, force: true });
    r.mounts.clear();
    for (const m of r.container.volumeMounts ?? []) {
      const volume = r.pod.spec!.volumes?.find((v) => v.name === m.name)?.secret;
      if (!volume) continue;
      const data = await secretData(volume.secretName!);
      const dir = await mkdtemp(join(tmpdir(), 'kubelet-secret-'));
      const items = volume.items ?? Object.keys(data).map((key) => ({ key, path: key, mode: undefined }));
      for (const item of items) {
        const value = data[item.key];
        if (value === undefined) throw new Error(`secret ${volume.secretName} has no key ${item.key}`);
        const file = join(dir, item.path);
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, value);
        await chmod(file, item.mode ?? volume.defaultMode ?? 0o644);
      }
      // Read-only as mounted: the directory lists and opens its files, nothing is added.
      if (m.readOnly) await chmod(dir, 0o500);
      r.mounts.set(m.mountPath, dir);
    }
  };

  const containerEnv = async (r: Running): Promise<Record<string, string>> => {
    const env: Record<string, string> = {};
    const underMount = (value: string) => {
      for (const [path, dir] of r.mounts)
        if (value === path || value.startsWith(`${path}/`)) return dir + value.slice(path.length);
      return value;
    };
    for (const e of r.container.env ?? []) {
      if (e.value !== undefined) env[e.name] = underMount(e.value);
      const ref = e.valueFrom?.secretKeyRef;
      if (ref) {
        const value = (await secretData(ref.name!))[ref.key];
        if (value === undefined) throw new Error(`secret ${ref.name} has no key ${ref.key}`);
        env[e.name] = value.toString('utf8');
      }
    }
    return env;
  };

  const launch = async (r: Running) => {
    let env: Record<string, string>;
    try {
      await mountSecrets(r);
      env = await containerEnv(r);
    } catch (err) {
      r.waiting = { reason: 'CreateContainerConfigError', message: (err as Error).message };
      void patchStatus(r);
      return;
    }
    if (r.stopped) return;
    env.PORT = String(r.port);
    const child = options.start(r.pod, r.container, env);
    r.child = child;
    r.startedAt = new Date();
    r.waiting = undefined;
    r.ready = false;
    // A process that cannot start is a container that exits at once (its exit may never come).
    child.once('error', (err) => {
      if (r.child !== child || r.stopped) return;
      void restart(r, { exitCode: 128, reason: 'StartError', message: err.message });
    });
    child.once('exit', (code, signal) => {
      if (r.child !== child || r.stopped) return; // killed on purpose: whoever killed it says why
      void restart(r, { exitCode: code ?? 137, reason: signal ? 'Error' : code === 0 ? 'Completed' : 'Error' });
    });
    void patchStatus(r);
  };

  /** The container ended (or is killed now): recorded as its last state, started again after the back-off. */
  const restart = async (r: Running, end: { exitCode: number; reason: string; message?: string }) => {
    if (r.restarting || r.stopped) return;
    r.restarting = true;
    await kill(r);
    r.lastTerminated = { ...end, startedAt: r.startedAt, finishedAt: new Date() };
    r.ready = false;
    const delay = backoffMs(r.restartCount);
    r.restartCount += 1;
    if (delay > 0) {
      r.waiting = {
        reason: 'CrashLoopBackOff',
        message: `back-off ${delay / 1000}s restarting failed container=${r.container.name} pod=${r.pod.metadata!.name}`,
      };
      await patchStatus(r);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    r.restarting = false;
    if (!r.stopped) await launch(r);
  };

  const schedule = (r: Running, kind: 'readiness' | 'liveness', probe: V1Probe | undefined) => {
    if (!probe) {
      if (kind === 'readiness') {
        // No readiness probe: ready once started, as the kubelet has it.
        const t = setInterval(() => {
          if (r.child && !r.waiting && !r.ready) {
            r.ready = true;
            void patchStatus(r);
          }
        }, 500);
        r.timers.push(t);
      }
      return;
    }
    let inFlight = false;
    let failures = 0;
    const tick = async () => {
      if (inFlight || !r.child || r.waiting || r.restarting || r.stopped) return;
      inFlight = true;
      try {
        const { ok, output, what } = await runProbe(r, probe);
        if (r.stopped) return;
        probes.push({ pod: r.pod.metadata!.name!, kind, what, ok, output });
        failures = ok ? 0 : failures + 1;
        if (kind === 'readiness') {
          const ready = ok ? true : failures >= (probe.failureThreshold ?? 3) ? false : r.ready;
          if (ready !== r.ready) {
            r.ready = ready;
            await patchStatus(r);
          }
        } else if (failures >= (probe.failureThreshold ?? 3)) {
          failures = 0;
          await restart(r, { exitCode: 137, reason: 'Error', message: `liveness probe failed: ${output}` });
        }
      } finally {
        inFlight = false;
      }
    };
    const start = setTimeout(
      () => {
        void tick();
        r.timers.push(setInterval(() => void tick(), (probe.periodSeconds ?? 10) * 1000));
      },
      (probe.initialDelaySeconds ?? 0) * 1000,
    );
    r.timers.push(start);
  };

  const stopPod = async (r: Running) => {
    r.stopped = true;
    for (const t of r.timers) clearTimeout(t);
    await kill(r);
    for (const dir of r.mounts.values()) {
      await chmod(dir, 0o700).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  };

  let busy = false;
  const sync = async () => {
    if (busy) return;
    busy = true;
    try {
      const { items } = await core.listNamespacedPod({ namespace });
      const seen = new Set<string>();
      for (const pod of items) {
        const uid = pod.metadata!.uid!;
        const name = pod.metadata!.name!;
        seen.add(uid);
        if (!pod.spec!.nodeName) {
          if (!pod.metadata!.deletionTimestamp)
            await core
              .createNamespacedPodBinding({
                name,
                namespace,
                body: { metadata: { name }, target: { kind: 'Node', name: nodeName } },
              })
              .catch(() => undefined); // bound meanwhile, or gone
          continue;
        }
        if (pod.spec!.nodeName !== nodeName) continue;
        const r = running.get(uid);
        if (pod.metadata!.deletionTimestamp) {
          // Graceful deletion: the kubelet stops the containers, then confirms.
          if (r) {
            running.delete(uid);
            await stopPod(r);
          }
          await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
          continue;
        }
        if (r) {
          r.pod = pod;
          continue;
        }
        const container = pod.spec!.containers[0]!;
        const fresh: Running = {
          pod,
          container,
          port: await freePort(),
          restartCount: 0,
          startedAt: new Date(),
          ready: false,
          timers: [],
          stopped: false,
          restarting: false,
          mounts: new Map(),
        };
        running.set(uid, fresh);
        void launch(fresh);
        schedule(fresh, 'readiness', container.readinessProbe);
        schedule(fresh, 'liveness', container.livenessProbe);
      }
      for (const [uid, r] of running)
        if (!seen.has(uid)) {
          running.delete(uid);
          await stopPod(r);
        }
    } catch {
      // API server away: the next round tries again, as a kubelet does
    } finally {
      busy = false;
    }
  };
  const loop = setInterval(() => void sync(), 500);
  await sync();

  return {
    probes,
    process: (pod) => [...running.values()].find((r) => r.pod.metadata!.name === pod)?.child,
    port: (pod) => [...running.values()].find((r) => r.pod.metadata!.name === pod)?.port,
    mounts: (pod) => [...running.values()].find((r) => r.pod.metadata!.name === pod)?.mounts,
    async stop() {
      clearInterval(loop);
      for (const r of running.values()) await stopPod(r);
      running.clear();
    },
  };
}

export async function startKubeletStandIn(tls: { cert: string; key: string }): Promise<KubeletStandIn> {
  const requests: string[] = [];
  const logs = new Map<string, string>();
  const runners: PodRunner[] = [];
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
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    requests,
    logs,
    async runPods(options) {
      const runner = await runPodsOn(port, options);
      runners.push(runner);
      return runner;
    },
    async stop() {
      for (const r of runners) await r.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
