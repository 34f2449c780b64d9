import { z } from '@hono/zod-openapi';
import { gitUrlProblem } from '../git-url.js';
import { isPlatformConfigKey, resourceValueProblem } from '../runtime/resources.js';
import { gitSourceHostProblem, imageSourceHostProblem } from '../source-policy.js';
import { SERVER_INTENTS, SERVER_STATUSES } from '../server-status.js';
import { importServerJson } from '../mcp-registry/import.js';
import { Timestamp } from './common.js';
import { SecretRef } from './secrets.js';
import { RegistrySource } from './server-json.js';

/** A DNS label, so the name can become a container, pod or service name as it is. */
export const ServerName = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'must be 1-63 lowercase letters, digits or "-", not starting or ending with "-"',
  );

export const ServerType = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/, 'must be 1-64 letters, digits, spaces, "_", "." or "-"');

const GitRef = z
  .string()
  .min(1)
  .max(255)
  .regex(/^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]+$/, 'must be a branch name without spaces, ".." or a leading "-"');

export const ImageRef = z
  .string()
  .max(512)
  .regex(
    /^(?:[a-z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/,
    'must be an image reference such as registry.example.com/team/server:1.0',
  );

/** A secret's name, as the secret store names them (owner-scoped). */
const SecretRefName = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/,
    'must be 1-64 lowercase letters, digits, ".", "_" or "-", starting and ending with a letter or digit',
  );

/**
 * How mcp-host authenticates to a private repository: the named secret of the server's owner holds an
 * HTTPS token (sent as the password of basic auth, with `username`) or, for ssh:// and user@host:path,
 * a deploy key (an OpenSSH private key). Only the reference is stored and carried; the value is read
 * inside the checkout activity.
 */
export const SourceCredentials = z
  .object({
    secret: SecretRefName,
    username: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1-128 letters, digits, ".", "_" or "-"')
      .optional()
      .openapi({ description: 'Basic-auth user name for an HTTPS token (default x-access-token)' }),
  })
  .strict()
  .openapi('SourceCredentials');
export type SourceCredentials = z.infer<typeof SourceCredentials>;

/** A registry as image references name it: host[:port], no scheme, no path (Docker Hub is docker.io). */
const RegistryHost = z
  .string()
  .max(255)
  .regex(
    /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/,
    'must be a registry host such as registry.example.com or 127.0.0.1:5000 (no scheme, no path)',
  );

/**
 * Credentials for the registry of a git source's base images (its Dockerfile's FROM): the named secret
 * of the server's owner holds `username:password` (the user name up to the first ":", the password
 * or token after it). Used to pin each FROM to its digest and for the daemon's pull; only the
 * reference is stored and carried, the value is read inside the build activity.
 */
export const RegistryCredentials = z
  .object({ registry: RegistryHost, secret: SecretRefName })
  .strict()
  .openapi('RegistryCredentials', {
    description: 'A registry of base images and the secret (`username:password`) that logs in to it',
  });
export type RegistryCredentials = z.infer<typeof RegistryCredentials>;

/**
 * A path inside the repository (the build context, or the Dockerfile relative to it): relative, no
 * `..` or `.` segments, no empty segments, so it can never name anything outside the checkout.
 */
const RepoPath = z
  .string()
  .min(1)
  .max(255)
  .regex(
    /^(?!\/)(?!.*\/\/)(?!.*\/$)(?!(?:.*\/)?\.\.?(?:\/|$))[A-Za-z0-9._@+-]+(?:\/[A-Za-z0-9._@+-]+)*$/,
    'must be a relative path inside the repository (letters, digits, "._@+-" and "/"; no "..", no leading "/")',
  );

export const GitSource = z
  .object({
    type: z.literal('git'),
    repository: z.string().superRefine((url, ctx) => {
      const problem = gitUrlProblem(url);
      if (problem) ctx.addIssue({ code: 'custom', message: `repository ${problem}` });
    }),
    branch: GitRef.default('main'),
    credentials: SourceCredentials.optional(),
    registry_credentials: z
      .array(RegistryCredentials)
      .max(8)
      .optional()
      .openapi({ description: "Logins to private registries the Dockerfile's FROM images come from" }),
    directory: RepoPath.optional().openapi({
      description: 'The build context inside the repository (a monorepo package); the repository root by default',
    }),
    dockerfile: RepoPath.optional().openapi({
      description:
        'The Dockerfile, relative to `directory`; `Dockerfile` by default, generated when the project has none',
    }),
  })
  .strict()
  .superRefine((source, ctx) => {
    if (source.credentials && /^git:\/\//i.test(source.repository)) {
      ctx.addIssue({
        code: 'custom',
        path: ['credentials'],
        message: 'credentials need an https:// or ssh:// repository; git:// has no authentication',
      });
    }
    const seen = new Set<string>();
    (source.registry_credentials ?? []).forEach(({ registry }, i) => {
      if (seen.has(registry))
        ctx.addIssue({
          code: 'custom',
          path: ['registry_credentials', i, 'registry'],
          message: `registry ${registry} is given more than once`,
        });
      seen.add(registry);
    });
  })
  .openapi('GitSource');

export const ImageSource = z
  .object({ type: z.literal('image'), image: ImageRef })
  .strict()
  .openapi('ImageSource');

/** Arguments the package's command is started with (after its own entry point). */
const PackageArgs = z
  .array(
    z
      .string()
      .max(1024)
      .regex(/^[^\0]*$/, 'must not contain NUL'),
  )
  .max(64)
  .openapi({ description: "Arguments passed to the package's command" });

const SECRET_LIKE = /(pass(word)?|secret|token|api[_-]?key|private[_-]?key|credential)/i;

/** Environment baked into a package's image: plain settings only, secrets are never kept here. */
const PackageEnv = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'environment variable names must be 1-128 letters, digits or "_"'),
    z.string().max(4096),
  )
  .superRefine((env, ctx) => {
    const keys = Object.keys(env);
    if (keys.length > 64) ctx.addIssue({ code: 'custom', message: 'env may hold at most 64 variables' });
    for (const key of keys) {
      if (SECRET_LIKE.test(key))
        ctx.addIssue({ code: 'custom', path: [key], message: 'looks like a secret; secrets are not accepted in env' });
    }
  })
  .openapi({ description: "Environment of the package's command (no secrets: they would be part of the image)" });

