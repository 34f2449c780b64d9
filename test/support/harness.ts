// An API + worker pair per test file, started as child processes through the stack scripts, on the
// shared Temporal server and database, with a task queue of the file's own.
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { inject } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { createSql, isPgError, PgCode, type Sql } from '../../lib/db.js';
import { parseEnvironment } from '../../lib/env.js';
import { followCodecKeys, loadPayloadCodec } from '../../lib/ledger/payload-codec-keys.js';
import { loadKeyring } from '../../lib/secrets/keys.js';
import { dataConverter } from '../../lib/temporal.js';
import { rememberCodec } from './histories.js';
import { loadWorkflowIds } from '../../lib/ledger/installation.js';
import { readMigrations } from '../../lib/migrate.js';
import type { WorkflowIds } from '../../lib/workflow-ids.js';
import { startApi, startWorker } from '../../scripts/stack/app.js';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { freePort, type ManagedProcess } from '../../scripts/stack/process.js';

export interface Harness {
  apiUrl: string;
  adminToken: string;
  env: NodeJS.ProcessEnv;
  sql: Sql;
  temporal: Client;
  /** The ids of this database's installation (its API has migrated it). */
  workflowIds: WorkflowIds;
  api: ManagedProcess;
  worker: ManagedProcess;
  restartWorker(opts?: { kill?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `stack` defaults to what the integration project's global setup provides; the chaos suite passes
 * its own (a Temporal server and a Postgres it may kill).
 */
export async function startHarness(
  name: string,
  extraEnv: NodeJS.ProcessEnv = {},
  stack: { databaseUrl: string; temporalAddress: string; workflowBundlePath?: string } = inject('stack'),
): Promise<Harness> {
  const port = await freePort();
  const adminToken = `test-admin-${randomUUID()}`;
  const logDir = join(DATA_DIR, 'test-logs');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    // A machine behind a TLS-inspecting proxy trusts its CA this way; without it the worker's fetch of
    // a package registry fails with SELF_SIGNED_CERT_IN_CHAIN where `npm` on the same host works.
    ...(process.env.NODE_EXTRA_CA_CERTS && { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS }),
    // Node's on-disk cache of compiled modules: each file's API and worker (and every restart of one)
    // load the same sources and packages, so later starts skip compiling them.
    NODE_COMPILE_CACHE: join(DATA_DIR, 'node-compile-cache'),
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATABASE_URL: stack.databaseUrl,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_TASK_QUEUE: `test-${name}-${randomUUID().slice(0, 8)}`,
    BIND_ADDRESS: '127.0.0.1',
    BIND_PORT: String(port),
    ADMIN_TOKEN: adminToken,
    SSE_KEEPALIVE_MS: '1000',
    // Tests name loopback git daemons, registries and example images; a file narrows this as it needs.
    SOURCE_ALLOWED_HOSTS: '127.0.0.1,localhost',
    SECRETS_KEY: testSecretsKey(stack.databaseUrl),
    ...(stack.workflowBundlePath && { WORKFLOW_BUNDLE_PATH: stack.workflowBundlePath }),
    ...extraEnv,
  };
  const sql = createSql(stack.databaseUrl, { max: 4 });
  // The worker never migrates; its checks and its first codec key (under an advisory lock) hold
  // beside a starting API. So once every migration is in (a file before this one, or an earlier run
  // on this database, applied them), both start at once; on a fresh database the worker waits for
  // the API's migrations.
  const workerLog = join(logDir, `${name}-worker.log`);
  const early = (await migrationsApplied(sql)) ? startWorker(env, workerLog) : undefined;
  early?.catch(() => {}); // awaited below, or stopped if the API fails; a failure there is the one reported
  let api: ManagedProcess;
  try {
    api = await startApi(env, join(logDir, `${name}-api.log`));
  } catch (err) {
    await early?.then(
      (worker) => worker.stop(2_000),
      () => {},
    );
    await sql.end({ timeout: 5 });
    throw err;
  }
  // The database's codec, as the API (which has just created its first key, if need be) and the worker load it.
  const keyring = loadKeyring(parseEnvironment(env));
  const codec = await loadPayloadCodec(sql, keyring);
  // Following the keys as they do: a codec key added by a test seals and opens here too.
  const codecKeys = await followCodecKeys(sql, keyring, codec, { info: () => {}, error: () => {} });
  rememberCodec(stack.temporalAddress, codec);
  const harness: Harness = {
    apiUrl: `http://127.0.0.1:${port}`,
    adminToken,
    env,
    sql,
    // The API's and the worker's codec: what the test reads back through this client is opened as they would.
    temporal: new Client({
      connection: await Connection.connect({ address: stack.temporalAddress }),
      dataConverter: dataConverter(codec),
    }),
    workflowIds: await loadWorkflowIds(sql),
    api,
    worker: await (early ?? startWorker(env, workerLog)),
    async restartWorker({ kill = false } = {}) {
      await (kill ? harness.worker.kill() : harness.worker.stop());
      harness.worker = await startWorker(env, workerLog);
    },
    async stop() {
      // The worker's own shutdown waits its 10 s grace for the watch activities of servers still running
      // (they end only when cancelled); no other worker polls the file's task queue and nothing after a
      // file's teardown reads what they would finish, so it gets 2 s before SIGKILL.
      await Promise.all([harness.worker.stop(2_000), harness.api.stop()]);
      await harness.temporal.connection.close();
      await codecKeys.stop();
      await harness.sql.end({ timeout: 5 });
    },
  };
  return harness;
}

/** Whether the database holds every migration of this checkout (false before the first API start). */
async function migrationsApplied(sql: Sql): Promise<boolean> {
  try {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from schema_migrations`;
    return row!.n === readMigrations().length;
  } catch (err) {
    if (isPgError(err, PgCode.undefinedTable)) return false;
    throw err;
  }
}

/**
 * The key-encryption key of a test database: the same for every file of a run (they share the
 * database and its secrets), another for each run.
 */
export function testSecretsKey(databaseUrl: string): string {
  return createHash('sha256').update(`mcp-host test secrets key:${databaseUrl}`).digest('base64');
}
