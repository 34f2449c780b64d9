// bench/gateway: mcp-host's gateway alone in a process of its own, composed as the API composes it
// (createGateway with the same environment, a Postgres pool and a Prometheus registry), so that its CPU
// and memory are not mixed with the API's other work, the load generator's or the server's. No
// Temporal: the gateway's path does not use it. SIGTERM ends it cleanly (a --cpu-prof profile is
// written on the way out).
import { Registry } from 'prom-client';
import { createGateway } from '../../gateway/app.js';
import { serveGateway } from '../../gateway/http.js';
import { createSql } from '../../lib/db.js';
import { loadEnv } from '../../lib/env.js';
import { createLogger } from '../../lib/logger.js';

const env = loadEnv();
const log = createLogger('bench-gateway', env.LOG_LEVEL);
const sql = createSql(env.DATABASE_URL, { max: env.DATABASE_POOL_MAX, applicationName: 'bench-gateway' });
const gateway = createGateway({ sql, env, log, registry: new Registry() });
const server = serveGateway(
  { gateway, fetch: gateway.app.fetch, hostname: env.BIND_ADDRESS, port: env.BIND_PORT },
  (info) => log.info({ port: info.port }, 'gateway listening'),
);

process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void (async () => {
    await gateway.close();
    await sql.end({ timeout: 5 });
    process.exit(0);
  })();
});