/** An exact version or a dist-tag (resolved once per build, and recorded with the build). */
const NpmVersion = z
  .string()
  .min(1)
  .max(64)
  .regex(
    /^(?:\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?|[A-Za-z][A-Za-z0-9._-]*)$/,
    'must be an exact version such as 1.2.3, or a dist-tag such as latest',
  );

export const NpmSource = z
  .object({
    type: z.literal('npm'),
    package: z
      .string()
      .max(214)
      .regex(
        /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/,
        'must be an npm package name such as @modelcontextprotocol/server-memory',
      ),
    version: NpmVersion.default('latest'),
    args: PackageArgs.optional(),
    env: PackageEnv.optional(),
  })
  .strict()
  .openapi('NpmSource');

export const PypiSource = z
  .object({
    type: z.literal('pypi'),
    package: z
      .string()
      .max(128)
      .regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/, 'must be a PyPI project name such as mcp-server-fetch'),
    version: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[0-9][A-Za-z0-9.!+-]*$/, 'must be an exact version such as 2025.4.7 (PEP 440)'),
    args: PackageArgs.optional(),
    env: PackageEnv.optional(),
  })
  .strict()
  .openapi('PypiSource');

export const GoSource = z
  .object({
    type: z.literal('go'),
    module: z
      .string()
      .max(255)
      .regex(
        /^[a-z0-9][a-z0-9.-]*\.[a-z]{2,}(?:\/[A-Za-z0-9._~-]+)+$/,
        'must be a Go package path such as github.com/owner/repo/cmd/server',
      ),
    version: z
      .string()
      .max(128)
      .regex(
        /^(?:latest|v\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$/,
        'must be a module version such as v1.2.3, or latest',
      )
      .default('latest'),
    args: PackageArgs.optional(),
    env: PackageEnv.optional(),
  })
  .strict()
  .openapi('GoSource');

export const ServerSource = z
  .discriminatedUnion('type', [GitSource, ImageSource, NpmSource, PypiSource, GoSource])
  .openapi('ServerSource', {
    description:
      'Where the server comes from: a git repository (built), an image (run as it is), or an npm, PyPI or Go package (built into an image that runs the package)',
  });
export type ServerSource = z.infer<typeof ServerSource>;
export type PackageSource = Extract<ServerSource, { type: 'npm' | 'pypi' | 'go' }>;

/**
 * How the server speaks MCP: over stdin/stdout (run behind the stdio bridge) or Streamable HTTP.
 * Unset: a package source is stdio, a git source what its image declares (`io.mcp-host.transport`).
 */
export const ServerTransport = z.enum(['stdio', 'streamable-http']).openapi('ServerTransport', {
  description:
    'stdio (the default for packages; served through the stdio bridge) or streamable-http (the image listens on $PORT, 8080, at /mcp). Unset for git: what the image labels io.mcp-host.transport say, else detected from the project',
});
export type ServerTransport = z.infer<typeof ServerTransport>;

/** A requested source's host must also pass the source policy (lib/source-policy.ts). */
function checkSourceHost(
  source: { type: string; repository?: string; image?: string; registry_credentials?: { registry: string }[] },
  ctx: z.RefinementCtx,
): void {
  if (source.type !== 'git' && source.type !== 'image') return; // package registries are the platform's own
  const [field, problem] =
    source.type === 'git'
      ? ['repository', gitSourceHostProblem(source.repository!)]
      : ['image', imageSourceHostProblem(source.image!)];
  if (problem) ctx.addIssue({ code: 'custom', path: [field], message: `${field} ${problem}` });
  // A registry the credentials go to is a source host too: they are sent nowhere the policy refuses.
  if (source.type !== 'git') return;
  (source.registry_credentials ?? []).forEach(({ registry }, i) => {
    const refused = imageSourceHostProblem(`${registry}/base`);
    if (refused)
      ctx.addIssue({ code: 'custom', path: ['registry_credentials', i, 'registry'], message: `registry ${refused}` });
  });
}

/** A source as requests name it (and as a server.json maps to one). */
const RequestedSource = ServerSource.superRefine(checkSourceHost);

/** What happens when a secret the server references gets a new version (the server's `secret_updates`). */
export const SECRET_UPDATE_POLICIES = ['next-start', 'redeploy'] as const;
export type SecretUpdatePolicy = (typeof SECRET_UPDATE_POLICIES)[number];

const SecretUpdates = z
  .enum(SECRET_UPDATE_POLICIES, { message: 'secret_updates must be "next-start" or "redeploy"' })
  .openapi({
    description:
      'When a secret the server references gets a new version: "next-start" takes it at the next start, "redeploy" redeploys a launched server at once',
  });

/**
 * Plain settings, and references to secrets: a value is a string, number or boolean, or
 * `{"secret": "<name>"}` (`"as": "env"` for an environment variable rather than a file). Config is
 * stored, shown and carried by workflows as it is, so a secret's value never belongs in it. `runtime`,
 * `egress` and `resources.*` (cpus, memory, pids) are settings of the platform; every other key is
 * the server's environment.
 */
export const ServerConfig = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/, 'config keys must be 1-128 letters, digits, "_", "." or "-"'),
    z.union([z.string().max(4096), z.number(), z.boolean(), SecretRef]),
  )
  .superRefine((config, ctx) => {
    const keys = Object.keys(config);
    if (keys.length > 64) ctx.addIssue({ code: 'custom', message: 'config may hold at most 64 keys' });
    for (const key of keys) {
      const value = config[key]!;
      if (typeof value === 'object') {
        if (isPlatformConfigKey(key))
          ctx.addIssue({ code: 'custom', path: [key], message: `${key} is a platform setting, not a secret` });
        // The file reference takes <KEY>_FILE: a plain key of that name would be overwritten.
        else if (value.as !== 'env' && `${key}_FILE` in config)
          ctx.addIssue({
            code: 'custom',
            path: [`${key}_FILE`],
            message: `${key}_FILE is set by the secret reference of ${key}`,
          });
        continue;
      }
      const problem = resourceValueProblem(key, value);
      if (problem) ctx.addIssue({ code: 'custom', path: [key], message: problem });
    }
    // The policy for a secret's new version is the server's field; a config key would say nothing.
    if (config['secrets.on_change'] !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['secrets.on_change'],
        message: 'secrets.on_change is not a config key: set the server field secret_updates',
      });
    }
    // What a server may reach beyond mcp-host's gateway: nothing (the default) or the internet minus
    // private, loopback and link-local ranges.
    if (config.egress !== undefined && config.egress !== 'none' && config.egress !== 'internet') {
      ctx.addIssue({ code: 'custom', path: ['egress'], message: 'egress must be "none" or "internet"' });
    }
  })
  .openapi('ServerConfig');

