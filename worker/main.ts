// Worker composition root: the only place that builds activity dependencies.
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { credentialsFromEnv } from '../activities/registry/credentials.js';
import { createSql } from '../lib/db.js';
import { createDocker } from '../lib/docker.js';
import { exitOnEnvError, exitOnEnvErrorOf, loadEnv } from '../lib/env.js';
import { loadKeyring } from '../lib/secrets/keys.js';
import { checkSecretsRunDir } from '../lib/secrets/run-dir.js';
import { loadWorkflowIds } from '../lib/ledger/installation.js';
import { followCodecKeys, loadPayloadCodec } from '../lib/ledger/payload-codec-keys.js';
import { checkKeyring } from '../lib/ledger/secrets.js';
import { createKubeClient } from '../lib/kubernetes/client.js';
import { createLogger } from '../lib/logger.js';
import { connectionOptions, dataConverter, ensureSearchAttributes } from '../lib/temporal.js';
import { Client, Connection } from '@temporalio/client';
import { startTracing } from '../lib/tracing.js';
import { workflowBundleOptions } from './bundle.js';
import { createExecutors } from './executors.js';
import { ensureCredentialSchedule } from './schedules.js';

const env = loadEnv();
// The secret store's key-encryption key: missing or malformed stops the process here, with one line.
const keyring = exitOnEnvError(() => loadKeyring(env));
const log = createLogger('mcp-host-worker', env.LOG_LEVEL);

async function main(): Promise<void> {
  // Where secret files go (compose: the Docker host's tmpfs, bind-mounted): unusable stops the worker here.
  if (env.SECRETS_RUN_DIR_CHECK === 'start' && env.CONTAINER_RUNTIME === 'docker')
    await checkSecretsRunDir(env.SECRETS_RUN_DIR).catch(exitOnEnvErrorOf);
  const sql = createSql(env.DATABASE_URL, { max: env.DATABASE_POOL_MAX, applicationName: 'mcp-host-worker' });
  // A key other than the one the secrets and the payload codec's keys are wrapped by stops the worker
  // here, with one line. The codec is the database's: its first key is created now if there is none.
  await checkKeyring(sql, keyring).catch(exitOnEnvErrorOf);
  const codec = await loadPayloadCodec(sql, keyring).catch(exitOnEnvErrorOf);
  // A codec key added later (mcpctl secrets codec-key rotate) seals here too, without a restart.
  const codecKeys = await followCodecKeys(sql, keyring, codec, log);
  const client = await Connection.connect(connectionOptions(env));
  await ensureSearchAttributes(client, env.TEMPORAL_NAMESPACE);
  const workflowIds = await loadWorkflowIds(sql);
  await ensureCredentialSchedule(
    new Client({ connection: client, namespace: env.TEMPORAL_NAMESPACE, dataConverter: dataConverter(codec) }),
    env,
    log,
    workflowIds,
  );
  await client.close();

  const tracing = await startTracing(env, 'mcp-host-worker');
  if (tracing) log.info({ url: tracing.url }, 'tracing on');
  const docker = createDocker(env.DOCKER_HOST);
  const kube = createKubeClient(env);
  const credentials = credentialsFromEnv(env);
  const { installation } = workflowIds;
  const executors = createExecutors({ sql, env, docker, installation, kube, credentials, keyring });
  const connection = await NativeConnection.connect(connectionOptions(env));
  /** Run once the worker stopped (its activities finished or were cancelled): the build network pool's removal. */
  const shutdownHooks: (() => Promise<void>)[] = [];
  const worker = await Worker.create({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    // Every payload the worker sends is sealed, and every one it receives opened (unsealed ones pass).
    dataConverter: dataConverter(codec),
    ...workflowBundleOptions(env.WORKFLOW_BUNDLE_PATH, Boolean(tracing)),
    // Tracing adds the OpenTelemetry workflow interceptors to the bundle; they schedule no commands,
    // so histories replay the same with or without them.
    ...tracing?.workerOptions(),
    activities: createActivities({
      ...{ sql, env, docker, log, kube, credentials, executors, installation, keyring },
      onShutdown: (hook) => shutdownHooks.push(hook),
    }),
    // Let in-flight activities finish (or heartbeat their cancellation) before exit.
    shutdownGraceTime: '10s',
    // Heartbeats carry cancellation: send them often, so a cancelled build stops within seconds.
    maxHeartbeatThrottleInterval: '2s',
    // If this worker dies, its cached workflows move to another worker after 3 s rather than 10 s.
    stickyQueueScheduleToStartTimeout: '3s',
  });
  log.info(
    { taskQueue: env.TEMPORAL_TASK_QUEUE, namespace: env.TEMPORAL_NAMESPACE, address: env.TEMPORAL_ADDRESS },
    'worker started',
  );

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log.info({ signal }, 'worker shutting down');
      worker.shutdown();
    });
  }
  await worker.run();
  await Promise.allSettled(shutdownHooks.map((hook) => hook()));
  await connection.close();
  await codecKeys.stop();
  await tracing?.shutdown();
  await sql.end({ timeout: 5 });
  log.info('worker stopped');
  // The SDK's native runtime can keep the event loop alive after a clean shutdown.
  process.exit(0);
}

main().catch((err: unknown) => {
  log.fatal({ err }, 'worker failed');
  process.exit(1);
});
