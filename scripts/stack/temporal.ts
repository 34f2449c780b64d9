// Temporal dev server from the CLI that `npm run setup` builds into .tools/bin (the SDK's own
// download cannot work offline). Search attributes are registered by the worker at start.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_DIR, TEMPORAL_BIN } from './paths.js';
import { portOpen, spawnManaged, waitUntil, type ManagedProcess } from './process.js';

export interface TemporalOptions {
  port: number;
  uiPort?: number;
  /** The remote codec the Web UI sends history payloads to for decoding (`<api>/codec`). */
  uiCodecEndpoint?: string;
  /** SQLite file for persistence; in-memory when omitted. */
  dbFile?: string;
  logDir?: string;
  /** Server dynamic config (`--dynamic-config-value KEY=VALUE`), e.g. a low continue-as-new threshold for tests. */
  dynamicConfig?: Record<string, string | number | boolean>;
}

export interface TemporalServer {
  address: string;
  uiUrl?: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export async function startTemporal(options: TemporalOptions): Promise<TemporalServer> {
  if (!existsSync(TEMPORAL_BIN)) {
    throw new Error(`Temporal CLI not found at ${TEMPORAL_BIN}; run "npm run setup" first`);
  }
  const logDir = options.logDir ?? join(DATA_DIR, 'logs');
  mkdirSync(logDir, { recursive: true });
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(options.port), '--log-level', 'warn'];
  if (options.uiPort) args.push('--ui-port', String(options.uiPort), '--ui-ip', '127.0.0.1');
  else args.push('--headless');
  if (options.uiPort && options.uiCodecEndpoint) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  const proc = spawnManaged('temporal', TEMPORAL_BIN, args, { logFile: join(logDir, `temporal-${options.port}.log`) });
  await waitUntil('temporal dev server', () => portOpen(options.port), { proc, timeoutMs: 60_000 });
  return {
    address: `127.0.0.1:${options.port}`,
    uiUrl: options.uiPort ? `http://127.0.0.1:${options.uiPort}` : undefined,
    process: proc,
    stop: () => proc.stop(),
  };
}
