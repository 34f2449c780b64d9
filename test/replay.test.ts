// Determinism guard: every history recorded in test/histories/ must replay against the current
// workflow code. A change that breaks one needs patched()/a new workflow type, not a re-recording.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../worker/bundle.js';
import { HISTORIES_DIR } from './support/histories.js';

const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

describe('recorded workflow histories replay', () => {
  it('has recorded histories to replay', () => expect(files.length).toBeGreaterThan(0));

  it.each(files)(
    '%s',
    async (file) => {
      // Histories recorded before the id was kept beside them ran under bare ids (`server/1`), which
      // the file name stands in for: neither carries an installation.
      const { workflowId, ...history } = JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8')) as {
        workflowId?: string;
      };
      await expect(
        Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, history, workflowId ?? file),
      ).resolves.toBeUndefined();
    },
    60_000,
  );
});
