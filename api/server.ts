// API process: configuration, migrations, bootstrap admin, then serve until SIGINT/SIGTERM.
import { bootstrapAdmin } from '../lib/ledger/bootstrap.js';
import { createSql } from '../lib/db.js';
import { createDocker } from '../lib/docker.js';
import { exitOnEnvError, exitOnEnvErrorOf, loadEnv } from '../lib/env.js';
import { loadKeyring } from '../lib/secrets/keys.js';
import { loadWorkflowIds } from '../lib/ledger/installation.js';
import { followCodecKeys, loadPayloadCodec } from '../lib/ledger/payload-codec-keys.js';
import { checkKeyring } from '../lib/ledger/secrets.js';
import { createLogger } from '../lib/logger.js';
import { migrate } from '../lib/migrate.js';
import { setSourcePolicy } from '../lib/source-policy.js';
import { connectClient } from '../lib/temporal.js';
import { startTracing } from '../lib/tracing.js';
import { createExecutors } from '../worker/executors.js';
import { serveGateway } from '../gateway/http.js';
import { createApp } from './app.js';
import { createStreams } from './streams.js';

const env = loadEnv();
// The secret store's key-encryption key: missing or malformed stops the process here, with one line.
const keyring = exitOnEnvError(() => loadKeyring(env));
setSourcePolicy(env.SOURCE_ALLOWED_HOSTS);
const log = createLogger('mcp-host-api', env.LOG_LEVEL);

async function main(): Promise<void> {
  const sql = createSql(env.DATABASE_URL, { max: env.DATABASE_POOL_MAX, applicationName: 'mcp-host-api' });
  try {
    const { applied, current } = await migrate(sql);
    log.info({ applied, version: current }, 'migrations up to date');
  } catch (err) {
    if (!env.ALLOW_MIGRATION_FAILURE) throw err;
    log.error({ err }, 'migrations failed; continuing because ALLOW_MIGRATION_FAILURE=true');
  }
  // A key other than the one the secrets and the payload codec's keys are wrapped by stops the API
  // here, with one line. The codec is the database's: its first key is created now if there is none.
  await checkKeyring(sql, keyring).catch(exitOnEnvErrorOf);
  const codec = await loadPayloadCodec(sql, keyring).catch(exitOnEnvErrorOf);
  // A codec key added later (mcpctl secrets codec-key rotate) seals here too, without a restart.
  const codecKeys = await followCodecKeys(sql, keyring, codec, log);
  const { generatedToken } = await bootstrapAdmin(sql, {
    adminEmail: env.ADMIN_EMAIL,
    adminToken: env.ADMIN_TOKEN,
    defaultQuota: env.DEFAULT_SERVER_QUOTA,
  });
  if (generatedToken) {
    // Printed once, to the terminal only — never through the structured logger.
    process.stdout.write(`\nAdmin API token (shown once, store it now):\n  export MCPCTL_TOKEN=${generatedToken}\n\n`);
  }

  const workflowIds = await loadWorkflowIds(sql);
  log.info({ installation: workflowIds.installation, example: workflowIds.server(1) }, 'workflow ids');

  const tracing = await startTracing(env, 'mcp-host-api');
  if (tracing) log.info({ url: tracing.url }, 'tracing on');
  const temporal = await connectClient(env, codec, tracing?.clientInterceptors);
  const streams = createStreams(sql, log);
  await streams.start();
  const docker = createDocker(env.DOCKER_HOST);
  const executors = createExecutors({ sql, env, docker, installation: workflowIds.installation });
  const app = createApp({
    sql,
    temporal,
    codec,
    codecKeys,
    env,
    keyring,
    log,
    streams,
    docker,
    executors,
    workflowIds,
    tracing: tracing?.middleware,
    gatewayTracing: tracing?.relay,
  });
  // The gateway's relay answers on node:http before Hono sees the request (its hot path).
  const server = serveGateway(
    { gateway: app.gateway, fetch: app.fetch, hostname: env.BIND_ADDRESS, port: env.BIND_PORT },
    (info) => log.info({ address: info.address, port: info.port }, 'api listening'),
  );

  // Requests Node's parser refuses before they reach the app (an oversized URL or header, a broken
  // request line) still get the JSON error shape, and the connection is closed.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const body = JSON.stringify({
      error: tooLarge
        ? { code: 'headers_too_large', message: 'request line or headers are too large (the URL included)' }
        : { code: 'bad_request', message: 'malformed HTTP request' },
    });
    const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(
      `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  const shutdown = (signal: string) => {
    log.info({ signal }, 'api shutting down');
    server.close();
    // SSE streams never end on their own: give them a moment, then go.
    setTimeout(() => server.closeAllConnections(), 2_000).unref();
    void (async () => {
      await app.gateway.close();
      await streams.stop();
      await codecKeys.stop();
      await temporal.connection.close();
      await tracing?.shutdown();
      await sql.end({ timeout: 5 });
      process.exit(0);
    })();
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  log.fatal({ err }, 'api failed to start');
  process.exit(1);
});
