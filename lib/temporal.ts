// Temporal client connection and namespace set-up shared by the API, the worker and mcpctl.
import { readFileSync } from 'node:fs';
import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import type { DataConverter, PayloadCodec, SearchAttributeType } from '@temporalio/common';
import type { Env } from './env.js';
import { CUSTOM_SEARCH_ATTRIBUTES } from './search-attributes.js';

const GRPC_ALREADY_EXISTS = 6;
// temporal.api.enums.v1.IndexedValueType numbers, by SDK type name.
const INDEXED_VALUE_TYPE: Record<SearchAttributeType, number> = {
  TEXT: 1,
  KEYWORD: 2,
  INT: 3,
  DOUBLE: 4,
  BOOL: 5,
  DATETIME: 6,
  KEYWORD_LIST: 7,
};

type TemporalEnv = Pick<
  Env,
  'TEMPORAL_ADDRESS' | 'TEMPORAL_TLS' | 'TEMPORAL_TLS_CERT_PATH' | 'TEMPORAL_TLS_KEY_PATH' | 'TEMPORAL_API_KEY'
>;

/** Address, TLS and API key for both connection kinds (the client's and the worker's native one). */
export function connectionOptions(env: TemporalEnv): {
  address: string;
  tls?: boolean | { clientCertPair: { crt: Buffer; key: Buffer } };
  apiKey?: string;
} {
  const certificate =
    env.TEMPORAL_TLS_CERT_PATH && env.TEMPORAL_TLS_KEY_PATH
      ? {
          clientCertPair: {
            crt: readFileSync(env.TEMPORAL_TLS_CERT_PATH),
            key: readFileSync(env.TEMPORAL_TLS_KEY_PATH),
          },
        }
      : undefined;
  const tls = certificate ?? (env.TEMPORAL_TLS || Boolean(env.TEMPORAL_API_KEY) ? true : undefined);
  return {
    address: env.TEMPORAL_ADDRESS,
    ...(tls !== undefined && { tls }),
    ...(env.TEMPORAL_API_KEY && { apiKey: env.TEMPORAL_API_KEY }),
  };
}

/**
 * What every client and worker of mcp-host converts payloads with: the default JSON converter, then the
 * payload codec (lib/secrets/payload-codec.ts), so Temporal stores and shows only ciphertext.
 */
export function dataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec] };
}

export async function connectClient(
  env: TemporalEnv & Pick<Env, 'TEMPORAL_NAMESPACE'>,
  codec: PayloadCodec,
  interceptors: WorkflowClientInterceptor[] = [],
): Promise<Client> {
  const connection = await Connection.connect(connectionOptions(env));
  return new Client({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    dataConverter: dataConverter(codec),
    ...(interceptors.length > 0 && { interceptors: { workflow: interceptors } }),
  });
}

/** Registers mcp-host's custom search attributes on the namespace; already-present ones are fine. */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = CUSTOM_SEARCH_ATTRIBUTES.filter((key) => !(key.name in (existing.customAttributes ?? {})));
  if (missing.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_VALUE_TYPE[key.type]])),
    });
  } catch (err) {
    if ((err as { code?: number }).code !== GRPC_ALREADY_EXISTS) throw err;
  }
}
