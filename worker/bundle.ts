// Workflow code is bundled from workflows/index.ts. Run directly (npm run bundle:workflows) it builds the
// bundle once, so a stray Node import in workflow code fails in CI rather than at deploy time.
import { bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WORKFLOWS_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'workflows', 'index.ts');

export function workflowBundleOptions(): Pick<WorkerOptions, 'workflowsPath'> {
  return { workflowsPath: WORKFLOWS_PATH };
}

export async function buildWorkflowBundle(): Promise<{ code: string }> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { code } = await buildWorkflowBundle();
  process.stdout.write(`workflow bundle ok (${(code.length / 1024).toFixed(0)} KiB)\n`);
}
