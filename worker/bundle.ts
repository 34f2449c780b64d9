// Workflow code is bundled from workflows/index.ts. Run directly (npm run bundle:workflows) it builds the
// bundle once, so a stray Node import in workflow code fails in CI rather than at deploy time; with a
// file name (npm run bundle:workflows -- <file>) it writes the bundle there, for WORKFLOW_BUNDLE_PATH.
import { bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WORKFLOWS_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'workflows', 'index.ts');

/**
 * A prebuilt bundle (`WORKFLOW_BUNDLE_PATH`, built from the same workflows/index.ts) spares the worker
 * its own bundling, seconds of CPU at each start; tracing needs its interceptor modules bundled in, so
 * it always bundles from source.
 */
export function workflowBundleOptions(
  bundlePath: string | undefined,
  tracing: boolean,
): Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'> {
  return bundlePath && !tracing ? { workflowBundle: { codePath: bundlePath } } : { workflowsPath: WORKFLOWS_PATH };
}

export async function buildWorkflowBundle(): Promise<{ code: string }> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { code } = await buildWorkflowBundle();
  if (process.argv[2]) writeFileSync(process.argv[2], code);
  process.stdout.write(`workflow bundle ok (${(code.length / 1024).toFixed(0)} KiB)\n`);
}
