// The installation's id (migration 00008), read once at start by the API and the worker.
import { isPgError, PgCode, type Sql } from '../db.js';
import { workflowIdsFor, type WorkflowIds } from '../workflow-ids.js';

/** This installation's id; the database must be migrated (the API does it at start). */
export async function loadInstallationId(sql: Sql): Promise<string> {
  try {
    const [row] = await sql<{ id: string }[]>`select id from installation`;
    if (row) return row.id;
  } catch (err) {
    if (!isPgError(err, PgCode.undefinedTable)) throw err;
  }
  throw new Error(
    'the database has no installation id: apply the migrations first (the API does at start, or `mcpctl db migrate`)',
  );
}

/** This installation's workflow ids. */
export async function loadWorkflowIds(sql: Sql): Promise<WorkflowIds> {
  return workflowIdsFor(await loadInstallationId(sql));
}

/**
 * The installation's gateway session key: the one stored, or `candidate` stored now when there is none
 * yet. Every replica ends up with the same key, whichever wrote first.
 */
export async function gatewaySecret(sql: Sql, candidate: Buffer): Promise<Buffer> {
  await sql`update installation set gateway_secret = ${candidate} where gateway_secret is null`;
  const [row] = await sql<{ gateway_secret: Buffer }[]>`select gateway_secret from installation`;
  if (!row?.gateway_secret) throw new Error('the database has no installation row: apply the migrations first');
  return row.gateway_secret;
}
