// What a hosted server may use: CPU, memory and processes. A server asks through its config keys
// `resources.cpus`, `resources.memory` and `resources.pids`; what it leaves out gets the platform
// default, and nothing may exceed the operator's maximum. Docker and Kubernetes apply the same numbers.
import type { Env } from '../env.js';
import { ApiError } from '../errors.js';
import type { ConfigValue, ConfigValues } from '../schemas/secrets.js';

export const RESOURCE_KEYS = ['resources.cpus', 'resources.memory', 'resources.pids'] as const;

export interface ServerResources {
  /** CPUs, fractions allowed (0.5 is half a CPU). */
  cpus: number;
  /** Bytes of memory; swap is not added on top. */
  memoryBytes: number;
  /** Processes and threads at once. */
  pids: number;
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  ki: 1024,
  m: 1024 ** 2,
  mi: 1024 ** 2,
  g: 1024 ** 3,
  gi: 1024 ** 3,
};

/** Bytes from `268435456`, `256m`, `256Mi` or `1g`; undefined when it is none of these. */
export function parseMemory(value: string | number): number | undefined {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(String(value).trim());
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) return undefined;
  const bytes = Number(match[1]) * unit;
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** Docker refuses less than 6 MiB; a server needs more than that anyway. */
const MIN_MEMORY = 6 * 1024 ** 2;

/** The problem with one `resources.*` config value on its own (no maximum involved), or undefined. */
export function resourceValueProblem(key: string, value: ConfigValue): string | undefined {
  if (typeof value === 'object') return isPlatformConfigKey(key) ? 'is a platform setting, not a secret' : undefined;
  switch (key) {
    case 'resources.cpus': {
      const cpus = typeof value === 'boolean' ? NaN : Number(value);
      return Number.isFinite(cpus) && cpus >= 0.01
        ? undefined
        : 'must be a number of CPUs of at least 0.01, such as 0.5 or 2';
    }
    case 'resources.memory': {
      const bytes = typeof value === 'boolean' ? undefined : parseMemory(value);
      return bytes !== undefined && bytes >= MIN_MEMORY
        ? undefined
        : 'must be a memory size of at least 6m, such as 256m or 1g';
    }
    case 'resources.pids': {
      const pids = typeof value === 'boolean' ? NaN : Number(value);
      return Number.isInteger(pids) && pids >= 8 ? undefined : 'must be a whole number of processes of at least 8';
    }
    default:
      return key.startsWith('resources.')
        ? `is not a resource setting (expected one of ${RESOURCE_KEYS.join(', ')})`
        : undefined;
  }
}

/** A server's config asks for more than the operator allows: the config key it names, and why. */
export class ResourceLimitError extends Error {
  override readonly name = 'ResourceLimitError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** `2g` or `256m`: a byte count as an operator writes it. */
export const formatBytes = (bytes: number) =>
  bytes % 1024 ** 3 === 0 ? `${bytes / 1024 ** 3}g` : `${Math.round(bytes / 1024 ** 2)}m`;

/**
 * The limits a server runs with: its own `resources.*` config, else the platform defaults (which
 * lib/env.ts keeps within the maximum). Throws ResourceLimitError naming the config key that is invalid or
 * asks for more than the maximum.
 */
export function serverResources(config: ConfigValues, env: Env): ServerResources {
  for (const [key, value] of Object.entries(config)) {
    const problem = resourceValueProblem(key, value);
    if (problem) throw new ResourceLimitError(key, `${key} ${problem}`);
  }
  const asked = (
    key: (typeof RESOURCE_KEYS)[number],
    parse: (v: string | number) => number,
    fallback: number,
    max: number,
    show: (n: number) => string,
  ) => {
    const value = config[key];
    if (value === undefined) return fallback;
    const n = parse(value as string | number);
    if (n > max) throw new ResourceLimitError(key, `${key} ${show(n)} is over the maximum of ${show(max)}`);
    return n;
  };
  return {
    cpus: asked('resources.cpus', Number, env.SERVER_DEFAULT_CPUS, env.SERVER_MAX_CPUS, String),
    memoryBytes: asked(
      'resources.memory',
      (v) => parseMemory(v)!,
      env.SERVER_DEFAULT_MEMORY,
      env.SERVER_MAX_MEMORY,
      formatBytes,
    ),
    pids: asked('resources.pids', Number, env.SERVER_DEFAULT_PIDS, env.SERVER_MAX_PIDS, String),
  };
}

/** Config keys that are settings of the platform, not environment of the server. */
export const isPlatformConfigKey = (key: string) =>
  key === 'runtime' || key === 'egress' || key.startsWith('resources.') || key.startsWith('secrets.');

/** A server may not ask for more CPU, memory or processes than the operator allows: 422 naming the config key. */
export function resourcesWithinMaximum(config: ConfigValues, env: Env): void {
  try {
    serverResources(config, env);
  } catch (err) {
    if (err instanceof ResourceLimitError)
      throw new ApiError(422, 'validation_failed', err.message, `config.${err.field}`);
    throw err;
  }
}
