// What a launched server left in the ledger for operators to read: where it runs (server_runtimes),
// the MCP manifest its health check read, and the policy decisions behind each launch. The
// serverLifecycle workflow's activities write these.
import type { Sql } from '../db.js';
import { ApiError } from '../errors.js';
import type { Backend, RecordedWorkload } from '../runtime/executor.js';
import { ownedBy, type OwnerScope } from './scope.js';

/** Where the server was recorded to run, if it was ever launched. */
export async function recordedWorkload(sql: Sql, serverId: number): Promise<RecordedWorkload | undefined> {
  const [row] = await sql<
    { backend: Backend; workload: string; transport: RecordedWorkload['transport']; endpoint: string | null }[]
  >`
    select backend, workload, transport, endpoint from server_runtimes where server_id = ${serverId}`;
  return row && { serverId, ...row };
}

export interface KubernetesLaunch {
  serverId: number;
  decisionId: number;
  pod: string;
  image: string;
  endpoint: string;
}

/** Where the server runs on Kubernetes: recorded before its pod exists, so a crash in between leaves nothing untracked. */
export async function recordKubernetesLaunch(sql: Sql, l: KubernetesLaunch): Promise<void> {
  await sql`
    insert into server_runtimes (server_id, backend, decision_id, workload, image, transport, endpoint)
    values (${l.serverId}, 'kubernetes', ${l.decisionId}, ${l.pod}, ${l.image}, 'streamable-http', ${l.endpoint})
    on conflict (server_id) do update set backend = 'kubernetes', decision_id = excluded.decision_id, workload = excluded.workload,
      image = excluded.image, transport = excluded.transport, endpoint = excluded.endpoint, started_at = now(), updated_at = now()`;
}

/** The servers running on Kubernetes now. */
export interface DockerLaunch {
  serverId: number;
  decisionId: number;
  workload: string;
  image: string;
  transport: string;
}

/** Recorded before the container exists, so a crash in between leaves nothing untracked. */
export async function recordDockerLaunch(sql: Sql, l: DockerLaunch): Promise<void> {
  await sql`
    insert into server_runtimes (server_id, backend, decision_id, workload, image, transport)
    values (${l.serverId}, 'docker', ${l.decisionId}, ${l.workload}, ${l.image}, ${l.transport})
    on conflict (server_id) do update set backend = 'docker', decision_id = excluded.decision_id, workload = excluded.workload,
      image = excluded.image, transport = excluded.transport, endpoint = null, updated_at = now()`;
}

/** Where the launched workload answers, once it is up. */
export async function recordEndpoint(sql: Sql, serverId: number, endpoint: string | null): Promise<void> {
  await sql`update server_runtimes set endpoint = ${endpoint}, started_at = now(), updated_at = now() where server_id = ${serverId}`;
}

export async function kubernetesServers(sql: Sql): Promise<number[]> {
  const rows = await sql<{ server_id: number }[]>`select server_id from server_runtimes where backend = 'kubernetes'`;
  return rows.map((r) => r.server_id);
}

/** Forgets where the server ran, once its workload is removed. */
export async function forgetWorkload(sql: Sql, serverId: number): Promise<void> {
  await sql`delete from server_runtimes where server_id = ${serverId}`;
}

/** Keeps what the server said in its MCP health check as its manifest. */
export async function recordManifest(sql: Sql, serverId: number, manifest: object): Promise<void> {
  await sql`update mcp_servers set manifest = ${sql.json(manifest as never)} where id = ${serverId}`;
}

/** The manifest of the server's last MCP health check; 404 when it has passed none. */
export async function serverManifest<M>(sql: Sql, serverId: number): Promise<M> {
  const [row] = await sql<{ manifest: M | null }[]>`select manifest from mcp_servers where id = ${serverId}`;
  if (!row?.manifest) throw new ApiError(404, 'not_found', `server ${serverId} has passed no MCP health check yet`);
  return row.manifest;
}

