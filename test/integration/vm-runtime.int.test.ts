// The virtual-machine backend end to end: CONTAINER_RUNTIME=virtual-machine, no Docker daemon at
// all, a hypervisor stand-in as its own process. An image server is provisioned, attested and
// started (provisioning → running), stopped and deleted on the hypervisor; untrusted evidence
// leaves the server blocked with the verifier's note. A running VM server is supervised: the
// stand-in kills its instance → unhealthy with the hypervisor's reason → restarted (the same
// instance started again) → running; one that dies after every start → crashloop with growing
// delays. Timings are the HEALTH_* settings of supervision.int.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHypervisorStandIn, type HypervisorStandIn } from '../support/hypervisor-stand-in.js';
import { startHarness, type Harness } from '../support/harness.js';
import { recordHistory } from '../support/histories.js';
import { collectSse, eventually, httpClient, waitForStatus } from '../support/http.js';
import { FAST_HEALTH } from '../support/supervised.js';

// No registry here holds ghcr.io: a reference pinned by digest names its image without asking one
// (a tag would be resolved at the decision, and refused when its registry cannot be reached).
const VM_IMAGE = `ghcr.io/example/router@sha256:${'c'.repeat(64)}`;

let hv: HypervisorStandIn;
let h: Harness;
let call: ReturnType<typeof httpClient>;

const waitFor = (id: number, statuses: string[], what: string) =>
  waitForStatus(call, h.adminToken, id, statuses, what, 60_000);

const statusHistory = async (id: number) =>
  (
    await h.sql<
      { status: string }[]
    >`select status from server_events where server_id = ${id} and status is not null order by id`
  ).map((r) => r.status);

interface EventRow {
  id: number;
  status: string;
  reason: string | null;
}

/** Waits until the server's events after `after` hold `statuses` in this order (others may come between). */
const eventsInOrder = (id: number, after: number, statuses: string[], timeoutMs: number) =>
  eventually(
    async () => {
      const events = await h.sql<EventRow[]>`
        select id, status, reason from server_events
        where server_id = ${id} and id > ${after} and status is not null order by id`;
      let i = 0;
      for (const e of events) if (e.status === statuses[i]) i += 1;
      return i === statuses.length && events;
    },
    timeoutMs,
    `events ${statuses.join(' → ')} of server ${id}`,
  );

const lastEventId = async (id: number) =>
  (await h.sql<{ id: number }[]>`select coalesce(max(id), 0)::int as id from server_events where server_id = ${id}`)[0]!
    .id;

