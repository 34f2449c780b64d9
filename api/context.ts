// What every route handler can reach: its dependencies and the authenticated caller.
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type Docker from 'dockerode';
import type { MiddlewareHandler } from 'hono';
import type { RelayTracing } from '../gateway/relay.js';
import type { Sql } from '../lib/db.js';
import type { CodecKeyFollower } from '../lib/ledger/payload-codec-keys.js';
import type { Env } from '../lib/env.js';
import type { Logger } from '../lib/logger.js';
import type { ExecutorRegistry } from '../lib/runtime/executor.js';
import type { Role } from '../lib/schemas/common.js';
import type { Keyring } from '../lib/secrets/keys.js';
import type { WorkflowIds } from '../lib/workflow-ids.js';
import type { Streams } from './streams.js';

export interface ApiDeps {
  sql: Sql;
  temporal: Client;
  /** The payload codec of that client, for the codec endpoint (lib/secrets/payload-codec.ts). */
  codec: PayloadCodec;
  /** Keeps that codec on the database's keys; a key added here is read at once (lib/ledger/payload-codec-keys.ts). */
  codecKeys: CodecKeyFollower;
  env: Env;
  log: Logger;
  streams: Streams;
  docker: Docker;
  /** Where servers run, for their logs (built by the process's composition root). */
  executors: ExecutorRegistry;
  /** The secret store's key-encryption keys (lib/secrets/keys.ts). */
  keyring: Keyring;
  /** This installation's workflow ids (lib/installation.ts). */
  workflowIds: WorkflowIds;
  /** A span per request, when OpenTelemetry tracing is on (lib/tracing.ts). */
  tracing?: MiddlewareHandler;
  /** The gateway's spans, joining each caller's trace context (lib/tracing.ts). */
  gatewayTracing?: RelayTracing;
}

export interface Caller {
  id: number;
  email: string;
  role: Role;
  tokenId: number;
}

export interface AppEnv {
  Variables: {
    caller: Caller;
    requestId: string;
  };
}
