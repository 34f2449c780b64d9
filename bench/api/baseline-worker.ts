// The baseline's worker (bench/api): the SDK's defaults, no payload codec, no interceptors, a
// postgres pool like the worker's; its local activity inserts one row. Run as a child process so the
// bench counts its CPU apart, from a bundle built as the worker's is (dist/). Env: DATABASE_URL,
// TEMPORAL_ADDRESS, TASK_QUEUE.
import { join } from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import postgres from 'postgres';
import { PROJECT_ROOT } from '../../lib/paths.js';

const sql = postgres(process.env.DATABASE_URL!, { max: 10, onnotice: () => {} });
await sql`create table if not exists bench_baseline_rows (
  id bigserial primary key, workflow_id text not null, created_at timestamptz not null default now())`;
const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS! });
const worker = await Worker.create({
  connection,
  taskQueue: process.env.TASK_QUEUE!,
  workflowsPath: join(PROJECT_ROOT, 'bench', 'api', 'baseline-workflow.ts'),
  activities: {
    async insertBaselineRow(workflowId: string): Promise<void> {
      await sql`insert into bench_baseline_rows (workflow_id) values (${workflowId})`;
    },
  },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.shutdown());
process.stdout.write('"worker started"\n');
await worker.run();
await connection.close();
await sql.end({ timeout: 5 });
process.exit(0);