export interface DecisionRow {
  id: number;
  decided_at: Date;
  backend: string;
  candidate_backend: string;
  executor_name: string | null;
  image: string | null;
  requires_build: boolean;
  artifact_run_id: number | null;
  manifest_digest: string | null;
  policy_version: string;
  tier: string | null;
  health_overall: string | null;
  capability_requirements: string[];
  capabilities_satisfied: boolean;
  evaluation_required: boolean;
  governance_required: boolean;
  launchable: boolean;
  notes: string[];
}

/** The server's policy decisions, newest first, as the API answers them. */
export async function policyDecisions(sql: Sql, serverId: number, limit: number) {
  const rows = await sql<DecisionRow[]>`
    select id, decided_at, backend, candidate_backend, executor_name, image, requires_build, artifact_run_id, manifest_digest,
           policy_version, tier, health_overall, capability_requirements, capabilities_satisfied, evaluation_required,
           governance_required, launchable, notes
    from runtime_policy_decisions where server_id = ${serverId}
    order by id desc limit ${limit}`;
  return rows.map((r) => ({ ...r, decided_at: r.decided_at.toISOString() }));
}

/** What the gateway needs to route a request to a server: who owns it, whether it runs, and where. */
export interface ServerRoute {
  serverId: number;
  ownerId: number;
  name: string;
  status: string;
  transport: 'streamable-http' | 'stdio' | null;
  endpoint: string | null;
  /**
   * Which launch the endpoint belongs to (the launch decision and when the workload came up): a
   * session opened on one launch is not valid on the next.
   */
  generation: string | null;
  /** The server's config opts in to audit rows carrying the calls' arguments (`audit_arguments: true`). */
  auditArguments: boolean;
  /** Why the server is in its status (a drifted server's: how its tools differ from the certified ones). */
  statusReason?: string | null;
  /** A track that governs the server lets it take new sessions while drifted (promotion_tracks.allow_drift). */
  driftAllowed?: boolean;
}

interface RouteRow {
  id: number;
  owner_id: number;
  name: string;
  status: string;
  transport: ServerRoute['transport'];
  endpoint: string | null;
  decision_id: number | null;
  started_at: Date | null;
  audit_arguments: boolean;
  status_reason: string | null;
  drift_allowed: boolean;
}

const routeColumns = (sql: Sql) => sql`
  s.id, s.owner_id, s.name, s.status, r.transport, r.endpoint, r.decision_id, r.started_at,
  coalesce(s.config->>'audit_arguments', 'false') = 'true' as audit_arguments, s.status_reason,
  exists (
    select 1 from promotion_tracks t
    where t.owner_id = s.owner_id and t.allow_drift
      -- trackGoverns (lib/governance/gate.ts): the tier names the type, or a derived tier of it.
      and lower(regexp_replace(trim(t.tier), '^.*:', '')) = lower(trim(s.server_type))
  ) as drift_allowed`;

function toRoute(row: RouteRow): ServerRoute {
  return {
    serverId: row.id,
    ownerId: row.owner_id,
    name: row.name,
    status: row.status,
    transport: row.transport,
    endpoint: row.endpoint,
    generation: row.started_at ? `${row.decision_id ?? 0}.${row.started_at.getTime()}` : null,
    auditArguments: row.audit_arguments,
    statusReason: row.status_reason,
    driftAllowed: row.drift_allowed,
  };
}

/** The server's route, or undefined when there is no such server. */
export async function serverRoute(sql: Sql, serverId: number): Promise<ServerRoute | undefined> {
  const [row] = await sql<RouteRow[]>`
    select ${routeColumns(sql)}
    from mcp_servers s left join server_runtimes r on r.server_id = s.id
    where s.id = ${serverId}`;
  return row && toRoute(row);
}

/** The routes of every server in the scope, by id (the aggregated endpoint's view of them). */
export async function serverRoutes(sql: Sql, scope: OwnerScope): Promise<ServerRoute[]> {
  const rows = await sql<RouteRow[]>`
    select ${routeColumns(sql)}
    from mcp_servers s left join server_runtimes r on r.server_id = s.id
    where true ${ownedBy(sql, scope, 's.owner_id')}
    order by s.id`;
  return rows.map(toRoute);
}