async function createVmServer(name: string): Promise<number> {
  const created = await call('POST', '/api/servers', {
    token: h.adminToken,
    json: { name, server_type: 'Router', source: { type: 'image', image: VM_IMAGE } },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id: number = created.body.id;
  const server = await waitFor(id, ['running', 'pending-attestation', 'blocked', 'error'], 'running');
  expect(server.status, server.status_reason).toBe('running');
  return id;
}

async function deleteServer(id: number): Promise<void> {
  expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
  await eventually(
    async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
    60_000,
    'deleted',
  );
}

const hvRequests = async (instanceId: string) =>
  (await hv.requests()).filter((r) => r.path.startsWith(`/instances/${instanceId}`));

beforeAll(async () => {
  hv = await startHypervisorStandIn({ name: 'vm-runtime-hypervisor' });
  h = await startHarness('vm-runtime', {
    CONTAINER_RUNTIME: 'virtual-machine',
    VM_HYPERVISOR_ENDPOINT: hv.url,
    VM_HYPERVISOR_TOKEN: hv.token,
    VM_ATTESTATION_TRUST_ROOTS: hv.trustRoot,
    VM_ATTESTATION_MEASUREMENTS: 'expected-measurement',
    VM_ATTESTATION_MAX_AGE_SECONDS: '300',
    DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    ...FAST_HEALTH,
  });
  call = httpClient(h.apiUrl);
}, 120_000);
afterAll(async () => {
  await h?.stop();
  await hv?.stop();
});

describe('the virtual-machine backend', () => {
  it('provisions, attests and runs an image server, then stops and deletes its VM', async () => {
    await hv.setBehaviour({});
    const created = await call('POST', '/api/servers', {
      token: h.adminToken,
      json: { name: 'vm-router', server_type: 'Router', source: { type: 'image', image: VM_IMAGE } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id: number = created.body.id;

    const server = await waitFor(id, ['running', 'pending-attestation', 'blocked', 'error'], 'running');
    expect(server.status, server.status_reason).toBe('running');
    const history = await statusHistory(id);
    expect(history.slice(history.indexOf('starting'))).toEqual(['starting', 'provisioning', 'running']);

    // The decision: a first launch stays on the VM backend (#15), attestation verified on provisioning.
    const [decision] = (await call('GET', `/api/servers/${id}/decisions`, { token: h.adminToken })).body;
    expect(decision).toMatchObject({
      backend: 'virtual-machine',
      candidate_backend: 'virtual-machine',
      launchable: true,
      executor_name: 'Secure virtual machines',
    });
    expect(decision.notes).toEqual(
      expect.arrayContaining(['vm:attestation:none', 'vm:attestation:verify-on-provision']),
    );

    const posture = (await call('GET', `/api/servers/${id}/vm`, { token: h.adminToken })).body;
    expect(posture).toMatchObject({ server_id: id, latest_status: 'trusted' });
    const instanceId: string = posture.active_instance_id;
    expect(instanceId).toBeTruthy();
    expect(posture.instances).toHaveLength(1);
    expect(posture.instances[0]).toMatchObject({
      instance_id: instanceId,
      attestation_status: 'trusted',
      isolation_tier: 'coco',
    });
    expect(posture.instances[0].events.map((e: { event_type: string }) => e.event_type)).toEqual([
      'provisioned',
      'attestation',
      'ready',
    ]);
    const [runtime] = await h.sql`select backend, workload, decision_id from server_runtimes where server_id = ${id}`;
    expect(runtime).toMatchObject({ backend: 'virtual-machine', workload: instanceId, decision_id: decision.id });
    expect((await hvRequests(instanceId)).map((r) => `${r.method} ${r.path}`)).toContain(
      `POST /instances/${instanceId}/start`,
    );

    // Its output comes from the hypervisor, through the same routes as a container's.
    const logs = await call('GET', `/api/servers/${id}/logs?tail=2`, { token: h.adminToken });
    expect(logs.status).toBe(200);
    expect(
      (await hvRequests(instanceId)).map((r) => `${r.method} ${r.path}`),
      JSON.stringify(await hv.requests()),
    ).toContain(`GET /instances/${instanceId}/logs`);
    const live = collectSse(`${h.apiUrl}/api/servers/${id}/logs/stream`, h.adminToken);
    await eventually(async () => live.frames.some((f) => f.event === 'end'), 15_000, 'the VM log stream');
    await live.stop();
    expect(live.frames.filter((f) => f.event === 'log').length).toBeGreaterThan(0);

    // Stop: the hypervisor stops the instance.
    expect((await call('POST', `/api/servers/${id}/stop`, { token: h.adminToken })).status).toBe(202);
    await waitFor(id, ['stopped'], 'stopped');
    expect((await hvRequests(instanceId)).map((r) => `${r.method} ${r.path}`)).toContain(
      `POST /instances/${instanceId}/stop`,
    );
    const stopped = (await call('GET', `/api/servers/${id}/vm`, { token: h.adminToken })).body;
    expect(stopped.instances[0].terminated_at).toBeTruthy();
    expect(stopped.active_instance_id).toBeUndefined();

    // Delete: the hypervisor tears the instance down, and the server is gone.
    expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
    await eventually(
      async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
      60_000,
      'deleted',
    );
    expect((await hvRequests(instanceId)).map((r) => `${r.method} ${r.path}`)).toContain(
      `DELETE /instances/${instanceId}`,
    );
    for (const table of ['server_runtimes', 'runtime_vm_instances', 'runtime_policy_decisions']) {
      expect(await h.sql`select 1 from ${h.sql(table)} where server_id = ${id}`, table).toHaveLength(0);
    }
    recordHistory(h.env.TEMPORAL_ADDRESS!, h.workflowIds.server(id), 'server-lifecycle-vm-launch-stop-delete');
  });

  it('blocks a server whose VM presents an untrusted measurement, and keeps it blocked', async () => {
    await hv.setBehaviour({ measurement: 'bad-measurement' });
    try {
      const id: number = (
        await call('POST', '/api/servers', {
          token: h.adminToken,
          json: {
            name: 'vm-untrusted',
            server_type: 'Router',
            source: { type: 'image', image: VM_IMAGE },
          },
        })
      ).body.id;
      const server = await waitFor(id, ['running', 'pending-attestation', 'blocked', 'error'], 'blocked');
      expect(server.status, server.status_reason).toBe('blocked');
      expect(server.status_reason).toContain('attestation:measurement:untrusted:bad-measurement');
      const history = await statusHistory(id);
      expect(history.slice(history.indexOf('starting'))).toEqual(['starting', 'provisioning', 'blocked']);

      const posture = (await call('GET', `/api/servers/${id}/vm`, { token: h.adminToken })).body;
      expect(posture).toMatchObject({ latest_status: 'untrusted' });
      expect(posture.active_instance_id).toBeUndefined(); // torn down
      const instanceId: string = posture.instances[0].instance_id;
      const asked = (await hvRequests(instanceId)).map((r) => `${r.method} ${r.path}`);
      expect(asked).toContain(`DELETE /instances/${instanceId}`);
      expect(asked).not.toContain(`POST /instances/${instanceId}/start`);

      // Nothing overwrites blocked with error.
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body.status).toBe('blocked');

      // A relaunch is judged by the recorded posture: untrusted → the docker fallback, which this
      // worker does not have, so the decision says so and the server is in error.
      expect((await call('POST', `/api/servers/${id}/start`, { token: h.adminToken })).status).toBe(202);
      await eventually(
        async () => (await call('GET', `/api/servers/${id}/decisions`, { token: h.adminToken })).body.length === 2,
        30_000,
        'second decision',
      );
      const relaunched = await waitFor(id, ['error', 'running'], 'relaunch decided');
      const [latest] = (await call('GET', `/api/servers/${id}/decisions`, { token: h.adminToken })).body;
      expect(latest).toMatchObject({
        candidate_backend: 'virtual-machine',
        backend: 'docker',
        evaluation_required: true,
        launchable: false,
      });
      expect(latest.notes).toEqual(
        expect.arrayContaining(['vm:attestation:untrusted', 'vm:attestation:fallback:docker']),
      );
      expect(relaunched.status_reason).toContain('unavailable');

      expect((await call('DELETE', `/api/servers/${id}`, { token: h.adminToken })).status).toBe(202);
      await eventually(
        async () => (await call('GET', `/api/servers/${id}`, { token: h.adminToken })).status === 404,
        60_000,
        'deleted',
      );
    } finally {
      await hv.setBehaviour({});
    }
  });

  it('restarts a VM whose instance died: unhealthy with the reason, the same instance started again, running', async () => {
    await hv.setBehaviour({});
    try {
      const id = await createVmServer('vm-dies');
      const instanceId: string = (await call('GET', `/api/servers/${id}/vm`, { token: h.adminToken })).body
        .active_instance_id;
      // Supervised by its instance's state (the stand-in reports no endpoint).
      await eventually(
        async () =>
          (await h.sql`select 1 from server_probes where server_id = ${id} and method = 'instance state' and ok`)
            .length > 0,
        15_000,
        'a state probe',
      );
      const after = await lastEventId(id);
      await hv.setBehaviour({ die: { reason: 'kernel panic: the stand-in killed it' } });
      const events = await eventsInOrder(id, after, ['unhealthy', 'restarting', 'starting', 'running'], 30_000);
      expect(events.find((e) => e.status === 'unhealthy')!.reason).toBe(
        `virtual machine ${instanceId} failed: kernel panic: the stand-in killed it`,
      );
      expect(events.find((e) => e.status === 'restarting')!.reason).toMatch(/after waiting 1 s/);
      expect(events.find((e) => e.status === 'running')!.reason).toBe(`virtual machine ${instanceId} started again`);
      expect((await call('GET', `/api/servers/${id}`, { token: h.adminToken })).body.status).toBe('running');

      // The same instance, started twice (the launch, the restart); nothing new provisioned.
      const asked = (await hvRequests(instanceId)).map((r) => `${r.method} ${r.path}`);
      expect(asked.filter((r) => r === `POST /instances/${instanceId}/start`)).toHaveLength(2);
      const posture = (await call('GET', `/api/servers/${id}/vm`, { token: h.adminToken })).body;
      expect(posture.instances).toHaveLength(1);
      expect(posture.active_instance_id).toBe(instanceId);
      // Restarted once: no other restart follows while it runs.
      await new Promise((r) => setTimeout(r, 3_000));
      const later = await h.sql<EventRow[]>`
        select id, status, reason from server_events where server_id = ${id} and id > ${after} and status is not null order by id`;
      expect(later.map((e) => e.status)).toEqual(['unhealthy', 'restarting', 'starting', 'running']);
      recordHistory(h.env.TEMPORAL_ADDRESS!, h.workflowIds.server(id), 'server-lifecycle-vm-supervised-restart-open');
      await deleteServer(id);
    } finally {
      await hv.setBehaviour({});
    }
  }, 120_000);

  it('goes crashloop when the VM dies after every start, with growing delays', async () => {
    await hv.setBehaviour({ die: { reason: 'out of memory', afterStartMs: 300 } });
    try {
      const id = await createVmServer('vm-crashing');
      const events = await eventsInOrder(
        id,
        0,
        ['unhealthy', 'restarting', 'restarting', 'restarting', 'crashloop', 'restarting'],
        90_000,
      );
      expect(events.find((e) => e.status === 'unhealthy')!.reason).toMatch(
        /^virtual machine \S+ failed: out of memory$/,
      );
      expect(events.find((e) => e.status === 'crashloop')!.reason).toMatch(
        /^3 restarts within 120 s; next in 8 s; last failure: virtual machine \S+ failed: out of memory$/,
      );
      const waited = events
        .filter((e) => e.status === 'restarting')
        .map((e) => /after waiting (\d+) s/.exec(e.reason ?? '')?.[1]);
      expect(waited.slice(0, 4)).toEqual(['1', '2', '4', '8']);
      const posture = (await call('GET', `/api/servers/${id}/vm`, { token: h.adminToken })).body;
      expect(posture.instances).toHaveLength(1); // started again each time, never provisioned anew
      await deleteServer(id);
    } finally {
      await hv.setBehaviour({});
    }
  }, 150_000);
});
