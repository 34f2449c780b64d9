// npm run bundle:workflows: builds the workflow bundle once, so a stray Node import in workflow code
// fails in CI rather than at deploy time; with a file name (npm run bundle:workflows -- <file>) it
// writes the bundle there, for WORKFLOW_BUNDLE_PATH.
import { writeFileSync } from 'node:fs';
import { buildWorkflowBundle } from '../worker/bundle.js';

const { code } = await buildWorkflowBundle();
if (process.argv[2]) writeFileSync(process.argv[2], code);
process.stdout.write(`workflow bundle ok (${(code.length / 1024).toFixed(0)} KiB)\n`);
