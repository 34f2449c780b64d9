// The only reader of process.env: one zod schema for every setting, parsed once at start-up.
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { parseRate } from './rate.js';
import { parseMemory } from './runtime/resources.js';
import { parseAllowedHost } from './source-policy.js';
import { decodeKey } from './secrets/key-format.js';

const bool = <F extends boolean | undefined>(fallback: F) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback as F | boolean;
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      ctx.addIssue({ code: 'custom', message: `expected true or false, got "${v}"` });
      return z.NEVER;
    });

const int = <F extends number | undefined>(fallback: F, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback as F | number;
      if (!/^-?\d+$/.test(v) || Number(v) < min || Number(v) > max) {
        ctx.addIssue({ code: 'custom', message: `expected an integer between ${min} and ${max}, got "${v}"` });
        return z.NEVER;
      }
      return Number(v);
    });

/** A request rate such as 600/min, 10/s or 600/min,burst=50; unset is no limit. */
const rate = z
  .string()
  .trim()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v === '') return undefined;
    const parsed = parseRate(v);
    if (!parsed) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a rate such as 600/min, 10/s or 600/min,burst=50, got "${v}"`,
      });
      return z.NEVER;
    }
    return parsed;
  });

/** A positive number of CPUs such as 0.5 or 2. */
const cpus = (fallback: number) =>
  z
    .string()
    .trim()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      if (!/^\d+(\.\d+)?$/.test(v) || Number(v) < 0.01) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a number of CPUs of at least 0.01 such as 0.5 or 2, got "${v}"`,
        });
        return z.NEVER;
      }
      return Number(v);
    });