/** The fields of a mapped source as server.json names them, for the errors about them. */
const SERVER_JSON_FIELD: Record<string, string> = {
  package: 'identifier',
  image: 'identifier',
  version: 'version',
  args: 'packageArguments',
};

export const CreateServerBody = z
  .object({
    name: ServerName,
    server_type: ServerType,
    // One level of variants, each a named schema: a union nested in the union would leave the
    // document's discriminator mapping pointing at a oneOf (ServerSource) instead of an object.
    source: z
      .discriminatedUnion('type', [GitSource, ImageSource, NpmSource, PypiSource, GoSource, RegistrySource])
      .superRefine(checkSourceHost),
    transport: ServerTransport.optional(),
    config: ServerConfig.default({}),
    use_gpu: z.boolean().default(false),
    secret_updates: SecretUpdates.default('next-start'),
    start: z.boolean().default(true).openapi({ description: 'Start the server right after creating it' }),
  })
  .strict()
  .openapi('CreateServer')
  // A server.json (`source: {type: "registry", server}`) becomes the source it names, checked as
  // any requested source is; its errors name the server.json's fields.
  .transform((body, ctx) => {
    const { source } = body;
    if (source.type !== 'registry') return { ...body, source };
    const { imported, issues } = importServerJson(source, body.config);
    for (const issue of issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    if (!imported) return z.NEVER;
    const mapped = RequestedSource.safeParse(imported.source);
    const config = ServerConfig.safeParse(imported.config);
    if (!mapped.success)
      for (const issue of mapped.error.issues) {
        const field = SERVER_JSON_FIELD[String(issue.path[0])] ?? String(issue.path[0] ?? 'identifier');
        ctx.addIssue({ code: 'custom', path: [...imported.packagePath, field], message: issue.message });
      }
    if (!config.success)
      for (const issue of config.error.issues)
        ctx.addIssue({ code: 'custom', path: ['config', ...issue.path.map(String)], message: issue.message });
    if (!mapped.success || !config.success) return z.NEVER;
    return { ...body, source: mapped.data, transport: body.transport ?? imported.transport, config: config.data };
  });
export type CreateServerBody = z.infer<typeof CreateServerBody>;

/**
 * What PATCH /api/servers/:id may change: the server's settings. Its source, owner, name and type are
 * what the server is (its builds, its namespace, its governance track): a new one is a new server.
 */
export const UpdateServerBody = z
  .object({
    config: ServerConfig.optional().openapi({
      description:
        "Replaces the server's config as a whole (plain settings and secret references); taken at its next launch",
    }),
    use_gpu: z.boolean().optional().openapi({ description: 'Taken at the next launch' }),
    secret_updates: SecretUpdates.optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.config === undefined && body.use_gpu === undefined && body.secret_updates === undefined)
      ctx.addIssue({ code: 'custom', message: 'give at least one of config, use_gpu or secret_updates' });
  })
  .openapi('UpdateServer', {
    description: 'Settings to change; the source, owner, name and server_type are fixed (unknown fields are refused)',
  });
