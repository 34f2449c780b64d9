// The marketplace ledger's seed (seed.sql) at a size: `runs` build runs × 4 platforms over `servers`
// servers, generated in SQL (generate_series), so a million runs take minutes, not hours.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startApi } from '../../scripts/stack/app.js';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { freePort, type ManagedProcess } from '../../scripts/stack/process.js';

export interface SeedSize {
  runs: number;
  servers: number;
}

export const DEFAULT_SEED: SeedSize = { runs: 100_000, servers: 2_000 };

/** seed.sql with its psql variables (:runs, :servers) filled in. */
export function seedSql({ runs, servers }: SeedSize): string {
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(servers) || servers < 1)
    throw new Error('the seed takes whole numbers of runs and servers');
  return readFileSync(join(import.meta.dirname, 'seed.sql'), 'utf8')
    .replaceAll(':runs', String(runs))
    .replaceAll(':servers', String(servers));
}

/** `100,000` */
export const count = (n: number) => n.toLocaleString('en-US');

/** The API alone on a seeded database (read benches: no worker), its log in .data/bench-logs/<log>. */
export async function startReadApi(opts: {
  databaseUrl: string;
  temporalAddress: string;
  adminToken: string;
  log: string;
}): Promise<{ api: ManagedProcess; url: string }> {
  const port = await freePort();
  const api = await startApi(
    {
      PATH: process.env.PATH,
      DATABASE_URL: opts.databaseUrl,
      TEMPORAL_ADDRESS: opts.temporalAddress,
      BIND_ADDRESS: '127.0.0.1',
      BIND_PORT: String(port),
      ADMIN_TOKEN: opts.adminToken,
      SECRETS_KEY: randomBytes(32).toString('base64'),
      LOG_LEVEL: 'warn',
    },
    join(DATA_DIR, 'bench-logs', opts.log),
  );
  return { api, url: `http://127.0.0.1:${port}` };
}
