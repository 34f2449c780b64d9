// Workflow code is bundled from workflows/index.ts, by the worker as it starts or beforehand
// (scripts/bundle-workflows.ts, for WORKFLOW_BUNDLE_PATH).
import { bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../lib/paths.js';

export const WORKFLOWS_PATH = join(PROJECT_ROOT, 'workflows', 'index.ts');

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
