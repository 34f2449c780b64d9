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