/** A memory size in bytes, written as 268435456, 256m, 256Mi or 1g. */
const memory = (fallback: string) =>
  z
    .string()
    .trim()
    .optional()
    .transform((v, ctx) => {
      const bytes = parseMemory(v || fallback);
      if (bytes === undefined || bytes < 6 * 1024 ** 2) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a memory size of at least 6m such as 256m or 1g, got "${v}"`,
        });
        return z.NEVER;
      }
      return bytes;
    });

const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined));

// The Web UI of `npm start` and of docker-compose.yml.
const DEFAULT_UI_ORIGINS = ['http://127.0.0.1:8233', 'http://localhost:8233'];

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

/** A key-encryption key, base64 of 32 bytes; a bad one is reported without echoing it. */
const kek = optionalText.superRefine((v, ctx) => {
  const key = v === undefined ? undefined : decodeKey(v);
  if (typeof key === 'string') ctx.addIssue({ code: 'custom', message: key });
});

const isHttpUrl = (v: string) => URL.canParse(v) && ['http:', 'https:'].includes(new URL(v).protocol);

/** `os/arch[/variant]`, e.g. linux/amd64 or linux/arm/v7. */
export const PLATFORM_PATTERN = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;

const archTargets = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const targets = (v ?? 'linux/amd64')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (targets.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'expected at least one platform such as linux/amd64' });
      return z.NEVER;
    }
    const bad = targets.find((t) => !PLATFORM_PATTERN.test(t));
    if (bad) {
      ctx.addIssue({ code: 'custom', message: `expected platforms as os/arch[/variant], got "${bad}"` });
      return z.NEVER;
    }
    return [...new Set(targets)];
  });

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  BIND_ADDRESS: z.string().trim().min(1).default('0.0.0.0'),
  BIND_PORT: int(3000, 0, 65535),
  /** Largest accepted request body, in bytes. */
  MAX_BODY_BYTES: int(1024 * 1024, 1024),
  SSE_KEEPALIVE_MS: int(15_000, 100),

  DATABASE_URL: z
    .string()
    .trim()
    .default('postgres://postgres@127.0.0.1:5432/mcp_host')
    .refine((v) => /^postgres(ql)?:\/\//.test(v), 'expected a postgres:// URL'),
  DATABASE_POOL_MAX: int(10, 1, 200),
  ALLOW_MIGRATION_FAILURE: bool(false),

  TEMPORAL_ADDRESS: z.string().trim().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().trim().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().trim().min(1).default('mcp-host-v1'),
  /** The worker's workflow code, bundled beforehand from workflows/index.ts; unset: bundled at start. */
  WORKFLOW_BUNDLE_PATH: optionalText,
  /** TLS to Temporal (Temporal Cloud, or a cluster with TLS); implied by an API key or a client certificate. */
  TEMPORAL_TLS: bool(false),
  /** mTLS client certificate and key files (PEM), as Temporal Cloud namespaces with certificates use. */
  /** The Temporal Web UI's address, for the console's links to workflow pages (none: no links). */
  TEMPORAL_UI_URL: optionalText,
  TEMPORAL_TLS_CERT_PATH: optionalText,
  TEMPORAL_TLS_KEY_PATH: optionalText,
  /** Temporal Cloud API key (a secret: never logged). */
  TEMPORAL_API_KEY: optionalText,
  /**
   * Origins of the Temporal Web UI that may call the API's codec endpoint (`<api>/codec`) from an
   * operator's browser to decode histories.
   */
  TEMPORAL_UI_ORIGINS: list
    .superRefine((entries, ctx) => {
      const bad = entries.find((e) => !isHttpUrl(e) || new URL(e).origin !== e.replace(/\/+$/, ''));
      if (bad)
        ctx.addIssue({ code: 'custom', message: `expected origins such as http://127.0.0.1:8233, got "${bad}"` });
    })
    .transform((entries) => (entries.length > 0 ? entries.map((e) => e.replace(/\/+$/, '')) : DEFAULT_UI_ORIGINS)),
  /**
   * OpenTelemetry tracing, off by default: on when an OTLP endpoint is set (or when this is `true`,
   * then to http://127.0.0.1:4318); `false` keeps it off even with an endpoint.
   */
  OTEL_TRACES_ENABLED: bool(undefined),
  /** OTLP/HTTP base URL; traces go to <url>/v1/traces. */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalText.refine(
    (v) => v === undefined || isHttpUrl(v),
    'expected an http:// or https:// URL',
  ),
  /** OTLP/HTTP traces URL, used as is. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalText.refine(
    (v) => v === undefined || isHttpUrl(v),
    'expected an http:// or https:// URL',
  ),
  /** service.name of the spans; default mcp-host-api / mcp-host-worker. */
  OTEL_SERVICE_NAME: optionalText,

  /** Ports of what `npm start` (scripts/dev-stack.ts) runs itself; only the development stack reads them. */
  DEV_TEMPORAL_PORT: int(7233, 1, 65535),
  DEV_TEMPORAL_UI_PORT: int(8233, 1, 65535),
  DEV_REGISTRY_PORT: int(5000, 1, 65535),
  DEV_GIT_PORT: int(9418, 1, 65535),

  /** Bootstrap admin token (like a dev-mode root token); generated and printed once when unset. */
  ADMIN_TOKEN: optionalText.refine((v) => v === undefined || v.length >= 16, 'expected at least 16 characters'),
  ADMIN_EMAIL: z.string().trim().default('admin@localhost'),
  /** Tokens a non-admin user may create for themselves per minute (429 beyond). */
  TOKEN_CREATE_PER_MINUTE: int(10, 1, 10_000),
  /** Servers a new user may own unless an admin sets another quota. */
  DEFAULT_SERVER_QUOTA: int(5, 0, 100_000),

  /**
   * The address clients reach mcp-host at (scheme, host, port, no path): the gateway's canonical URLs
   * (`<PUBLIC_URL>/mcp/<id>`) and the origin browsers may call it from. Unset: the address each request
   * came to, and browsers only from loopback origins.
   */
  PUBLIC_URL: optionalText
    .refine((v) => v === undefined || isHttpUrl(v), 'expected an http:// or https:// URL')
    .transform((v) => v?.replace(/\/+$/, '')),
  /**
   * The key that signs the gateway's session ids (at least 32 characters), shared by every replica.
   * Unset: a random key stored once in the database.
   */
  GATEWAY_SESSION_SECRET: optionalText.refine(
    (v) => v === undefined || v.length >= 32,
    'expected at least 32 characters',
  ),
  /** Further origins (`https://app.example.com`) that browsers may call the gateway from. */
  GATEWAY_ALLOWED_ORIGINS: list.superRefine((entries, ctx) => {
    const bad = entries.find((e) => !isHttpUrl(e) || new URL(e).origin !== e.replace(/\/+$/, ''));
    if (bad)
      ctx.addIssue({ code: 'custom', message: `expected origins such as https://app.example.com, got "${bad}"` });
  }),
  /** The OpenID Connect issuer whose tokens the gateway accepts; named in its protected-resource metadata. */
  GATEWAY_OIDC_ISSUER: optionalText.refine(
    (v) => v === undefined || isHttpUrl(v),
    'expected an http:// or https:// URL',
  ),

  /**
   * The secret store's key-encryption key (base64 of 32 bytes), or a file holding it; one of the two is
   * required by the API and the worker (`npm start` creates .data/secrets.key). Never logged.
   */
  SECRETS_KEY: kek,
  SECRETS_KEY_FILE: optionalText,
  /**
   * The next key-encryption key, configured beside SECRETS_KEY during a rekey: new secret versions are
   * wrapped with it, and `mcpctl secrets rekey` re-wraps every data key with it. Then it becomes SECRETS_KEY.
   */
  SECRETS_KEY_NEXT: kek,
  SECRETS_KEY_NEXT_FILE: optionalText,

  /**
   * Where the worker writes Docker servers' secrets (a directory per container, bind-mounted read-only
   * at /run/secrets): a tmpfs on the Docker daemon's host, which is the worker's (launches refuse
   * another file system). The development stack mounts one.
   */
  SECRETS_RUN_DIR: z.string().trim().min(1).default('/run/mcp-host/secrets'),
  /**
   * When SECRETS_RUN_DIR is checked: `launch` (each Docker launch with secrets refuses another file
   * system), or also `start` (the worker refuses to start unless it is a tmpfs where it can chown
   * files; the compose file sets it, since there the directory is the Docker host's, bind-mounted).
   */
  SECRETS_RUN_DIR_CHECK: z.enum(['launch', 'start']).default('launch'),

  CONTAINER_RUNTIME: z.enum(['docker', 'kubernetes', 'virtual-machine']).default('docker'),
  DOCKER_HOST: optionalText,
  /**
   * Where MCP containers run: `bridge` gives each server (and each evaluation) a bridge network of its
   * own, reached at its container address; `host` shares the host's network, Postgres and Temporal
   * included, and needs ALLOW_HOST_NETWORK=true.
   */
  DOCKER_NETWORK_MODE: z.enum(['bridge', 'host']).default('bridge'),
  /** Host networking hands every hosted server the control plane: only for images the operator trusts. */
  ALLOW_HOST_NETWORK: bool(false),
  /**
   * The image of the check run before launches: a container on a fresh tenant network must not reach
   * the host. It needs `sh`, `timeout` and `nc` (busybox has them).
   */
  DOCKER_CANARY_IMAGE: z.string().trim().min(1).default('busybox:1.36'),
  /**
   * Containers of the control plane itself (the API and the worker, when they run in containers, as
   * in docker-compose.yml) that reach servers: each is joined to every server's and evaluation's
   * network when it is made, and leaves it when it goes. Names, not labels: an image chooses its
   * own labels, but never its container's name. Never Postgres or Temporal.
   */
  DOCKER_ATTACH_CONTAINERS: list.refine(
    (names) => names.every((n) => /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(n) && !/^mcp-(server|eval|canary)-/.test(n)),
    'expected container names separated by commas (not those of servers, evaluations or canaries)',
  ),
  /**
   * What servers with `egress: internet` may reach in the otherwise blocked private ranges, as
   * `ipv4:port` (TCP and UDP), e.g. a DNS resolver. The development stack adds them to its policy.
   */
  SERVER_EGRESS_ALLOW: list.refine(
    (entries) => entries.every((e) => /^(\d{1,3}\.){3}\d{1,3}:\d{1,5}$/.test(e) && Number(e.split(':')[1]) <= 65535),
    'expected ipv4:port entries separated by commas, e.g. 10.0.0.53:53',
  ),
  /**
   * Where the worker finds the stdio bridge binaries (`stdio-bridge-amd64`, `stdio-bridge-arm64`, built
   * by `npm run setup`); default the checkout's .tools/bin. Docker launches copy the one of the
   * daemon's architecture into a read-only volume at the entrypoint of every stdio server.
   */
  STDIO_BRIDGE_DIR: optionalText,
  /** Children one bridged stdio server runs at once (one per MCP session), told to the bridge. */
  STDIO_BRIDGE_MAX_SESSIONS: int(16, 1, 1_000),
  /** Limits of every hosted server and evaluation that its config does not set (`resources.*`). */
  SERVER_DEFAULT_CPUS: cpus(1),
  SERVER_DEFAULT_MEMORY: memory('512m'),
  SERVER_DEFAULT_PIDS: int(256, 8, 1_000_000),
  /** The most a server's `resources.*` config may ask for (more is refused with 422). */
  SERVER_MAX_CPUS: cpus(4),
  SERVER_MAX_MEMORY: memory('4g'),
  SERVER_MAX_PIDS: int(4096, 8, 1_000_000),
  /** Size of the tmpfs every server gets at /tmp (its root file system is read-only); counts against its memory. */
  SERVER_TMPFS_SIZE: memory('64m'),
  /** Who a server runs as when its image names no non-root USER. */
  SERVER_DEFAULT_UID: int(65532, 1, 2_147_483_647),
  SERVER_DEFAULT_GID: int(65532, 1, 2_147_483_647),
  /** GPUs a server with use_gpu gets (never all of the machine's). */
  SERVER_GPU_COUNT: int(1, 1, 64),
  /**
   * Supervision of running servers (workflows/server-supervision.ts): a probe (MCP ping, else
   * tools/list) every HEALTH_PROBE_INTERVAL_MS, failing after HEALTH_PROBE_TIMEOUT_MS; slower than
   * HEALTH_DEGRADED_LATENCY_MS or failing fewer than HEALTH_FAILURE_THRESHOLD times in a row is
   * `degraded`, that many is `unhealthy` and a restart, after a delay doubling from
   * HEALTH_RESTART_BACKOFF_MS up to HEALTH_RESTART_BACKOFF_MAX_MS; HEALTH_CRASHLOOP_RESTARTS restarts
   * within HEALTH_CRASHLOOP_WINDOW_MS is `crashloop`.
   */
  HEALTH_PROBE_INTERVAL_MS: int(10_000, 100, 86_400_000),
  HEALTH_PROBE_TIMEOUT_MS: int(5_000, 100, 600_000),
  HEALTH_DEGRADED_LATENCY_MS: int(2_000, 1, 600_000),
  HEALTH_FAILURE_THRESHOLD: int(3, 1, 100),
  HEALTH_RESTART_BACKOFF_MS: int(5_000, 100, 86_400_000),
  HEALTH_RESTART_BACKOFF_MAX_MS: int(300_000, 100, 86_400_000),
  HEALTH_CRASHLOOP_RESTARTS: int(5, 1, 1_000),
  HEALTH_CRASHLOOP_WINDOW_MS: int(600_000, 1_000, 86_400_000),
  K8S_NAMESPACE: z.string().trim().min(1).default('default'),
  K8S_SERVICE_ACCOUNT: z.string().trim().min(1).default('default'),
  K8S_REGISTRY_SECRET_NAME: optionalText,
  /** Kubeconfig of the cluster that runs servers (CONTAINER_RUNTIME=kubernetes); KUBECONFIG, then in-cluster, when unset. */
  K8S_KUBECONFIG: optionalText,
  KUBECONFIG: optionalText,
  /**
   * The bridge image of stdio servers on Kubernetes (a one-layer image holding /stdio-bridge, amd64
   * and arm64; the development stack pushes mcp-host/stdio-bridge): an init container copies the
   * binary into the pod. A stdio server cannot launch on Kubernetes without it.
   */
  K8S_STDIO_BRIDGE_IMAGE: optionalText,
  /** How long a launched pod may take to become Ready before the server is reported unhealthy. */
  K8S_READY_TIMEOUT_SECONDS: int(300, 1, 86_400),
  /** Pods of each server's Deployment (an MCP session stays on one pod: the Service keeps a client on its pod). */
  K8S_SERVER_REPLICAS: int(1, 1, 16),
  /**
   * Seconds between liveness probes of a server's pod (readiness: half that); three failures in a
   * row and the kubelet restarts the container.
   */
  K8S_PROBE_PERIOD_SECONDS: int(10, 2, 300),
  /**
   * The URL the gateway and the health probes reach a server's Service at, from `{service}`,
   * `{namespace}`, `{port}` and `{path}`: the cluster's DNS name by default (an API and worker that
   * run in the cluster); outside it, whatever routes to the Services (an ingress, a proxy).
   */
  K8S_SERVICE_ENDPOINT: z
    .string()
    .trim()
    .default('http://{service}.{namespace}.svc:{port}{path}')
    .refine((v) => v.includes('{service}'), 'expected a URL naming {service}')
    .refine(
      (v) =>
        isHttpUrl(
          v
            .replaceAll('{port}', '8080')
            .replaceAll('{path}', '/mcp')
            .replace(/\{(service|namespace)\}/g, 'x'),
        ),
      'expected an http:// or https:// URL',
    ),

  REGISTRY: optionalText,
  REGISTRY_AUTH_DOCKERCONFIG: optionalText,
  REGISTRY_AUTH_MAX_AGE_SECONDS: int(86_400, 0),
  REGISTRY_AUTH_ROTATE_LEAD_SECONDS: int(3_600, 0),
  REGISTRY_PUSH_RETRIES: int(3, 1, 100),
  /** Shell command that renews the dockerconfig (e.g. a cloud CLI login); enables proactive rotation. */
  REGISTRY_AUTH_REFRESH_COMMAND: optionalText,
  /** Minutes between scheduled credential checks (the registryCredentials schedule). */
  REGISTRY_AUTH_CHECK_INTERVAL_MINUTES: int(15, 1, 1440),
  REGISTRY_ARCH_TARGETS: archTargets,
  /** Unset: CPU count; always clamped to [1, number of targets] where used. */
  REGISTRY_BUILD_PARALLELISM: int(undefined, 1, 64),
  REGISTRY_BUILD_DISABLE_CACHE: bool(false),
  REGISTRY_BUILD_CACHE_FROM: list,
  /** Where build checkouts live on the worker host. */
  BUILD_WORK_DIR: optionalText,
  /** Largest checkout a build clones (bytes on disk, .git included, and files); a larger one fails the build. */
  CHECKOUT_MAX_BYTES: int(512 * 1024 * 1024, 1024),
  CHECKOUT_MAX_FILES: int(50_000, 1),
  /**
   * Hosts (`host` or `host:port`) that git sources, image sources and FROM base images may name
   * although they are private, loopback or link-local addresses, which are refused otherwise.
   */
  SOURCE_ALLOWED_HOSTS: list.superRefine((entries, ctx) => {
    const bad = entries.find((e) => !parseAllowedHost(e));
    if (bad) ctx.addIssue({ code: 'custom', message: `expected host or host:port entries, got "${bad}"` });
  }),
  /** Base images for Dockerfiles generated for repositories that have none. */
  BUILD_NODE_BASE_IMAGE: z.string().trim().min(1).default('node:20-alpine'),
  BUILD_PYTHON_BASE_IMAGE: z.string().trim().min(1).default('python:3.12-slim'),
  /** The Go toolchain of generated Go builds (their build stage only), and the minimal base their binary runs on. */
  BUILD_GO_BASE_IMAGE: z.string().trim().min(1).default('golang:1.25-alpine'),
  BUILD_STATIC_BASE_IMAGE: z.string().trim().min(1).default('busybox:stable'),
  /**
   * Package registries builds reach (their RUN steps, through the build's egress proxy; nothing else):
   * the npm registry, the Go module proxy and checksum database, the PyPI index.
   */
  BUILD_NPM_REGISTRY: z
    .string()
    .trim()
    .default('https://registry.npmjs.org')
    .refine(isHttpUrl, 'expected an http:// or https:// URL'),
  BUILD_GOPROXY: z
    .string()
    .trim()
    .default('https://proxy.golang.org')
    .refine(isHttpUrl, 'expected an http:// or https:// URL'),
  BUILD_GOSUMDB: z.string().trim().min(1).default('sum.golang.org'),
  BUILD_PIP_INDEX_URL: z
    .string()
    .trim()
    .default('https://pypi.org/simple')
    .refine(isHttpUrl, 'expected an http:// or https:// URL'),
  /** More hosts (`host` or `host:port`) the build egress proxy lets builds reach, besides the registries above. */
  BUILD_EGRESS_ALLOWED_HOSTS: list,
  /**
   * The worker's own container, when the worker runs in one (compose): it is joined to each build
   * network and the egress proxy listens on its address there, since the bridge's gateway address is
   * the Docker host's. Unset: the worker is on the Docker host and listens on the gateway.
   */
  BUILD_EGRESS_CONTAINER: optionalText.refine(
    (n) => n === undefined || /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(n),
    'expected a container name',
  ),
  /**
   * Build networks (bridge, holder, canary's pass) the worker keeps open for builds to come, each
   * used by one build only; 0 opens each network when its build asks (about a second per platform).
   */
  BUILD_NETWORK_POOL_SIZE: int(2, 0, 64),
  /** A build that prints nothing for this long fails, with the reason (the network requests it was waiting on). */
  BUILD_IDLE_TIMEOUT_SECONDS: int(600, 10, 86_400),

  /** The hypervisor control plane that runs virtual-machine servers. */
  VM_HYPERVISOR_ENDPOINT: z
    .string()
    .trim()
    .default('http://127.0.0.1:8686')
    .refine(isHttpUrl, 'expected an http:// or https:// URL'),
  VM_HYPERVISOR_TOKEN: optionalText,
  VM_LOG_TAIL_LINES: int(500, 64, 100_000),
  /** Trusted measurements, compared lowercased; empty means no evidence is trusted. */
  VM_ATTESTATION_MEASUREMENTS: list.transform((v) => [...new Set(v.map((m) => m.toLowerCase()))]),
  /** The only keys attestation signatures verify against: base64 raw 32-byte Ed25519 public keys. */
  VM_ATTESTATION_TRUST_ROOTS: list.transform((keys, ctx) => {
    const bad = keys.findIndex(
      (k) => Buffer.from(k, 'base64').length !== 32 || Buffer.from(k, 'base64').toString('base64') !== k,
    );
    if (bad === -1) return [...new Set(keys)];
    ctx.addIssue({
      code: 'custom',
      message: `expected base64 Ed25519 public keys of 32 bytes, entry ${bad + 1} is not one`,
    });
    return z.NEVER;
  }),
  VM_ATTESTATION_MAX_AGE_SECONDS: int(300, 1),

  /** The gateway's JWKS of the OpenID Connect issuer; unset: the jwks_uri of the issuer's discovery document. */
  GATEWAY_OIDC_JWKS_URL: optionalText.refine(
    (v) => v === undefined || isHttpUrl(v),
    'expected an http:// or https:// URL',
  ),
  /** The claim of an OpenID Connect token that names its mcp-host user, by the user's email. */
  GATEWAY_OIDC_EMAIL_CLAIM: z.string().trim().min(1).default('email'),
  /** Requests a gateway token (or OpenID Connect subject) may make, across every gateway replica; unset: no limit. */
  GATEWAY_RATE_PER_TOKEN: rate,
  /** Calls of one tool of one server, from every caller together, across every gateway replica; unset: no limit. */
  GATEWAY_RATE_PER_TOOL: rate,
  /** Sessions one token may hold open at once across every gateway replica; 0: no limit. */
  GATEWAY_MAX_SESSIONS_PER_TOKEN: int(0, 0, 1_000_000),
  /** A gateway session unused this long is over (the client gets 404 and starts another); 0: never. */
  GATEWAY_SESSION_IDLE_SECONDS: int(1800, 0, 30 * 86_400),
});

