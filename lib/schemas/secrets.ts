// The secret store's shapes: what requests send, what answers show (never a value), and the
// reference a server's config holds in place of one.
import { z } from '@hono/zod-openapi';
import { Timestamp } from './common.js';

/** Becomes a file name (/run/secrets/<name>) and a Kubernetes Secret key: no slash, no leading dot. */
export const SecretName = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/,
    'must be 1-64 lowercase letters, digits, ".", "_" or "-", starting and ending with a letter or digit',
  );

/** Largest secret value, in bytes (a PEM key chain fits; a file of data does not belong here). */
export const SECRET_MAX_BYTES = 64 * 1024;

const SecretValue = z
  .string()
  .min(1, 'must not be empty')
  .refine((v) => Buffer.byteLength(v, 'utf8') <= SECRET_MAX_BYTES, `must be at most ${SECRET_MAX_BYTES} bytes`);

/**
 * A config value that names a secret of the server's owner. Delivered as the file /run/secrets/<name>
 * (with `<KEY>_FILE` pointing at it) unless `as` is `env`; the value itself is resolved only at launch.
 */
export const SecretRef = z
  .object({
    secret: SecretName,
    as: z.enum(['file', 'env']).optional().openapi({ description: 'file (default): /run/secrets/<name>; env: <KEY>' }),
  })
  .strict()
  .openapi('SecretRef');
export type SecretRef = z.infer<typeof SecretRef>;

export type ConfigValue = string | number | boolean | SecretRef;
export type ConfigValues = Record<string, ConfigValue>;

export const isSecretRef = (value: ConfigValue): value is SecretRef => typeof value === 'object' && value !== null;

/** The secret references of a config, by config key. */
export const secretRefs = (config: ConfigValues): [string, SecretRef][] =>
  Object.entries(config).filter((entry): entry is [string, SecretRef] => isSecretRef(entry[1]));

/** A config's plain settings, secret references left out. */
export const plainSettings = (config: ConfigValues): Record<string, string | number | boolean> =>
  Object.fromEntries(Object.entries(config).filter(([, v]) => !isSecretRef(v))) as Record<
    string,
    string | number | boolean
  >;

/** Where a file-delivered secret is in the workload. */
export const SECRETS_MOUNT = '/run/secrets';

export const CreateSecretBody = z.object({ name: SecretName, value: SecretValue }).strict().openapi('CreateSecret');
export const UpdateSecretBody = z.object({ value: SecretValue }).strict().openapi('UpdateSecret');

export const SecretNameParam = z.object({
  name: SecretName.openapi({ param: { name: 'name', in: 'path' }, example: 'github-token' }),
});

export const SecretUser = z.object({ id: z.number().int(), name: z.string() }).openapi('SecretUser');

export const Secret = z
  .object({
    name: z.string(),
    owner_id: z.number().int(),
    version: z.number().int().openapi({ description: 'The current version (1 at creation, +1 per PUT)' }),
    created_at: Timestamp,
    updated_at: Timestamp,
    used_by: z.array(SecretUser).openapi({ description: 'Servers whose config references the secret' }),
  })
  .openapi('Secret');
export type Secret = z.infer<typeof Secret>;

export const UpdatedSecret = Secret.extend({
  redeployed: z.array(SecretUser).openapi({
    description:
      'Launched servers using the secret whose secret_updates is "redeploy": redeployed now; the others take the new version at their next start',
  }),
}).openapi('UpdatedSecret');
export type UpdatedSecret = z.infer<typeof UpdatedSecret>;

export const RekeyResult = z
  .object({
    key_id: z.string().openapi({ description: 'The key-encryption key every data key is now wrapped by' }),
    rewrapped: z.number().int(),
    already: z.number().int().openapi({ description: 'Versions that were wrapped by it already' }),
  })
  .openapi('RekeyResult');

export const CodecKeyAdded = z
  .object({
    codec_key_id: z
      .string()
      .openapi({ description: "The new payload codec key's id (a fingerprint): new payloads name it, never the key" }),
    key_id: z.string().openapi({ description: 'The key-encryption key it is wrapped by' }),
    keys: z.number().int().openapi({ description: 'Codec keys stored now; each still opens what it sealed' }),
  })
  .openapi('CodecKeyAdded');
