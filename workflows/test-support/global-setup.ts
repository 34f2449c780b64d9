// What every workflow unit test file shares, started once per vitest run of the unit project: a
// Temporal dev server (the CLI binary `npm run setup` builds, in memory, on its own port, with
// mcp-host's search attributes) and one workflow bundle. Nothing else: no Postgres, no dockerd.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { ensureSearchAttributes } from '../../lib/temporal.js';
import { freePort } from '../../scripts/stack/process.js';
import { startTemporal } from '../../scripts/stack/temporal.js';
import { WORKFLOWS_PATH } from '../../worker/bundle.js';

export interface WorkflowTestServer {
  temporalAddress: string;
  namespace: string;
  /** The bundle of workflows/index.ts, for Worker's `workflowBundle: { codePath }`. */
  bundlePath: string;
  /** The server suggests continue-as-new once a run's history has this many events. */
  continueAsNewAfterEvents: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    workflowTestServer: WorkflowTestServer;
  }
}

const NAMESPACE = 'default';
// Low enough that a test reaches it in a few intents, high enough that a single intent never does.
const CONTINUE_AS_NEW_AFTER_EVENTS = 150;

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-host-workflow-tests-'));
  const [temporal, bundle] = await Promise.all([
    freePort().then((port) =>
      startTemporal({
        port,
        dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': CONTINUE_AS_NEW_AFTER_EVENTS },
      }),
    ),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') }),
  ]);
  try {
    const connection = await Connection.connect({ address: temporal.address });
    await ensureSearchAttributes(connection, NAMESPACE);
    await connection.close();
  } catch (err) {
    await temporal.stop();
    throw err;
  }
  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  project.provide('workflowTestServer', {
    temporalAddress: temporal.address,
    namespace: NAMESPACE,
    bundlePath,
    continueAsNewAfterEvents: CONTINUE_AS_NEW_AFTER_EVENTS,
  });
  return async () => {
    await temporal.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
