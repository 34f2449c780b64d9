// The VM executor against a real Postgres database (fresh, migrated) and a hypervisor stand-in
// running as its own process: lifecycle, failures, attestation verdicts, idempotency, and the
// GET /api/servers/{id}/vm posture through the real route.
import { ErrorType } from '../../lib/errors.js';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createHypervisorClient } from '../../lib/vm/hypervisor.js';
import { createVmActivities, createVmExecutor, type VmActivities } from '../../activities/runtime/vm.js';
import type { Caller } from '../../api/context.js';
import { handleError } from '../../api/errors.js';
import { createRouter } from '../../api/openapi.js';
import { vmRoutes } from '../../api/routes/vm.js';
import { vmPosture } from '../../lib/ledger/vm.js';
import { vmText } from '../../cli/commands/policy.js';
import { createSql, type Sql } from '../../lib/db.js';
import { createLogger } from '../../lib/logger.js';
import { migrate } from '../../lib/migrate.js';
import { dropDatabase, ensureDatabase } from '../../scripts/stack/postgres.js';
import { freePort } from '../../scripts/stack/process.js';
import { startHypervisorStandIn, type HypervisorStandIn } from '../support/hypervisor-stand-in.js';

const POLICY = 'runtime-policy-v1';

let databaseUrl: string;
let sql: Sql;
let hv: HypervisorStandIn;
let vm: VmActivities;
let alice: Caller;
let bob: Caller;

const config = (trustRoots: string[]) => ({
  allowedMeasurements: ['expected-measurement'],
  trustRoots,
  maxAgeSeconds: 300,
});
const deps = (overrides: { trustRoots?: string[]; token?: string } = {}) => ({
  sql,
  hypervisor: createHypervisorClient({ endpoint: hv.url, token: overrides.token ?? hv.token, timeoutMs: 5_000 }),
  attestation: config(overrides.trustRoots ?? [hv.trustRoot]),
  logTailLines: 500,
});
const activities = (overrides: { trustRoots?: string[]; token?: string } = {}) => createVmActivities(deps(overrides));

