// A server.json of the official MCP registry as an mcp-host server: the package it names becomes the
// source (npm and pypi packages are built like any package source, an oci image runs by digest), its
// package arguments the command's arguments, its environment variables the server's config — an
// `isSecret` one only as a secret reference. Pure: the request schema validates what comes out.
import type { ServerJson, ServerJsonArgument, ServerJsonPackage, RegistrySource } from '../schemas/server-json.js';

type ConfigValue = string | number | boolean | { secret: string };

/** What the mapping makes of a request; `source` is checked afterwards like any requested source. */
export interface ImportedServer {
  source: Record<string, unknown> & { type: 'npm' | 'pypi' | 'image' };
  transport?: 'stdio' | 'streamable-http';
  config: Record<string, ConfigValue>;
  /** Where the hosted package is in the request: the errors about its source name its fields. */
  packagePath: (string | number)[];
}

export interface ImportIssue {
  /** From the request body's root: `['source', 'server', 'packages', 0, 'transport', 'type']`, `['config', 'API_KEY']`. */
  path: (string | number)[];
  message: string;
}

const HOSTED = ['npm', 'pypi', 'oci'] as const;
const NPM_REGISTRY = 'https://registry.npmjs.org';
const PYPI_REGISTRY = 'https://pypi.org';

const isReference = (value: ConfigValue | undefined): value is { secret: string } =>
  typeof value === 'object' && value !== null;

/** The index of the package to host: the one asked for, else the first of a kind mcp-host hosts. */
function choosePackage(server: ServerJson, asked: number | undefined, issues: ImportIssue[]): number | undefined {
  const packages = server.packages ?? [];
  if (asked !== undefined) {
    if (asked >= packages.length)
      issues.push({ path: ['source', 'package'], message: `server.json has ${packages.length} package(s)` });
    return asked < packages.length ? asked : undefined;
  }
  const index = packages.findIndex((p) => (HOSTED as readonly string[]).includes(p.registryType));
  if (index >= 0) return index;
  if (packages.length > 0)
    issues.push({
      path: ['source', 'server', 'packages', 0, 'registryType'],
      message: `no package mcp-host can host: registryType must be one of ${HOSTED.join(', ')}`,
    });
  else if ((server.remotes ?? []).length > 0)
    issues.push({
      path: ['source', 'server', 'remotes'],
      message:
        'a server.json with only remotes describes a server hosted elsewhere: connect to its URL directly; mcp-host hosts packages (npm, pypi, oci)',
    });
  else issues.push({ path: ['source', 'server', 'packages'], message: 'server.json names no package to host' });
  return undefined;
}

/** The package's arguments as a command line; one without a value is left out unless required. */
function argumentsOf(args: readonly ServerJsonArgument[], at: (string | number)[], issues: ImportIssue[]): string[] {
  const line: string[] = [];
  args.forEach((arg, i) => {
    const value = arg.value ?? arg.default;
    if (arg.isSecret && value !== undefined) {
      // A secret on a command line is visible to anyone who can list the container's processes.
      issues.push({
        path: [...at, i],
        message: 'a secret argument cannot be hosted: mcp-host passes secrets as files or environment',
      });
      return;
    }
    if (value === undefined) {
      if (arg.isRequired) issues.push({ path: [...at, i], message: 'a required argument without a value or default' });
      else if (arg.type === 'named') line.push(arg.name);
      return;
    }
    if (arg.type === 'named') line.push(arg.name, value);
    else line.push(value);
  });
  return line;
}

