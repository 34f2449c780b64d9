import { describe, expect, it } from 'vitest';
import { CreateServerBody } from '../schemas/servers.js';

/** The official registry's example shapes (2025-10-17 schema), abridged to what mcp-host reads. */
const memory = {
  $schema: 'https://static.modelcontextprotocol.io/schemas/2025-10-17/server.schema.json',
  name: 'io.github.modelcontextprotocol/memory',
  description: 'Knowledge-graph memory for MCP clients',
  version: '2025.9.25',
  packages: [
    {
      registryType: 'npm',
      registryBaseUrl: 'https://registry.npmjs.org',
      identifier: '@modelcontextprotocol/server-memory',
      version: '2025.9.25',
      transport: { type: 'stdio' },
      packageArguments: [
        { type: 'named', name: '--log-level', default: 'info' },
        { type: 'positional', valueHint: 'graph_dir', value: '/data' },
        { type: 'positional', valueHint: 'optional_extra' },
      ],
      environmentVariables: [
        { name: 'MEMORY_FILE_PATH', default: '/data/memory.json' },
        { name: 'SEARCH_KEY', isSecret: true, isRequired: true, description: 'the key' },
        { name: 'MODE', choices: ['fast', 'slow'], isRequired: true },
      ],
    },
  ],
};

const body = (server: unknown, extra: Record<string, unknown> = {}) => ({
  name: 'memory',
  server_type: 'Example',
  source: { type: 'registry', server },
  ...extra,
});

const issueOf = (input: unknown) => {
  const result = CreateServerBody.safeParse(input);
  if (result.success) return undefined;
  const issue = result.error.issues[0]!;
  return { field: issue.path.join('.'), message: issue.message };
};

const withPackage = (patch: Record<string, unknown>) => ({
  ...memory,
  packages: [{ ...memory.packages[0], ...patch }],
});

describe('server.json import', () => {
  it('refuses a plain value for an isSecret variable, naming it', () => {
    expect(issueOf(body(memory, { config: { SEARCH_KEY: 'sk-123', MODE: 'fast' } }))).toEqual({
      field: 'config.SEARCH_KEY',
      message: expect.stringContaining('{"secret": "<name>"}'),
    });
  });

  it('asks for a required secret and a required setting', () => {
    expect(issueOf(body(memory, { config: { MODE: 'fast' } }))?.field).toBe('config.SEARCH_KEY');
    const noSecret = withPackage({ environmentVariables: memory.packages[0]!.environmentVariables.slice(2) });
    expect(issueOf(body(noSecret))).toEqual({ field: 'config.MODE', message: 'MODE is required by server.json' });
    expect(issueOf(body(noSecret, { config: { MODE: 'medium' } }))).toEqual({
      field: 'config.MODE',
      message: 'must be one of fast, slow',
    });
  });

  it('maps an npm package: source, arguments, transport and environment', () => {
    const noSecret = withPackage({
      environmentVariables: memory.packages[0]!.environmentVariables.filter((v) => !v.isSecret),
    });
    const parsed = CreateServerBody.parse(body(noSecret, { config: { MODE: 'slow', egress: 'internet' } }));
    expect(parsed.source).toEqual({
      type: 'npm',
      package: '@modelcontextprotocol/server-memory',
      version: '2025.9.25',
      args: ['--log-level', 'info', '/data'],
    });
    expect(parsed.transport).toBe('stdio');
    expect(parsed.config).toEqual({ MEMORY_FILE_PATH: '/data/memory.json', MODE: 'slow', egress: 'internet' });
  });

  it('maps pypi (exact version) and oci (tag from version, host from registryBaseUrl; pinned kept)', () => {
    const pypi = CreateServerBody.parse(
      body({
        ...memory,
        packages: [
          { registryType: 'pypi', identifier: 'mcp-server-fetch', version: '2025.4.7', transport: { type: 'stdio' } },
        ],
      }),
    );
    expect(pypi.source).toEqual({ type: 'pypi', package: 'mcp-server-fetch', version: '2025.4.7' });
    const oci = (pkg: Record<string, unknown>) =>
      CreateServerBody.parse(
        body({
          ...memory,
          packages: [
            { registryType: 'oci', transport: { type: 'streamable-http', url: 'http://localhost:8080/mcp' }, ...pkg },
          ],
        }),
      );
    const tagged = oci({ identifier: 'registry.example.com/team/weather', version: '1.0.2' });
    expect(tagged.source).toEqual({ type: 'image', image: 'registry.example.com/team/weather:1.0.2' });
    expect(tagged.transport).toBe('streamable-http');
    expect(oci({ registryBaseUrl: 'https://docker.io', identifier: 'mcp/weather', version: '1' }).source).toEqual({
      type: 'image',
      image: 'docker.io/mcp/weather:1',
    });
    const digest = `sha256:${'d'.repeat(64)}`;
    expect(oci({ identifier: `registry.example.com/team/weather@${digest}`, version: '1.0.2' }).source).toEqual({
      type: 'image',
      image: `registry.example.com/team/weather@${digest}`,
    });
  });

  it('picks the first package mcp-host hosts, or the one asked for', () => {
    const both = {
      ...memory,
      packages: [
        { registryType: 'nuget', identifier: 'Weather.Mcp', version: '1.0.0', transport: { type: 'stdio' } },
        { registryType: 'pypi', identifier: 'weather-mcp', version: '1.0.0', transport: { type: 'stdio' } },
      ],
    };
    expect(CreateServerBody.parse(body(both)).source.type).toBe('pypi');
    const asked = { ...body(both), source: { type: 'registry', server: both, package: 0 } };
    expect(issueOf(asked)).toEqual({
      field: 'source.server.packages.0.registryType',
      message: 'mcp-host hosts npm, pypi, oci packages, not nuget',
    });
  });

  it('names the server.json field a refusal is about', () => {
    expect(issueOf(body({ ...memory, name: 'no-slash' }))?.field).toBe('source.server.name');
    expect(issueOf(body({ ...memory, description: 'x'.repeat(101) }))?.field).toBe('source.server.description');
    expect(issueOf(body(withPackage({ version: '^1.2.3' })))?.field).toBe('source.server.packages.0.version');
    expect(issueOf(body(withPackage({ transport: { type: 'sse', url: 'https://x.example/sse' } })))?.field).toBe(
      'source.server.packages.0.transport.type',
    );
    expect(issueOf(body(withPackage({ identifier: 'Not A Package!' }), { config: { MODE: 'fast' } }))?.field).toMatch(
      /^(source\.server\.packages\.0\.identifier|config\.SEARCH_KEY)$/,
    );
    expect(issueOf(body(withPackage({ registryBaseUrl: 'https://npm.example.com' })))?.field).toBe(
      'source.server.packages.0.registryBaseUrl',
    );
    const remoteOnly = {
      ...memory,
      packages: [],
      remotes: [{ type: 'streamable-http', url: 'https://weather.example.com/mcp' }],
    };
    expect(issueOf(body(remoteOnly))).toEqual({
      field: 'source.server.remotes',
      message: expect.stringContaining('hosted elsewhere'),
    });
  });

  it('reports a bad package identifier under the server.json field', () => {
    const plain = withPackage({ identifier: 'Not A Package!', environmentVariables: [] });
    expect(issueOf(body(plain))).toEqual({
      field: 'source.server.packages.0.identifier',
      message: expect.stringContaining('npm package name'),
    });
  });
});
