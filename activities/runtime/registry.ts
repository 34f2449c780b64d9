// The executor registry: one executor per backend, and where each server was recorded to run
// (server_runtimes), so stop, delete and logs reach the executor that launched it after any restart.
import type { Sql } from '../../lib/db.js';
import { forgetWorkload, recordedWorkload } from '../../lib/ledger/runtime.js';
import type { Backend, Executor, ExecutorRegistry } from '../../lib/runtime/executor.js';
import type { DockerExecutor } from './docker.js';
import type { KubernetesExecutor } from './kubernetes.js';
import type { VmExecutor } from './vm.js';

export interface Executors extends ExecutorRegistry {
  docker: DockerExecutor;
  kubernetes: KubernetesExecutor;
  'virtual-machine': VmExecutor;
  /** Forgets where the server ran, once its workload is removed. */
  forget(serverId: number): Promise<void>;
}

export function createExecutorRegistry(
  sql: Sql,
  executors: { docker: DockerExecutor; kubernetes: KubernetesExecutor; 'virtual-machine': VmExecutor },
): Executors {
  const byBackend: Record<Backend, Executor> = executors;
  const all = Object.values(byBackend);
  return {
    ...executors,
    all: () => all,
    async find(serverId) {
      const workload = await recordedWorkload(sql, serverId);
      return workload && { executor: byBackend[workload.backend], workload };
    },
    forget: (serverId) => forgetWorkload(sql, serverId),
  };
}
