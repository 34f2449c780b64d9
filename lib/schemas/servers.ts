import { z } from '@hono/zod-openapi';
import { gitUrlProblem } from '../git-url.js';
import { isPlatformConfigKey, resourceValueProblem } from '../runtime/resources.js';
import { gitSourceHostProblem, imageSourceHostProblem } from '../source-policy.js';
import { SERVER_INTENTS, SERVER_STATUSES } from '../server-status.js';
import { Timestamp } from './common.js';
import { SecretRef } from './secrets.js';

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

export const GitSource = z
  .object({
    type: z.literal('git'),
    repository: z.string().superRefine((url, ctx) => {
      const problem = gitUrlProblem(url);
      if (problem) ctx.addIssue({ code: 'custom', message: `repository ${problem}` });
    }),
    branch: GitRef.default('main'),
    credentials: SourceCredentials.optional(),
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
  });

export const ImageSource = z.object({ type: z.literal('image'), image: ImageRef }).strict();

export const ServerSource = z.discriminatedUnion('type', [GitSource, ImageSource]).openapi('ServerSource');
export type ServerSource = z.infer<typeof ServerSource>;

/** A source as requests name it: its host must also pass the source policy (lib/source-policy.ts). */
const RequestedSource = ServerSource.superRefine((source, ctx) => {
  const [field, problem] =
    source.type === 'git'
      ? ['repository', gitSourceHostProblem(source.repository)]
      : ['image', imageSourceHostProblem(source.image)];
  if (problem) ctx.addIssue({ code: 'custom', path: [field], message: `${field} ${problem}` });
});

/** What happens when a secret the server references gets a new version (config `secrets.on_change`). */
export const SECRET_CHANGE_POLICIES = ['next-start', 'redeploy'] as const;

/**
 * Plain settings, and references to secrets: a value is a string, number or boolean, or
 * `{"secret": "<name>"}` (`"as": "env"` for an environment variable rather than a file). Config is
 * stored, shown and carried by workflows as it is, so a secret's value never belongs in it. `runtime`,
 * `egress`, `resources.*` (cpus, memory, pids) and `secrets.on_change` are settings of the platform;
 * every other key is the server's environment.
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
    const onChange = config['secrets.on_change'];
    if (onChange !== undefined && !SECRET_CHANGE_POLICIES.includes(onChange as never)) {
      ctx.addIssue({
        code: 'custom',
        path: ['secrets.on_change'],
        message: 'secrets.on_change must be "next-start" or "redeploy"',
      });
    }
    // What a server may reach beyond mcp-host's gateway: nothing (the default) or the internet minus
    // private, loopback and link-local ranges.
    if (config.egress !== undefined && config.egress !== 'none' && config.egress !== 'internet') {
      ctx.addIssue({ code: 'custom', path: ['egress'], message: 'egress must be "none" or "internet"' });
    }
  })
  .openapi('ServerConfig');

export const CreateServerBody = z
  .object({
    name: ServerName,
    server_type: ServerType,
    source: RequestedSource,
    config: ServerConfig.default({}),
    use_gpu: z.boolean().default(false),
    start: z.boolean().default(true).openapi({ description: 'Start the server right after creating it' }),
  })
  .strict()
  .openapi('CreateServer');
export type CreateServerBody = z.infer<typeof CreateServerBody>;

export const ServerStatusSchema = z.enum(SERVER_STATUSES);

export const Server = z
  .object({
    id: z.number().int(),
    name: z.string(),
    server_type: z.string(),
    source: ServerSource,
    config: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), SecretRef])),
    use_gpu: z.boolean(),
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
