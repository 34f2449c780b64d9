// The workflow unit tests' environment: a client and a worker connection to the dev server the
// unit project's global setup started, and a worker per test on its own task queue, running the
// real workflow bundle with fake activities until the test's body settles.
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { expect, inject, vi } from 'vitest';
import { codecKey, EncryptionCodec } from '../../lib/secrets/payload-codec.js';
import { dataConverter } from '../../lib/temporal.js';

// A test drives a workflow through several activities and updates: a second or more on a busy
// machine. Applies to every test file that imports this one.
vi.setConfig({ testTimeout: 20_000 });

export interface WorkflowEnv {
  client: Client;
  /** The payload codec of `client` and the workers: a recorded history's payloads are opened with it. */
  codec: EncryptionCodec;
  /** Events after which the server suggests continue-as-new (see global-setup.ts). */
  continueAsNewAfterEvents: number;
  /**
   * Runs `body` while a worker with `activities` serves a fresh task queue (passed to `body`);
   * the worker stops when `body` settles.
   */
  run<T>(activities: object, body: (taskQueue: string) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function createWorkflowEnv(): Promise<WorkflowEnv> {
  const { temporalAddress, namespace, bundlePath, continueAsNewAfterEvents } = inject('workflowTestServer');
  try {
    // Workers log every state change at INFO and every activity failure at WARN; the tests make
    // activities fail on purpose and need only errors.
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // installed already by an earlier file in this process
  }
  // Workflow tests run with the payload codec too, under a key of their own: what passes through
  // Temporal is sealed, as in production.
  const codec = new EncryptionCodec([codecKey(randomBytes(32))]);
  const converter = dataConverter(codec);
  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection, namespace, dataConverter: converter });
  const workerConnection = await NativeConnection.connect({ address: temporalAddress });
  return {
    client,
    codec,
    continueAsNewAfterEvents,
    async run(activities, body) {
      const taskQueue = `workflow-test-${randomUUID()}`;
      const worker = await Worker.create({
        connection: workerConnection,
        namespace,
        taskQueue,
        workflowBundle: { codePath: bundlePath },
        dataConverter: converter,
        activities,
        // Workflows run in this thread's sandbox, as replay runs them: a worker starts in
        // milliseconds instead of loading the bundle into a thread of its own for a second.
        debugMode: true,
        // Cancellation reaches an activity in a heartbeat's answer: send them at once.
        maxHeartbeatThrottleInterval: '50ms',
        defaultHeartbeatThrottleInterval: '50ms',
      });
      return worker.runUntil(() => body(taskQueue));
    },
    async close() {
      await workerConnection.close();
      await connection.close();
    },
  };
}

/**
 * A fresh entity id. Workflows reach each other by business-key ids (`server/<id>`,
 * `governance/<id>`), and every test file shares one server: each test takes its own ids.
 */
export const freshId = () => randomInt(1, 2 ** 31 - 2);

/** A revision (40 hex digits) no other test builds. */
export const freshRevision = () => randomUUID().replaceAll('-', '').padEnd(40, '0');

/** The ApplicationFailure inside the error `pending` rejects with, which must be an `errorClass`. */
async function causeOf(
  pending: Promise<unknown>,
  errorClass: typeof WorkflowUpdateFailedError | typeof WorkflowFailedError,
): Promise<ApplicationFailure> {
  const err: unknown = await pending.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(errorClass);
  const cause = (err as WorkflowUpdateFailedError | WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

/** The ApplicationFailure an update was refused with (the API answers it as a 409 with the message). */
export const updateRefusal = (update: Promise<unknown>) => causeOf(update, WorkflowUpdateFailedError);

/** The ApplicationFailure a workflow failed with. */
export const workflowFailure = (result: Promise<unknown>) => causeOf(result, WorkflowFailedError);

/** Polls `check` (an expectation) until it passes: for state that a workflow reaches on its own. */
export async function eventually(check: () => void | Promise<void>, timeoutMs = 10_000): Promise<void> {
  await vi.waitFor(check, { timeout: timeoutMs, interval: 25 });
}
