import { describe, expect, it } from 'vitest';
import { EnvError, parseEnvironment } from '../env.js';
import { ApiError } from '../errors.js';
import { parseMemory, resourcesWithinMaximum, serverResources } from './resources.js';

const env = parseEnvironment({
  SERVER_DEFAULT_MEMORY: '256m',
  SERVER_MAX_MEMORY: '1g',
  SERVER_MAX_CPUS: '2',
  SERVER_MAX_PIDS: '512',
});

describe('server resources', () => {
  it('reads memory as Docker and Kubernetes write it', () => {
    expect(parseMemory('256m')).toBe(256 * 1024 ** 2);
    expect(parseMemory('256Mi')).toBe(256 * 1024 ** 2);
    expect(parseMemory('1g')).toBe(1024 ** 3);
    expect(parseMemory(1048576)).toBe(1048576);
    expect(parseMemory('1.5g')).toBeUndefined();
    expect(parseMemory('lots')).toBeUndefined();
  });

  it('gives a server the platform defaults unless its config asks for its own', () => {
    expect(serverResources({ GREETING: 'hi' }, env)).toEqual({ cpus: 1, memoryBytes: 256 * 1024 ** 2, pids: 256 });
    expect(serverResources({ 'resources.cpus': 0.5, 'resources.memory': '512m', 'resources.pids': '64' }, env)).toEqual(
      {
        cpus: 0.5,
        memoryBytes: 512 * 1024 ** 2,
        pids: 64,
      },
    );
  });

  it('refuses more than the operator maximum with a 422 naming the config key', () => {
    for (const [key, value, message] of [
      ['resources.memory', '2g', 'resources.memory 2g is over the maximum of 1g'],
      ['resources.cpus', 3, 'resources.cpus 3 is over the maximum of 2'],
      ['resources.pids', 100000, 'resources.pids 100000 is over the maximum of 512'],
      ['resources.memory', 'much', 'resources.memory must be a memory size of at least 6m, such as 256m or 1g'],
      [
        'resources.disk',
        '1g',
        'resources.disk is not a resource setting (expected one of resources.cpus, resources.memory, resources.pids)',
      ],
    ] as const) {
      let thrown: unknown;
      try {
        resourcesWithinMaximum({ [key]: value }, env);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ApiError);
      expect(thrown).toMatchObject({ status: 422, field: `config.${key}`, message });
    }
  });

  it('refuses platform defaults above the maximum at start-up', () => {
    expect(() => parseEnvironment({ SERVER_DEFAULT_PIDS: '5000' })).toThrow(
      new EnvError('invalid environment: SERVER_DEFAULT_PIDS: expected at most SERVER_MAX_PIDS'),
    );
    expect(() => parseEnvironment({ SERVER_MAX_MEMORY: 'big' })).toThrow(/SERVER_MAX_MEMORY: expected a memory size/);
  });
});
