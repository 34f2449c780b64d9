// Starts what every integration test file shares, through the same stack scripts as `npm start`:
// a Temporal dev server (in memory, own port) and a fresh Postgres database for this run.
import type { TestProject } from 'vitest/node';
import { dropDatabase, resolvePostgres } from '../../scripts/stack/postgres.js';
import { freePort } from '../../scripts/stack/process.js';
import { startTemporal } from '../../scripts/stack/temporal.js';
import { readProcessEnv } from '../../lib/env.js';

export interface StackInfo {
  databaseUrl: string;
  temporalAddress: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

export default async function setup(project: TestProject) {
  const raw = readProcessEnv('/nonexistent'); // tests ignore the developer's .env
  // A fresh database per run, on whichever Postgres the stack scripts pick.
  const database = `mcp_host_test_${process.pid}_${Date.now()}`;
  const explicit = raw.DATABASE_URL
    ? Object.assign(new URL(raw.DATABASE_URL), { pathname: `/${database}` }).toString()
    : undefined;
  const base = await resolvePostgres({ databaseUrl: explicit, database });
  const databaseUrl = base.url;
  const temporal = await startTemporal({ port: await freePort() });
  project.provide('stack', { databaseUrl, temporalAddress: temporal.address });
  return async () => {
    await temporal.stop();
    await dropDatabase(databaseUrl).catch(() => {});
    await base.stop();
  };
}