let serverSeq = 0;
async function newServer(owner: Caller = alice): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into mcp_servers (owner_id, name, server_type, source)
    values (${owner.id}, ${`vm-server-${++serverSeq}`}, 'Router', ${sql.json({ type: 'image', image: 'ghcr.io/example/router:1' })})
    returning id`;
  return row!.id;
}

const provisionInput = (serverId: number, extra: Record<string, unknown> = {}) => ({
  serverId,
  image: 'ghcr.io/example/router:1',
  policyVersion: POLICY,
  capabilities: ['image-build'],
  tier: 'silver:Router',
  expectedNonce: `nonce-${serverId}`,
  notes: ['runtime_override:virtual-machine'],
  ...extra,
});

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

const eventTypes = async (serverId: number) =>
  (
    await sql<{ event_type: string }[]>`
      select e.event_type from runtime_vm_events e join runtime_vm_instances i on i.id = e.vm_instance_id
      where i.server_id = ${serverId} order by e.id`
  ).map((r) => r.event_type);

beforeAll(async () => {
  const base = new URL(inject('stack').databaseUrl);
  base.pathname = `/mcp_host_vm_${process.pid}_${Date.now()}`;
  databaseUrl = base.toString();
  await ensureDatabase(databaseUrl);
  sql = createSql(databaseUrl, { max: 4 });
  await migrate(sql);
  const users = await sql<{ id: number; email: string }[]>`
    insert into users (email, role) values ('alice@vm.test', 'operator'), ('bob@vm.test', 'operator') returning id, email`;
  alice = { id: users[0]!.id, email: users[0]!.email, role: 'operator', tokenId: 1 };
  bob = { id: users[1]!.id, email: users[1]!.email, role: 'operator', tokenId: 2 };
  hv = await startHypervisorStandIn({ name: 'vm-int-hypervisor' });
  vm = activities();
});

afterAll(async () => {
  await hv?.stop();
  await sql?.end({ timeout: 5 });
  if (databaseUrl) await dropDatabase(databaseUrl);
});

beforeEach(async () => {
  await hv.setBehaviour({});
});

describe('VM executor lifecycle', () => {
  it('provisions a trusted instance and runs it; logs, stream, stop and delete hit the right verbs and paths', async () => {
    const serverId = await newServer();
    const before = (await hv.requests()).length;

    const result = await vm.provisionVm(provisionInput(serverId));
    expect(result).toMatchObject({ status: 'running', isolationTier: 'coco' });
    expect(result.notes).toEqual([
      'attestation:measurement:expected-measurement',
      `attestation:nonce:nonce-${serverId}`,
      `attestation:policy:${POLICY}`,
      expect.stringMatching(/^attestation:timestamp:\d{4}-/),
    ]);
    const { instanceId } = result;

    const [row] = await sql`select * from runtime_vm_instances where server_id = ${serverId}`;
    expect(row).toMatchObject({
      instance_id: instanceId,
      isolation_tier: 'coco',
      attestation_status: 'trusted',
      policy_version: POLICY,
      capability_notes: ['attestation:evidence-present', 'runtime_override:virtual-machine'],
      last_error: null,
      terminated_at: null,
    });
    expect(row!.attestation_evidence.quote.report.measurement).toBe('expected-measurement');
    expect(await eventTypes(serverId)).toEqual(['provisioned', 'attestation', 'ready']);

    const logs = await vm.vmLogs({ serverId, tail: 200 });
    expect(logs).toBe('alpha\nline-one\nline-two\n');
    expect(await vm.vmLogs({ serverId, tail: 1 })).toBe('line-two\n');

    const client = createHypervisorClient({ endpoint: hv.url, token: hv.token });
    const stream = await client.streamLogs(instanceId);
    const streamed: string[] = [];
    for await (const line of stream!) streamed.push(line);
    expect(streamed).toEqual(['alpha', 'line-one', 'line-two']);

    expect(await vm.stopVm({ serverId })).toEqual({ instanceId });
    const [stopped] = await sql`select terminated_at from runtime_vm_instances where server_id = ${serverId}`;
    expect(stopped!.terminated_at).toBeInstanceOf(Date);
    expect(await vm.vmLogs({ serverId })).toBe(''); // nothing running any more
    expect(await client.streamLogs(instanceId)).toBeNull(); // 204: no stream for a stopped instance
    expect(await vm.stopVm({ serverId })).toEqual({ instanceId: null });

    expect(await vm.deleteVm({ serverId })).toEqual({ deleted: [instanceId] });
    expect(await vm.deleteVm({ serverId })).toEqual({ deleted: [] }); // a retry tears nothing down twice
    expect(await eventTypes(serverId)).toEqual(['provisioned', 'attestation', 'ready', 'stopped', 'deleted']);

    const seen = (await hv.requests()).slice(before);
    const path = `/instances/${instanceId}`;
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /instances',
      `POST ${path}/start`,
      `GET ${path}`, // the endpoint it reports, if any
      `GET ${path}/logs`,
      `GET ${path}/logs`,
      `GET ${path}/logs/stream`,
      `POST ${path}/stop`,
      `GET ${path}/logs/stream`,
      `DELETE ${path}`,
    ]);
    expect(seen[3]!.query).toEqual({ tail: '200' });
    expect(seen.every((r) => r.authorized && r.userAgent === 'mcp-host-runtime/1.0')).toBe(true);
    expect(seen[0]!.body).toEqual({
      server_id: serverId,
      image: 'ghcr.io/example/router:1',
      policy_version: POLICY,
      capabilities: ['image-build'],
      tier: 'silver:Router',
      config: { attestation: { nonce: `nonce-${serverId}` } },
    });
  });

  it('uses VM_LOG_TAIL_LINES when no tail is given', async () => {
    const serverId = await newServer();
    await vm.provisionVm(provisionInput(serverId));
    await vm.vmLogs({ serverId });
    expect((await hv.requests()).at(-1)!.query).toEqual({ tail: '500' });
    await vm.deleteVm({ serverId });
  });

  it('a 503 on provisioning is a retryable failure naming the request, without the token, and records nothing', async () => {
    const serverId = await newServer();
    await hv.setBehaviour({ failProvision: { status: 503, count: 1 } });
    const failure = await failureOf(vm.provisionVm(provisionInput(serverId)));
    expect(failure.message).toContain('hypervisor rejected provisioning request');
    expect(failure.message).toBe('hypervisor rejected provisioning request: 503 (no capacity for new instances)');
    expect(failure.message).not.toContain(hv.token);
    expect(failure.type).toBe(ErrorType.HypervisorUnavailable);
    expect(failure.nonRetryable).toBe(false);
    expect(await sql`select 1 from runtime_vm_instances where server_id = ${serverId}`).toHaveLength(0);

    // The next attempt (as Temporal would retry it) goes through.
    expect((await vm.provisionVm(provisionInput(serverId))).status).toBe('running');
    await vm.deleteVm({ serverId });
  });

  it('a wrong token is a non-retryable rejection that does not echo the token', async () => {
    const serverId = await newServer();
    const wrong = 'wrong-token-that-must-not-leak';
    const failure = await failureOf(activities({ token: wrong }).provisionVm(provisionInput(serverId)));
    expect(failure.message).toMatch(/^hypervisor rejected provisioning request: 401/);
    expect(failure.message).not.toContain(wrong);
    expect(failure.type).toBe(ErrorType.HypervisorRejected);
    expect(failure.nonRetryable).toBe(true);
  });

  it('an unreachable hypervisor is a retryable transport failure', async () => {
    const serverId = await newServer();
    const down = createVmActivities({
      sql,
      hypervisor: createHypervisorClient({ endpoint: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2_000 }),
      attestation: config([hv.trustRoot]),
      logTailLines: 500,
    });
    const failure = await failureOf(down.provisionVm(provisionInput(serverId)));
    expect(failure.message).toMatch(/^hypervisor unreachable during provisioning request: ECONNREFUSED/);
    expect(failure.type).toBe(ErrorType.HypervisorUnavailable);
  });
});

describe('attestation verdicts', () => {
  it('an untrusted measurement blocks the launch: torn down, recorded, returned (not thrown)', async () => {
    const serverId = await newServer();
    await hv.setBehaviour({ measurement: 'bad-measurement' });
    const result = await vm.provisionVm(provisionInput(serverId));
    expect(result.status).toBe('blocked');
    expect(result.notes).toEqual(['attestation:measurement:untrusted:bad-measurement']);
    expect(result.notes.some((n) => n.includes('measurement:untrusted'))).toBe(true);

    const [row] = await sql`select * from runtime_vm_instances where server_id = ${serverId}`;
    expect(row).toMatchObject({ attestation_status: 'untrusted', last_error: null });
    expect(row!.terminated_at).toBeInstanceOf(Date);
    expect(await eventTypes(serverId)).toEqual(['provisioned', 'attestation', 'blocked']);
    const requests = await hv.requests();
    expect(requests.at(-1)).toMatchObject({ method: 'DELETE', path: `/instances/${result.instanceId}` });
    expect(requests.some((r) => r.path === `/instances/${result.instanceId}/start`)).toBe(false);
    expect(await vm.deleteVm({ serverId })).toEqual({ deleted: [] }); // already torn down
  });

  it('self-signed evidence carrying its own public key is untrusted', async () => {
    const serverId = await newServer();
    await hv.setBehaviour({ selfSigned: true });
    const result = await vm.provisionVm(provisionInput(serverId));
    expect(result).toMatchObject({
      status: 'blocked',
      notes: ['attestation:evidence-key-ignored', 'attestation:signature-invalid'],
    });
    const [row] = await sql`select attestation_status from runtime_vm_instances where server_id = ${serverId}`;
    expect(row!.attestation_status).toBe('untrusted');
  });

  it('stale evidence is untrusted', async () => {
    const serverId = await newServer();
    await hv.setBehaviour({ evidenceAgeSeconds: 301 });
    expect(await vm.provisionVm(provisionInput(serverId))).toMatchObject({
      status: 'blocked',
      notes: ['attestation:stale'],
    });
  });

  it('no evidence at all is untrusted', async () => {
    const serverId = await newServer();
    await hv.setBehaviour({ omitEvidence: true });
    const result = await vm.provisionVm(provisionInput(serverId, { notes: [] }));
    expect(result).toMatchObject({ status: 'blocked', notes: ['attestation:missing-evidence'] });
    const [row] =
      await sql`select capability_notes, attestation_evidence from runtime_vm_instances where server_id = ${serverId}`;
    expect(row).toEqual({ capability_notes: [], attestation_evidence: null });
  });

  it('without trust roots the instance waits (pending-attestation): not started, not torn down', async () => {
    const serverId = await newServer();
    const result = await activities({ trustRoots: [] }).provisionVm(provisionInput(serverId));
    expect(result).toMatchObject({ status: 'pending-attestation', notes: ['attestation:no-trust-roots'] });
    const [row] =
      await sql`select attestation_status, terminated_at from runtime_vm_instances where server_id = ${serverId}`;
    expect(row).toEqual({ attestation_status: 'unknown', terminated_at: null });
    expect(await eventTypes(serverId)).toEqual(['provisioned', 'attestation']);
    expect((await hv.requests()).some((r) => r.path === `/instances/${result.instanceId}/start`)).toBe(false);
    expect(await vm.deleteVm({ serverId })).toEqual({ deleted: [result.instanceId] });
  });
});

describe('idempotency', () => {
  it('a retried provisioning with the same key reuses the instance and writes no row or event twice', async () => {
    const serverId = await newServer();
    const input = provisionInput(serverId, { provisionKey: `server-lifecycle/${serverId}#3` });
    const first = await vm.provisionVm(input);
    const second = await vm.provisionVm(input);
    expect(second.instanceId).toBe(first.instanceId);
    expect(second.status).toBe('running');
    expect(await sql`select 1 from runtime_vm_instances where server_id = ${serverId}`).toHaveLength(1);
    expect(await eventTypes(serverId)).toEqual(['provisioned', 'attestation', 'ready']);
    expect(
      (await hv.requests()).filter((r) => r.method === 'POST' && r.path === '/instances').at(-1)!.idempotencyKey,
    ).toBe(`server-lifecycle/${serverId}#3`);
    await vm.deleteVm({ serverId });
  });

  it("records the endpoint the hypervisor reports, sees an instance that died as exited with the hypervisor's reason, and starts it again", async () => {
    const executor = createVmExecutor(deps(), true);
    const serverId = await newServer();
    await hv.setBehaviour({ endpoint: 'http://10.20.0.7:8080/mcp' });
    const { instanceId } = await vm.provisionVm(provisionInput(serverId));
    const [runtime] = await sql`select workload, endpoint from server_runtimes where server_id = ${serverId}`;
    expect(runtime).toEqual({ workload: instanceId, endpoint: 'http://10.20.0.7:8080/mcp' });
    const workload = {
      serverId,
      backend: 'virtual-machine' as const,
      workload: instanceId,
      transport: 'streamable-http' as const,
      endpoint: runtime!.endpoint as string,
    };
    expect(await executor.inspect(workload)).toEqual({
      state: 'running',
      reason: `virtual machine ${instanceId} attested and running`,
    });

    await hv.setBehaviour({ die: { reason: 'kernel panic: the stand-in killed it' } });
    expect(await executor.inspect(workload)).toEqual({
      state: 'exited',
      reason: `virtual machine ${instanceId} failed: kernel panic: the stand-in killed it`,
    });
    const before = (await hv.requests()).length;
    expect(await vm.restartVm({ serverId })).toEqual({ status: 'running', instanceId });
    expect((await hv.requests()).slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST /instances/${instanceId}/start`,
      `GET /instances/${instanceId}`,
    ]);
    expect((await executor.inspect(workload)).state).toBe('running');

    // Torn down behind mcp-host's back: gone, and a restart says only a new launch brings it back.
    await createHypervisorClient({ endpoint: hv.url, token: hv.token }).teardown(instanceId);
    expect(await executor.inspect(workload)).toEqual({
      state: 'gone',
      reason: `virtual machine ${instanceId} is no longer known to the hypervisor`,
    });
    expect(await vm.restartVm({ serverId })).toEqual({
      status: 'gone',
      reason: `virtual machine ${instanceId} is no longer known to the hypervisor`,
    });
    await vm.deleteVm({ serverId });
  });

  it('a failure after provisioning tears the instance down before failing (no leaked VM)', async () => {
    const before = (await hv.requests()).length;
    const failure = await failureOf(vm.provisionVm(provisionInput(2_000_000_000))); // no such server: FK violation
    expect(failure.message).toBe('server 2000000000 no longer exists');
    expect(failure.nonRetryable).toBe(true);
    const seen = (await hv.requests()).slice(before).map((r) => `${r.method} ${r.path.replace(/vm-[0-9a-f]+/, 'ID')}`);
    expect(seen).toEqual(['POST /instances', 'DELETE /instances/ID']);
  });
});

describe('GET /api/servers/{id}/vm', () => {
  let caller: Caller;
  const app = createRouter();
  app.use('*', async (c, next) => {
    c.set('caller', caller);
    await next();
  });
  const log = createLogger('vm-int', 'silent');
  beforeAll(() => {
    app.route('/api', vmRoutes({ sql }));
    app.onError((err, c) => handleError(err, c, log));
  });

  it('answers {server_id, instances: []} for a server that never ran as a VM', async () => {
    const serverId = await newServer();
    expect(await vmPosture(sql, serverId)).toEqual({ server_id: serverId, instances: [] });
    caller = alice;
    const res = await app.request(`/api/servers/${serverId}/vm`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ server_id: serverId, instances: [] });
  });

  it('lists instances newest first with events oldest first, omitting empty optional keys', async () => {
    const serverId = await newServer();
    await hv.setBehaviour({ measurement: 'bad-measurement' });
    const blocked = await vm.provisionVm(provisionInput(serverId));
    await hv.setBehaviour({});
    const running = await vm.provisionVm(provisionInput(serverId));

    caller = alice;
    const res = await app.request(`/api/servers/${serverId}/vm`);
    expect(res.status).toBe(200);
    const body: any = await res.json();
    expect(body).toEqual(await vmPosture(sql, serverId));

    expect(Object.keys(body).sort()).toEqual([
      'active_instance_id',
      'instances',
      'last_updated_at',
      'latest_status',
      'server_id',
    ]);
    expect(body).toMatchObject({
      server_id: serverId,
      latest_status: 'trusted',
      active_instance_id: running.instanceId,
    });
    expect(body.last_updated_at).toBe(body.instances[0].updated_at);
    expect(body.instances.map((i: { instance_id: string }) => i.instance_id)).toEqual([
      running.instanceId,
      blocked.instanceId,
    ]);

    const [newest, older] = body.instances;
    expect(Object.keys(newest).sort()).toEqual(
      [
        'id',
        'instance_id',
        'isolation_tier',
        'attestation_status',
        'policy_version',
        'created_at',
        'updated_at',
        'attestation_evidence',
        'capability_notes',
        'events',
      ].sort(),
    ); // no terminated_at, no last_error
    expect(newest).toMatchObject({ attestation_status: 'trusted', isolation_tier: 'coco', policy_version: POLICY });
    expect(typeof newest.id).toBe('number');
    expect(newest.events.map((e: { event_type: string }) => e.event_type)).toEqual([
      'provisioned',
      'attestation',
      'ready',
    ]);
    expect(newest.events[1]).toEqual({
      event_type: 'attestation',
      created_at: expect.stringMatching(/Z$/),
      payload: { status: 'trusted', notes: running.notes },
    });
    expect(older).toMatchObject({ attestation_status: 'untrusted', terminated_at: expect.stringMatching(/Z$/) });
    expect(older.events.at(-1)).toMatchObject({
      event_type: 'blocked',
      payload: { torn_down: true, notes: blocked.notes },
    });

    // What mcpctl policy vm prints from it.
    const text = vmText(body);
    expect(text).toContain(running.instanceId);
    expect(text).toContain('trusted');
    expect(text).toContain(`Latest posture: trusted (updated ${body.last_updated_at})`);
    expect(text).toContain(`Active instance: ${running.instanceId}`);
    await vm.deleteVm({ serverId });
  });

  it('keeps to the 10 most recent instances', async () => {
    const serverId = await newServer();
    for (let i = 0; i < 12; i++) {
      await sql`insert into runtime_vm_instances (server_id, instance_id, created_at) values (${serverId}, ${`vm-old-${i}`}, now() - ${`${12 - i} minutes`}::interval)`;
    }
    const posture = await vmPosture(sql, serverId);
    expect(posture.instances.map((i) => i.instance_id)).toEqual(
      Array.from({ length: 10 }, (_, i) => `vm-old-${11 - i}`),
    );
    expect(posture).toMatchObject({ latest_status: 'pending', active_instance_id: 'vm-old-11' });
    expect(posture.instances[0]).not.toHaveProperty('isolation_tier');
  });

  it("is a 404 for another operator's server, and a 400 for a malformed id", async () => {
    const serverId = await newServer(alice);
    caller = bob;
    const res = await app.request(`/api/servers/${serverId}/vm`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: `server ${serverId} not found` } });
    expect((await app.request('/api/servers/abc/vm')).status).toBe(400);
  });
});
