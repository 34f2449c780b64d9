// Determinism guard: every history recorded in test/histories/ must replay against the current
// workflow code. A change that breaks one needs patched()/a new workflow type, not a re-recording.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { codecKey, EncryptionCodec } from '../lib/secrets/payload-codec.js';
import { dataConverter } from '../lib/temporal.js';
import { WORKFLOWS_PATH } from '../worker/bundle.js';
import { HISTORIES_DIR } from './support/histories.js';

const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));
// Replayed as the worker replays them, through the payload codec: histories recorded before it (and
// recordings, which keep payloads opened) hold unsealed payloads, which the codec passes through.
const converter = dataConverter(new EncryptionCodec([codecKey(randomBytes(32))]));

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
        Worker.runReplayHistory(
          { workflowsPath: WORKFLOWS_PATH, dataConverter: converter },
          history,
          workflowId ?? file,
        ),
      ).resolves.toBeUndefined();
    },
    60_000,
  );
});
