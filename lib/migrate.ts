// Applies migrations/NNNNN_name.sql in order, exactly once, each in its own transaction.
// An advisory lock makes concurrent boots (API replicas, the worker, mcpctl) take turns.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sql } from './db.js';
import { PROJECT_ROOT } from './paths.js';

export const MIGRATIONS_DIR = join(PROJECT_ROOT, 'migrations');
const LOCK_KEY = 727_001; // arbitrary, constant: "mcp-host migrations"
const FILE_PATTERN = /^(\d{5})_([a-z0-9-]+)\.sql$/;

export interface MigrationFile {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): MigrationFile[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  return files.map((file, index) => {
    const match = FILE_PATTERN.exec(file);
    if (!match) throw new Error(`migration file name must look like 00001_name.sql: ${file}`);
    const version = Number(match[1]);
    if (version !== index + 1)
      throw new Error(`migrations must be numbered without gaps: expected ${index + 1}, found ${file}`);
    const sql = readFileSync(join(dir, file), 'utf8');
    return { version, name: match[2]!, sql, checksum: createHash('sha256').update(sql).digest('hex') };
  });
}

export interface MigrationResult {
  applied: string[];
  current: number;
}

export async function migrate(sql: Sql, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = readMigrations(dir);
  // The lock lives on a reserved connection (lock and unlock need the same session); the
  // migrations themselves run in ordinary pooled transactions while it is held.
  const conn = await sql.reserve();
  try {
    await conn`select pg_advisory_lock(${LOCK_KEY})`;
    await conn`
      create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`;
    const done = new Map<number, string>();
    for (const row of await conn<
      { version: number; checksum: string }[]
    >`select version, checksum from schema_migrations`) {
      done.set(row.version, row.checksum);
    }
    const applied: string[] = [];
    for (const file of files) {
      const checksum = done.get(file.version);
      if (checksum !== undefined) {
        if (checksum !== file.checksum) {
          throw new Error(
            `migration ${file.version}_${file.name} was edited after it was applied; add a new migration instead`,
          );
        }
        continue;
      }
      await sql.begin(async (tx) => {
        await tx.unsafe(file.sql);
        await tx`insert into schema_migrations (version, name, checksum) values (${file.version}, ${file.name}, ${file.checksum})`;
      });
      applied.push(`${String(file.version).padStart(5, '0')}_${file.name}`);
    }
    return { applied, current: files.at(-1)?.version ?? 0 };
  } finally {
    await conn`select pg_advisory_unlock(${LOCK_KEY})`.catch(() => {});
    conn.release();
  }
}
