// The runtime's activities, each a call to the executor registry. Launching has an activity per
// backend (the workflow waits differently for each, and recorded histories name them); stop and
// delete go to wherever the server was recorded to run, so the workflow's commands for them are
// the same for every executor.
import type { Executors } from './registry.js';

export function createWorkloadActivities(executors: Executors) {
  const { docker, kubernetes } = executors;
  const vm = executors['virtual-machine'];
  return {
    launchServer: docker.launch,
    launchKubernetesServer: kubernetes.launch,
    awaitKubernetesServer: kubernetes.awaitReady,
    /** The supervisor's watch on a Kubernetes server's pod (workflows/server-supervision.ts). */
    awaitKubernetesPodChange: kubernetes.awaitPodChange,
    provisionVm: vm.launch,
    /** The supervisor's restart of a VM server's instance (workflows/server-supervision.ts). */
    restartVm: vm.restart,

    /** Stops the server's workload where it was recorded to run; nothing recorded, nothing to stop. */
    async stopServer({ serverId }: { serverId: number }): Promise<void> {
      const found = await executors.find(serverId);
      if (found) await found.executor.stop(found.workload);
    },

    /** Removes the workload and its runtime record (the server row goes with removeServer). */
    async removeServerWorkload({ serverId }: { serverId: number }): Promise<void> {
      const found = await executors.find(serverId);
      for (const executor of executors.all()) await executor.removeStray?.(serverId);
      if (!found) return; // never launched: nothing runs anywhere
      await found.executor.remove(found.workload);
      await executors.forget(serverId);
    },
  };
}