export type UpdateServerBody = z.infer<typeof UpdateServerBody>;

export const ServerStatusSchema = z.enum(SERVER_STATUSES);

export const Server = z
  .object({
    id: z.number().int(),
    name: z.string(),
    server_type: z.string(),
    source: ServerSource,
    transport: ServerTransport.nullable(),
    config: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), SecretRef])),
    use_gpu: z.boolean(),
    secret_updates: SecretUpdates,
    owner_id: z.number().int(),
    status: ServerStatusSchema,
    status_reason: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi('Server');
export type Server = z.infer<typeof Server>;

export const ListServersQuery = z
  .object({
    status: ServerStatusSchema.optional(),
    after: z
      .string()
      .regex(/^\d{1,10}$/, 'must be a server id')
      .transform(Number)
      .optional(),
    limit: z
      .string()
      .regex(/^\d{1,3}$/, 'must be an integer between 1 and 500')
      .transform(Number)
      .refine((n) => n >= 1 && n <= 500, 'must be an integer between 1 and 500')
      .optional(),
  })
  .strict();

export const IntentAccepted = z
  .object({ server_id: z.number().int(), intent: z.enum(SERVER_INTENTS), status: ServerStatusSchema })
  .openapi('IntentAccepted');

export const ServerEvent = z
  .object({
    id: z.number().int().openapi({ description: 'Server id' }),
    event_id: z.number().int(),
    status: z.string(),
    previous_status: z.string().nullable(),
    reason: z.string().nullable(),
    at: Timestamp,
  })
  .openapi('ServerEvent');
export type ServerEvent = z.infer<typeof ServerEvent>;
