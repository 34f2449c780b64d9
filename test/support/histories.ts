// Workflow histories: fetched from the server after an integration run, replayed against the
// current workflow code (determinism), and optionally recorded into test/histories/.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { historyToJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import {
  ENCRYPTED_ENCODING,
  payloadFromJson,
  payloadToJson,
  type EncryptionCodec,
  type JsonPayload,
} from '../../lib/secrets/payload-codec.js';
import { PROJECT_ROOT, TEMPORAL_BIN } from '../../scripts/stack/paths.js';
import { WORKFLOWS_PATH } from '../../worker/bundle.js';

export const HISTORIES_DIR = join(PROJECT_ROOT, 'test', 'histories');

/** Replays every closed and open workflow that ran on `taskQueue`; returns how many replayed. */
export async function replayTaskQueue(client: Client, taskQueue: string): Promise<number> {
  const histories = client.workflow.list({ query: `TaskQueue = "${taskQueue}"` }).intoHistories();
  let count = 0;
  // The histories' payloads are sealed by the payload codec: the replay opens them with the client's.
  const options = { workflowsPath: WORKFLOWS_PATH, dataConverter: client.options.dataConverter };
  for await (const result of Worker.runReplayHistories(options, histories)) {
    if (result.error) throw new Error(`replay of ${result.workflowId} failed: ${String(result.error)}`);
    count += 1;
  }
  return count;
}

/**
 * The payload codecs of the harnesses on each Temporal address: one per database, since codec keys
 * are a database's (two installations on one Temporal each seal with their own).
 */
const codecs = new Map<string, EncryptionCodec[]>();
export function rememberCodec(temporalAddress: string, codec: EncryptionCodec): void {
  codecs.set(temporalAddress, [codec, ...(codecs.get(temporalAddress) ?? [])]);
}

/** The payload opened by whichever codec holds its key (the first one's error when none does). */
function openWithAny(payload: JsonPayload, all: EncryptionCodec[]): JsonPayload {
  const parsed = payloadFromJson(payload);
  const holder = all.find((codec) => codec.holds(parsed)) ?? all[0]!;
  return payloadToJson(holder.open(parsed));
}

const ENCRYPTED_BASE64 = Buffer.from(ENCRYPTED_ENCODING).toString('base64');

/** `node` with every sealed payload in it opened: a recorded history then replays under any key. */
function openPayloads(node: unknown, all: EncryptionCodec[]): unknown {
  if (Array.isArray(node)) return node.map((n) => openPayloads(n, all));
  if (node === null || typeof node !== 'object') return node;
  const payload = node as JsonPayload;
  if (payload.metadata?.encoding === ENCRYPTED_BASE64) return openWithAny(payload, all);
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, openPayloads(v, all)]));
}

/**
 * With RECORD_HISTORIES=1, saves a history fetched by a client (a workflow test's, whose server the
 * CLI does not reach) as test/histories/<name>.json, its payloads opened with `codec`.
 */
export function saveHistory(history: History, workflowId: string, name: string, codec: EncryptionCodec): void {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const opened = openPayloads(JSON.parse(historyToJSON(history)), [codec]);
  writeFileSync(
    join(HISTORIES_DIR, `${name}.json`),
    `${JSON.stringify({ workflowId, ...(opened as object) }, null, 2)}\n`,
  );
}

/**
 * With RECORD_HISTORIES=1, saves the workflow's history as test/histories/<name>.json, in the
 * canonical JSON form the Temporal CLI writes, with the workflow's id beside the events: a workflow
 * names the workflows it starts from its own id, so the replay needs the recorded one. Without
 * `runId`, the workflow's latest run.
 */
export function recordHistory(temporalAddress: string, workflowId: string, name: string, runId?: string): void {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const run = runId ? ['--run-id', runId] : [];
  const json = execFileSync(
    TEMPORAL_BIN,
    ['workflow', 'show', '--workflow-id', workflowId, ...run, '--address', temporalAddress, '--output', 'json'],
    {
      encoding: 'utf8',
    },
  );
  const known = codecs.get(temporalAddress);
  const history = known ? openPayloads(JSON.parse(json), known) : JSON.parse(json);
  writeFileSync(
    join(HISTORIES_DIR, `${name}.json`),
    `${JSON.stringify({ workflowId, ...(history as object) }, null, 2)}\n`,
  );
}
