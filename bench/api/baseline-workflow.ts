// The baseline of a workflow start (bench/api): the durable minimum of a governance-run start done
// bare — one workflow task whose one local activity inserts one row, then the workflow completes.
import { proxyLocalActivities, workflowInfo } from '@temporalio/workflow';

const { insertBaselineRow } = proxyLocalActivities<{ insertBaselineRow(workflowId: string): Promise<void> }>({
  startToCloseTimeout: '5s',
});

export async function benchBaseline(): Promise<void> {
  await insertBaselineRow(workflowInfo().workflowId);
}