export type Env = z.infer<typeof envSchema>;

/** Rules across variables, checked after each variable is valid on its own. */
function crossCheck(env: Env): void {
  for (const limit of ['CPUS', 'MEMORY', 'PIDS'] as const) {
    if (env[`SERVER_DEFAULT_${limit}`] > env[`SERVER_MAX_${limit}`]) {
      throw new EnvError(`invalid environment: SERVER_DEFAULT_${limit}: expected at most SERVER_MAX_${limit}`);
    }
  }
  if (Boolean(env.TEMPORAL_TLS_CERT_PATH) !== Boolean(env.TEMPORAL_TLS_KEY_PATH)) {
    throw new EnvError(
      'invalid environment: TEMPORAL_TLS_CERT_PATH: expected together with TEMPORAL_TLS_KEY_PATH (both or neither)',
    );
  }
  if (env.DOCKER_NETWORK_MODE === 'host' && !env.ALLOW_HOST_NETWORK) {
    throw new EnvError(
      'invalid environment: DOCKER_NETWORK_MODE: host shares the host network (Postgres, Temporal, the API) with every hosted server; set ALLOW_HOST_NETWORK=true to accept that',
    );
  }
}

export class EnvError extends Error {
  override readonly name = 'EnvError';
}

/** Parses the given variables; throws EnvError whose message is one line naming the variable. */
export function parseEnvironment(source: Record<string, string | undefined>): Env {
  const result = envSchema.safeParse(source);
  if (result.success) {
    crossCheck(result.data);
    return result.data;
  }
  const issue = result.error.issues[0]!;
  const variable = String(issue.path[0] ?? 'environment');
  const got = source[variable];
  const message =
    issue.code === 'invalid_value' || issue.code === 'too_small' || issue.code === 'invalid_type'
      ? `${issue.message}${got === undefined ? '' : `, got "${got}"`}`
      : issue.message;
  throw new EnvError(`invalid environment: ${variable}: ${message}`);
}

/** Reads `.env` (when present) beneath the real environment, which wins. */
export function readProcessEnv(dotenvPath = '.env'): Record<string, string | undefined> {
  const fromFile = existsSync(dotenvPath) ? parseEnv(readFileSync(dotenvPath, 'utf8')) : {};
  return { ...fromFile, ...process.env };
}

/** PATH and HOME of this process: all of its environment that a child tool (git, a refresh command) inherits. */
export function childToolEnv(): { PATH: string | undefined; HOME: string | undefined } {
  return { PATH: process.env.PATH, HOME: process.env.HOME };
}

/** Entry points call this: parse, or print the one-line reason and exit non-zero. */
export function loadEnv(): Env {
  return exitOnEnvError(() => parseEnvironment(readProcessEnv()));
}

/** For an async start-up step's rejection (`.catch(exitOnEnvErrorOf)`): an EnvError exits as above. */
export function exitOnEnvErrorOf(err: unknown): never {
  return exitOnEnvError(() => {
    throw err;
  });
}

/** Runs a start-up step of configuration; an EnvError prints its one line and exits non-zero. */
export function exitOnEnvError<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof EnvError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}
