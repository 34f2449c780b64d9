// Stop and delete, wherever the server was recorded to run (server_runtimes.backend): a Docker
// container, Kubernetes pods, or a virtual machine on the hypervisor (the backend comes from
// what was recorded, not from an in-memory cache, so all work after any restart). The workflow calls these two
// activities whatever the backend, so its commands are the same for every executor.
import type Docker from 'dockerode';
import type { Sql } from '../../lib/db.js';
import type { kubernetesWorkloads } from '../kubernetes/executor.js';
import type { VmActivities } from '../vm/executor.js';
import { dockerWorkloads } from './docker-executor.js';

export function createWorkloadActivities(
  sql: Sql,
  docker: Docker,
  vm: Pick<VmActivities, 'stopVm' | 'deleteVm'>,
  pods: Pick<ReturnType<typeof kubernetesWorkloads>, 'deletePods' | 'deleteService'>,
) {
  const containers = dockerWorkloads(docker);
  const recorded = async (serverId: number) =>
    (await sql<{ backend: string; workload: string }[]>`select backend, workload from server_runtimes where server_id = ${serverId}`)[0];

  return {
    /** Stops the server's workload where it was recorded to run; nothing recorded, nothing to stop. */
    async stopServer({ serverId }: { serverId: number }): Promise<void> {
      const runtime = await recorded(serverId);
      if (!runtime) return;
      if (runtime.backend === 'virtual-machine') await vm.stopVm({ serverId });
      else if (runtime.backend === 'kubernetes') await pods.deletePods(serverId);
      else await containers.stopContainer(runtime.workload);
    },

    /** Removes the workload and its runtime record (the server row goes with removeServer). */
    async removeServerWorkload({ serverId }: { serverId: number }): Promise<void> {
      const runtime = await recorded(serverId);
      // Every VM instance the hypervisor may still hold (blocked and failed ones are torn down
      // already); no instances, no hypervisor request.
      await vm.deleteVm({ serverId });
      if (!runtime) return; // never launched: nothing runs anywhere
      if (runtime.backend === 'kubernetes') {
        await pods.deletePods(serverId);
        await pods.deleteService(serverId);
      } else if (runtime.backend !== 'virtual-machine') await containers.removeContainer(runtime.workload);
      await sql`delete from server_runtimes where server_id = ${serverId}`;
    },
  };
}
