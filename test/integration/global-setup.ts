// Starts what every integration test file shares, through the same stack scripts as `npm start`:
// a Temporal dev server (in memory, own port), a fresh Postgres database for this run, and one
// workflow bundle that every file's worker loads instead of bundling its own at each start.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { dropDatabase, resolvePostgres } from '../../scripts/stack/postgres.js';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { freePort } from '../../scripts/stack/process.js';
import { startTemporal } from '../../scripts/stack/temporal.js';
import { readProcessEnv } from '../../lib/env.js';
import { buildWorkflowBundle } from '../../worker/bundle.js';

export interface StackInfo {
  databaseUrl: string;
  temporalAddress: string;
  /** For the workers' WORKFLOW_BUNDLE_PATH. */
  workflowBundlePath?: string;
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
  const bundle = buildWorkflowBundle();
  bundle.catch(() => {}); // awaited below; a failure there is the one reported
  const base = await resolvePostgres({ databaseUrl: explicit, database });
  const databaseUrl = base.url;
  const temporal = await startTemporal({ port: await freePort() });
  const bundleDir = join(DATA_DIR, 'test-bundles');
  const workflowBundlePath = join(bundleDir, `workflows-${process.pid}.js`);
  mkdirSync(bundleDir, { recursive: true });
  writeFileSync(workflowBundlePath, (await bundle).code);
  project.provide('stack', { databaseUrl, temporalAddress: temporal.address, workflowBundlePath });
  return async () => {
    rmSync(workflowBundlePath, { force: true });
    await temporal.stop();
    await dropDatabase(databaseUrl).catch(() => {});
    await base.stop();
  };
}
