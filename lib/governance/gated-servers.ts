// Servers waiting on a gate: the owner's servers in pending-governance. Whoever changes a gate's
// input (a certification, a promotion, a governance run) tells each of them to decide again.
import type { Sql } from '../db.js';

export async function gatedServers(sql: Sql, ownerId: number): Promise<number[]> {
  const rows = await sql<{ id: number }[]>`
    select id from mcp_servers where owner_id = ${ownerId} and status = 'pending-governance' order by id`;
  return rows.map((r) => r.id);
}