/** The source of one package, or undefined with the issues that say why not. */
function sourceOf(pkg: ServerJsonPackage, at: (string | number)[], args: string[], issues: ImportIssue[]) {
  const base = pkg.registryBaseUrl?.replace(/\/+$/, '');
  const foreignBase = (expected: string) => {
    if (base !== undefined && base !== expected)
      issues.push({
        path: [...at, 'registryBaseUrl'],
        message: `mcp-host builds ${pkg.registryType} packages from the platform's registry (${expected})`,
      });
  };
  switch (pkg.registryType) {
    case 'npm':
      foreignBase(NPM_REGISTRY);
      return {
        type: 'npm' as const,
        package: pkg.identifier,
        version: pkg.version ?? 'latest',
        ...(args.length ? { args } : {}),
      };
    case 'pypi':
      foreignBase(PYPI_REGISTRY);
      if (pkg.version === undefined)
        issues.push({ path: [...at, 'version'], message: 'a pypi package needs its exact version' });
      return {
        type: 'pypi' as const,
        package: pkg.identifier,
        version: pkg.version ?? '',
        ...(args.length ? { args } : {}),
      };
    case 'oci': {
      if (args.length)
        issues.push({
          path: [...at, 'packageArguments'],
          message: 'an image runs its own command: arguments cannot be hosted for oci packages',
        });
      // `registryBaseUrl` names the registry when the identifier does not (`https://docker.io` + `user/image`).
      const host = base ? new URL(base).host : undefined;
      const named = host && !/^[^/]+[.:][^/]*\//.test(pkg.identifier) ? `${host}/${pkg.identifier}` : pkg.identifier;
      const pinnedOrTagged = /@sha256:|:[^/]+$/.test(named);
      return { type: 'image' as const, image: pinnedOrTagged || !pkg.version ? named : `${named}:${pkg.version}` };
    }
    default:
      issues.push({
        path: [...at, 'registryType'],
        message: `mcp-host hosts ${HOSTED.join(', ')} packages, not ${pkg.registryType}`,
      });
      return undefined;
  }
}

/**
 * Maps a registry source and the request's config. Config keys the server.json does not declare pass
 * as they are (platform settings such as `egress`); declared ones take the request's value, else the
 * server.json's `value`, else its `default` — except secrets, which only a reference may fill.
 */
export function importServerJson(
  registry: RegistrySource,
  requested: Record<string, ConfigValue>,
): { imported?: ImportedServer; issues: ImportIssue[] } {
  const issues: ImportIssue[] = [];
  const index = choosePackage(registry.server, registry.package, issues);
  if (index === undefined) return { issues };
  const pkg = registry.server.packages![index]!;
  const at = ['source', 'server', 'packages', index];

  let transport: ImportedServer['transport'];
  if (pkg.transport.type === 'sse')
    issues.push({
      path: [...at, 'transport', 'type'],
      message: 'mcp-host serves stdio and streamable-http servers, not sse',
    });
  else transport = pkg.transport.type;

  const args = argumentsOf(pkg.packageArguments ?? [], [...at, 'packageArguments'], issues);
  const source = sourceOf(pkg, at, args, issues);

  const config: Record<string, ConfigValue> = { ...requested };
  for (const variable of pkg.environmentVariables ?? []) {
    const given = requested[variable.name];
    if (variable.isSecret) {
      if (given !== undefined && !isReference(given))
        issues.push({
          path: ['config', variable.name],
          message: `${variable.name} is a secret (isSecret in server.json): give it as {"secret": "<name>"}, never as a value`,
        });
      else if (given === undefined && variable.isRequired)
        issues.push({
          path: ['config', variable.name],
          message: `${variable.name} is required by server.json: give it as {"secret": "<name>"}`,
        });
      continue;
    }
    const value = given ?? variable.value ?? variable.default;
    if (value === undefined) {
      if (variable.isRequired)
        issues.push({ path: ['config', variable.name], message: `${variable.name} is required by server.json` });
      continue;
    }
    if (variable.choices?.length && typeof value === 'string' && !variable.choices.includes(value))
      issues.push({ path: ['config', variable.name], message: `must be one of ${variable.choices.join(', ')}` });
    config[variable.name] = value;
  }
  if (!source || issues.length) return { issues };
  return { imported: { source, transport, config, packagePath: at }, issues };
}
