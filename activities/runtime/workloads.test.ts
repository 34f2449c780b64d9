// Stop and delete reach the executor the server was recorded on, and delete also clears what the
// server left on the others; tested with executors that only record what they are asked.
import { describe, expect, it } from 'vitest';
import type { Backend, Executor, RecordedWorkload } from '../../lib/runtime/executor.js';
import type { Executors } from './registry.js';
import { createWorkloadActivities } from './workloads.js';

function fakeExecutors(recorded: RecordedWorkload | undefined) {
  const calls: string[] = [];
  const executor = (backend: Backend, strays: boolean) =>
    ({
      backend,
      stop: async (w: RecordedWorkload) => void calls.push(`${backend} stop ${w.workload}`),
      remove: async (w: RecordedWorkload) => void calls.push(`${backend} remove ${w.workload}`),
      ...(strays && { removeStray: async (serverId: number) => void calls.push(`${backend} strays of ${serverId}`) }),
    }) as unknown as Executor;
  const byBackend = {
    docker: executor('docker', false),
    kubernetes: executor('kubernetes', false),
    'virtual-machine': executor('virtual-machine', true),
  };
  const executors = {
    ...byBackend,
    all: () => Object.values(byBackend),
    find: async () => recorded && { executor: byBackend[recorded.backend], workload: recorded },
    forget: async (serverId: number) => void calls.push(`forget ${serverId}`),
  } as unknown as Executors;
  return { calls, activities: createWorkloadActivities(executors) };
}

const onDocker: RecordedWorkload = {
  serverId: 4,
  backend: 'docker',
  workload: 'mcp-server-4',
  transport: 'streamable-http',
  endpoint: null,
};

describe('stopServer', () => {
  it('stops the workload on the executor it was recorded on', async () => {
    const { calls, activities } = fakeExecutors({ ...onDocker, backend: 'kubernetes', workload: 'mcp-server-4-9' });
    await activities.stopServer({ serverId: 4 });
    expect(calls).toEqual(['kubernetes stop mcp-server-4-9']);
  });

  it('does nothing for a server never launched', async () => {
    const { calls, activities } = fakeExecutors(undefined);
    await activities.stopServer({ serverId: 4 });
    expect(calls).toEqual([]);
  });
});

describe('removeServerWorkload', () => {
  it('clears VM instances a server routed to Docker left behind, removes its container, forgets the record', async () => {
    const { calls, activities } = fakeExecutors(onDocker);
    await activities.removeServerWorkload({ serverId: 4 });
    expect(calls).toEqual(['virtual-machine strays of 4', 'docker remove mcp-server-4', 'forget 4']);
  });

  it('still clears strays of a server never launched, and has no record to forget', async () => {
    const { calls, activities } = fakeExecutors(undefined);
    await activities.removeServerWorkload({ serverId: 4 });
    expect(calls).toEqual(['virtual-machine strays of 4']);
  });
});
