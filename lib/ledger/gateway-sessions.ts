// The gateway's open sessions: gateway_open_sessions, one row per session a token (or an OpenID
// Connect subject) holds, shared by every gateway replica so a maximum per holder holds across them.
// Rows are keyed by a digest of the session id; a row idle past the configured time no longer counts.
import type { Sql } from '../db.js';

/**
 * How many of the holder's sessions were used in the last `idleSeconds` (all of them when 0), and in
 * how many seconds the least recent one goes idle (null when none or never), by the database's clock.
 */
export async function countOpenSessions(
  sql: Sql,
  holder: string,
  idleSeconds: number,
): Promise<{ open: number; firstIdleInSeconds: number | null }> {
  const [row] = await sql<{ open: number; first_idle_in: number | null }[]>`
    select count(*)::int as open,
           case when ${idleSeconds}::int > 0 then
             extract(epoch from min(last_seen_at) + make_interval(secs => ${idleSeconds}) - now())::float8
           end as first_idle_in
    from gateway_open_sessions
    where holder = ${holder}
      ${idleSeconds > 0 ? sql`and last_seen_at > now() - make_interval(secs => ${idleSeconds})` : sql``}`;
  return { open: row!.open, firstIdleInSeconds: row!.first_idle_in };
}

export async function recordOpenSession(sql: Sql, key: string, holder: string): Promise<void> {
  await sql`
    insert into gateway_open_sessions (session_id, holder) values (${key}, ${holder})
    on conflict (session_id) do update set last_seen_at = now()`;
}

/** How long ago the session was last used (seconds, by the database's clock), or undefined when it is not open. */
export async function openSessionIdleFor(sql: Sql, key: string): Promise<number | undefined> {
  const [row] = await sql<{ idle_for: number }[]>`
    select extract(epoch from now() - last_seen_at)::float8 as idle_for
    from gateway_open_sessions where session_id = ${key}`;
  return row?.idle_for;
}

/** Marks sessions used now (one statement for all of them). */
export async function touchOpenSessions(sql: Sql, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  await sql`update gateway_open_sessions set last_seen_at = now() where session_id = any(${keys})`;
}

export async function closeOpenSession(sql: Sql, key: string): Promise<void> {
  await sql`delete from gateway_open_sessions where session_id = ${key}`;
}

/** Forgets sessions idle for longer than `idleSeconds`. */
export async function expireOpenSessions(sql: Sql, idleSeconds: number): Promise<number> {
  const rows = await sql`
    delete from gateway_open_sessions where last_seen_at < now() - make_interval(secs => ${idleSeconds})`;
  return rows.count;
}
