// server.json of the official MCP registry (modelcontextprotocol/registry, the 2025-09-29 / 2025-10-17
// schema: camelCase fields, `packages[].transport`, `remotes[]` of transports): what mcp-host reads
// from it to host the server. Fields mcp-host does not use are accepted and dropped.
import { z } from '@hono/zod-openapi';

const Input = {
  description: z.string().max(1000).optional(),
  isRequired: z.boolean().optional(),
  isSecret: z.boolean().optional(),
  format: z.enum(['string', 'number', 'boolean', 'filepath']).optional(),
  value: z.string().max(4096).optional(),
  default: z.string().max(4096).optional(),
  placeholder: z.string().max(1000).optional(),
  choices: z.array(z.string().max(4096)).max(100).optional(),
};

const PositionalArgument = z.object({
  type: z.literal('positional'),
  valueHint: z.string().max(200).optional(),
  isRepeated: z.boolean().optional(),
  ...Input,
});

const NamedArgument = z.object({
  type: z.literal('named'),
  name: z.string().min(1).max(200),
  isRepeated: z.boolean().optional(),
  ...Input,
});

export const ServerJsonArgument = z.discriminatedUnion('type', [PositionalArgument, NamedArgument]);
export type ServerJsonArgument = z.infer<typeof ServerJsonArgument>;

export const ServerJsonEnvironmentVariable = z.object({
  name: z.string().min(1).max(128),
  ...Input,
});
export type ServerJsonEnvironmentVariable = z.infer<typeof ServerJsonEnvironmentVariable>;

const Url = z
  .string()
  .max(2048)
  .regex(/^(https?:\/\/\S+|\{[A-Za-z_][A-Za-z0-9_]*\}\S*)$/, 'must be an http(s) URL or a {variable} template');

const Transport = z.discriminatedUnion('type', [
  z.object({ type: z.literal('stdio') }),
  z.object({ type: z.literal('streamable-http'), url: Url }),
  z.object({ type: z.literal('sse'), url: Url }),
]);

/** A version must be exact: the registry refuses ranges and `latest`. */
const ExactVersion = z
  .string()
  .min(1)
  .max(255)
  .refine(
    (v) => v !== 'latest' && !/^[\^~<>=]|[*x]$|\s/.test(v),
    'must be a specific version, not a range or "latest"',
  );

export const ServerJsonPackage = z.object({
  registryType: z.string().min(1).max(32).openapi({ description: 'npm, pypi, oci, nuget, mcpb, …' }),
  registryBaseUrl: z.url().max(2048).optional(),
  identifier: z.string().min(1).max(512),
  version: ExactVersion.optional(),
  fileSha256: z
    .string()
    .regex(/^[a-f0-9]{64}$/, 'must be 64 lowercase hex digits')
    .optional(),
  runtimeHint: z.string().max(64).optional(),
  transport: Transport,
  runtimeArguments: z.array(ServerJsonArgument).max(64).optional(),
  packageArguments: z.array(ServerJsonArgument).max(64).optional(),
  environmentVariables: z.array(ServerJsonEnvironmentVariable).max(64).optional(),
});
export type ServerJsonPackage = z.infer<typeof ServerJsonPackage>;

export const ServerJsonRemote = z.object({
  type: z.enum(['streamable-http', 'sse']),
  url: Url,
  headers: z.array(ServerJsonEnvironmentVariable).max(64).optional(),
});

export const ServerJson = z
  .object({
    $schema: z.string().max(2048).optional(),
    name: z
      .string()
      .min(3)
      .max(200)
      .regex(
        /^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/,
        'must be a reverse-DNS name with one "/", such as io.github.user/weather',
      ),
    description: z.string().min(1).max(100),
    title: z.string().min(1).max(100).optional(),
    version: ExactVersion,
    websiteUrl: z.url().max(2048).optional(),
    repository: z
      .object({
        url: z.string().max(2048),
        source: z.string().max(64),
        id: z.string().max(200).optional(),
        subfolder: z.string().max(255).optional(),
      })
      .optional(),
    packages: z.array(ServerJsonPackage).max(32).optional(),
    remotes: z.array(ServerJsonRemote).max(32).optional(),
  })
  .openapi('ServerJson', {
    description: 'A server.json of the official MCP registry (2025-09-29 / 2025-10-17 schema)',
  });
export type ServerJson = z.infer<typeof ServerJson>;

/** A server created from a server.json: its package becomes the source, its variables the config. */
export const RegistrySource = z
  .object({
    type: z.literal('registry'),
    server: ServerJson,
    package: z
      .number()
      .int()
      .min(0)
      .max(31)
      .optional()
      .openapi({ description: 'Which of `server.packages` to host; the first npm, pypi or oci one by default' }),
  })
  .strict()
  .openapi('RegistrySource');
export type RegistrySource = z.infer<typeof RegistrySource>;
