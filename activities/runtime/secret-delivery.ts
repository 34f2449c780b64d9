// Delivers a server's secrets at launch, and nowhere else: config carries references
// ({"secret": "name"}), and only here are they resolved to values.
//
// Docker. Each server gets a directory of its own on a tmpfs of the daemon's host (SECRETS_RUN_DIR),
// bind-mounted read-only at /run/secrets: a secret delivered as a file is /run/secrets/<name>
// (mode 0400, owned by the uid the container runs as) with `<KEY>_FILE=/run/secrets/<name>` in its
// environment; one delivered as env is the file /run/secrets/.env/<KEY>, which the stdio bridge's
// --env-from mode (mounted read-only at /.mcp-host as for stdio servers) turns into the variable KEY
// before it execs the server's own command. So the container's configuration — what `docker inspect`
// shows, Env included — holds paths, never a value, and nothing touches a disk. This is how Docker's
// own (swarm) secrets are delivered; the alternatives fall short: the archive API cannot write into a
// tmpfs mount (and a tmpfs volume loses its files whenever no container holds it), plain Env is
// visible to inspect, and anything delivered once through stdin is gone when the restart policy
// restarts the container. The price: the worker writes the files itself, so it must run on the
// daemon's host, as root (it chowns them to the container's uid), with SECRETS_RUN_DIR a tmpfs there.
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, rename, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { Sql } from '../../lib/db.js';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import { resolveSecretValues } from '../../lib/ledger/secrets.js';
import { BRIDGE_BINARY } from '../../lib/runtime/stdio-bridge.js';
import { SECRETS_MOUNT, secretRefs, type ConfigValues } from '../../lib/schemas/secrets.js';
import type { Keyring } from '../../lib/secrets/keys.js';
import { isMemoryFs } from '../../lib/secrets/run-dir.js';
import type { V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node';
import { kubeError, kubeStatus, type KubeClient } from '../../lib/kubernetes/client.js';
import { CONTAINER_NAME } from '../../lib/kubernetes/manifests.js';
import {
  serverSecretManifest,
  serverSecretName,
  withServerSecrets,
  type KubernetesSecrets,
} from '../../lib/kubernetes/secret-manifests.js';
import { everyOwner } from '../../lib/ledger/scope.js';
import { findServer } from '../../lib/ledger/servers.js';

/** Where env-delivered secrets are, inside the mount. */
export const ENV_SECRETS_DIR = `${SECRETS_MOUNT}/.env`;

/** What a launch sets on the container so that its secrets reach it. */
export interface ContainerSecrets {
  /** `<KEY>_FILE=/run/secrets/<name>` entries: paths, never values. */
  env: string[];
  /** The host directory to bind-mount read-only at /run/secrets. */
  hostDir: string;
  /** Whether the command must go through `stdio-bridge --env-from` (some secrets are env). */
  asEnv: boolean;
  /** Versions delivered, by secret name (for the launch's log; never values). */
  versions: Record<string, number>;
}

/** The delivery plan of a config: which files (name → config key of each) and which env secrets. */
export function planDelivery(config: ConfigValues): {
  files: Map<string, string[]>;
  env: Map<string, string>;
  names: string[];
} {
  const files = new Map<string, string[]>();
  const env = new Map<string, string>();
  for (const [key, ref] of secretRefs(config)) {
    if (ref.as === 'env') env.set(key, ref.secret);
    else files.set(ref.secret, [...(files.get(ref.secret) ?? []), key]);
  }
  return { files, env, names: [...new Set([...files.keys(), ...env.values()])] };
}

/** `uid[:gid]` as numbers; the files are chowned to it, so a named USER cannot be served. */
export function numericUser(user: string): { uid: number; gid: number } | undefined {
  const m = /^(\d+)(?::(\d+))?$/.exec(user.trim());
  if (!m) return undefined;
  return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
}

/** The command of a container whose env secrets go through the bridge: --env-from, then the command. */
export function envFromCommand(command: readonly string[]): string[] {
  return [BRIDGE_BINARY, '--env-from', ENV_SECRETS_DIR, '--', ...command];
}

/** The container's command: unchanged without env secrets, else through --env-from (the image's own command when not bridged). */
export function secretsCommand(
  secrets: ContainerSecrets | undefined,
  command: string[] | null,
  image: { entrypoint: string[] | null; cmd: string[] | null },
): string[] | null {
  if (!secrets?.asEnv) return command;
  const own = command ?? [...(image.entrypoint ?? []), ...(image.cmd ?? [])];
  return own.length === 0 ? null : envFromCommand(own);
}

/** The read-only bind mount of the server's secrets directory at /run/secrets. */
export const secretMounts = (secrets: ContainerSecrets | undefined) =>
  secrets ? [{ Type: 'bind' as const, Source: secrets.hostDir, Target: SECRETS_MOUNT, ReadOnly: true }] : [];

const launchFailed = (message: string) => ApplicationFailure.nonRetryable(message, ErrorType.LaunchFailed);

export function createSecretDelivery(sql: Sql, keyring: Keyring, env: Env) {
  const root = env.SECRETS_RUN_DIR;

  async function assertTmpfs(): Promise<void> {
    await mkdir(root, { recursive: true, mode: 0o711 });
    const { type } = await statfs(root);
    if (!isMemoryFs(type)) {
      throw launchFailed(
        `secrets are not delivered: SECRETS_RUN_DIR ${root} is not a tmpfs (secret files must never reach a disk); mount one there`,
      );
    }
  }

  const dirOf = (workload: string) => join(root, workload);

  return {
    sql,
    /**
     * Resolves the config's references to the owner's current versions and writes them for
     * `workload` (replacing what an earlier launch wrote); undefined when the config has none.
     */
    async prepareDocker(input: {
      workload: string;
      ownerId: number;
      config: ConfigValues;
      /** The container's user, `uid[:gid]`. */
      user: string;
    }): Promise<ContainerSecrets | undefined> {
      const plan = planDelivery(input.config);
      if (plan.names.length === 0) {
        await rm(dirOf(input.workload), { recursive: true, force: true });
        return undefined;
      }
      const owner = numericUser(input.user);
      if (!owner) {
        throw launchFailed(
          `${input.workload} not launched: its secrets are files owned by the uid it runs as, and its image's USER ${input.user} is a name; use a numeric USER (uid[:gid])`,
        );
      }
      const values = await resolveSecretValues(sql, keyring, input.ownerId, plan.names);
      const missing = plan.names.filter((n) => !values.has(n));
      if (missing.length > 0)
        throw launchFailed(`${input.workload} not launched: no secret named ${missing.join(', ')}`);
      await assertTmpfs();
      // Written whole under a temporary name, then swapped in: a restarting container never sees half.
      const dir = dirOf(input.workload);
      const staging = `${dir}.${randomBytes(6).toString('hex')}`;
      try {
        await mkdir(join(staging, '.env'), { recursive: true, mode: 0o700 });
        const put = async (path: string, value: Buffer) => {
          await writeFile(path, value, { mode: 0o400, flag: 'wx' });
          await chown(path, owner.uid, owner.gid);
        };
        for (const name of plan.files.keys()) await put(join(staging, name), values.get(name)!.value);
        for (const [key, name] of plan.env) await put(join(staging, '.env', key), values.get(name)!.value);
        for (const d of [join(staging, '.env'), staging]) {
          await chown(d, owner.uid, owner.gid);
          await chmod(d, 0o500);
        }
        await rm(dir, { recursive: true, force: true });
        await rename(staging, dir);
      } catch (err) {
        await rm(staging, { recursive: true, force: true });
        throw err;
      } finally {
        for (const v of values.values()) v.value.fill(0);
      }
      return {
        env: [...plan.files].flatMap(([name, keys]) => keys.map((key) => `${key}_FILE=${SECRETS_MOUNT}/${name}`)),
        hostDir: dir,
        asEnv: plan.env.size > 0,
        versions: Object.fromEntries([...values].map(([name, v]) => [name, v.version])),
      };
    },

    /** The values a Kubernetes launch puts in the server's Secret; undefined when the config has none. */
    async prepareKubernetes(input: {
      workload: string;
      ownerId: number;
      config: ConfigValues;
    }): Promise<KubernetesSecrets | undefined> {
      const plan = planDelivery(input.config);
      if (plan.names.length === 0) return undefined;
      const values = await resolveSecretValues(sql, keyring, input.ownerId, plan.names);
      const missing = plan.names.filter((n) => !values.has(n));
      if (missing.length > 0)
        throw launchFailed(`${input.workload} not launched: no secret named ${missing.join(', ')}`);
      return {
        files: new Map([...plan.files.keys()].map((name) => [name, values.get(name)!.value])),
        env: new Map([...plan.env].map(([key, name]) => [key, values.get(name)!.value])),
        fileKeys: [...plan.files].flatMap(([name, keys]) => keys.map((key): [string, string] => [key, name])),
      };
    },

    /** Removes what was written for `workload` (a stopped or removed server keeps no secret on the host). */
    async removeDocker(workload: string): Promise<void> {
      await rm(dirOf(workload), { recursive: true, force: true });
    },
  };
}

export type SecretDelivery = ReturnType<typeof createSecretDelivery>;

/** A Docker launch's secrets; a config with references on a process without the store's keys cannot launch. */
export async function prepareSecrets(
  delivery: SecretDelivery | undefined,
  workload: string,
  ownerId: number,
  config: ConfigValues,
  user: string,
): Promise<ContainerSecrets | undefined> {
  if (delivery) return delivery.prepareDocker({ workload, ownerId, config, user });
  if (secretRefs(config).length > 0) throw launchFailed(`${workload} not launched: this process has no secrets key`);
  return undefined;
}

/** Writes the server's Secret (replacing an earlier launch's) and says what the pod takes from it. */
export async function kubernetesSecrets(
  kube: KubeClient,
  delivery: SecretDelivery | undefined,
  input: { serverId: number; config: ConfigValues },
  pod: string,
): Promise<KubernetesSecrets | undefined> {
  const refs = secretRefs(input.config);
  if (refs.length === 0) return undefined;
  if (!delivery) throw launchFailed(`pod ${pod} not launched: this process has no secrets key`);
  const { owner_id: ownerId } = await findServer(delivery.sql, input.serverId, everyOwner);
  const secrets = await delivery.prepareKubernetes({ workload: pod, ownerId, config: input.config });
  if (!secrets) return undefined;
  const body = serverSecretManifest(input.serverId, kube.namespace, secrets);
  const name = serverSecretName(input.serverId);
  await kube
    .core()
    .replaceNamespacedSecret({ name, namespace: kube.namespace, body })
    .catch(async (err: unknown) => {
      if (kubeStatus(err) !== 404) throw kubeError(`replacing secret ${name}`, err);
      await kube.core().createNamespacedSecret({ namespace: kube.namespace, body });
    });
  return secrets;
}

/** The pod (or pod template) with the server's Secret applied (unchanged without secrets). */
export function applyServerSecrets<T extends V1Pod | V1PodTemplateSpec>(
  pod: T,
  serverId: number,
  secrets: KubernetesSecrets | undefined,
): T {
  if (!secrets || !pod.spec) return pod;
  return { ...pod, spec: withServerSecrets(pod.spec, serverId, secrets, CONTAINER_NAME) };
}

export async function deleteServerSecret(kube: KubeClient, serverId: number): Promise<void> {
  await kube
    .core()
    .deleteNamespacedSecret({ name: serverSecretName(serverId), namespace: kube.namespace })
    .catch((err: unknown) => {
      if (kubeStatus(err) !== 404) throw kubeError(`deleting secret ${serverSecretName(serverId)}`, err);
    });
}
