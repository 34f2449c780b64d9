import { describe, expect, it } from 'vitest';
import { logLineText, runFailure } from '../../cli/build-watch.js';
import {
  buildDetailTable,
  buildListTable,
  checkWatchTarget,
  formatBytes,
  Limit,
  platformTable,
  shortDigest,
  shortRevision,
} from '../../cli/commands/builds.js';
import { formatTable } from '../../cli/output.js';
import { checkOption } from '../../cli/validate.js';
import type { BuildRun } from '../../lib/schemas/builds.js';

const DIGEST = `sha256:${'ab12'.repeat(16)}`;
const REVISION = '0123456789abcdef0123456789abcdef01234567';

function run(overrides: Partial<BuildRun> = {}): BuildRun {
  return {
    id: 7,
    server_id: 3,
    workflow_id: 'build/3/0123456789ab',
    source_repo: 'git://127.0.0.1:9418/hello',
    source_branch: 'main',
    source_revision: REVISION,
    registry: 'http://127.0.0.1:5000/mcp',
    local_image: 'mcp-custom-3',
    registry_image: '127.0.0.1:5000/mcp/mcp-custom-3:latest',
    manifest_tag: 'latest',
    manifest_digest: DIGEST,
    started_at: '2026-11-25T08:00:00.000Z',
    completed_at: '2026-11-25T08:01:00.000Z',
    status: 'succeeded',
    failure_reason: null,
    multi_arch: true,
    auth_refresh_attempted: false,
    auth_refresh_succeeded: false,
    auth_rotation_attempted: true,
    auth_rotation_succeeded: false,
    credential_health_status: 'healthy',
    package_type: null,
    package_name: null,
    package_version: null,
    package_integrity: null,
    platforms: [
      {
        platform: 'linux/amd64',
        remote_image: '127.0.0.1:5000/mcp/mcp-custom-3',
        remote_tag: 'latest-linux_amd64',
        digest: `sha256:${'cd34'.repeat(16)}`,
        media_type: 'application/vnd.oci.image.manifest.v1+json',
        size: 1536,
        auth_refresh_attempted: false,
        auth_refresh_succeeded: false,
        auth_rotation_attempted: false,
        auth_rotation_succeeded: false,
        credential_health_status: 'healthy',
      },
      {
        platform: 'linux/arm64',
        remote_image: '127.0.0.1:5000/mcp/mcp-custom-3',
        remote_tag: 'latest-linux_arm64',
        digest: null,
        media_type: null,
        size: null,
        auth_refresh_attempted: false,
        auth_refresh_succeeded: false,
        auth_rotation_attempted: false,
        auth_rotation_succeeded: false,
        credential_health_status: 'unknown',
      },
    ],
    ...overrides,
  };
}

describe('build formatting', () => {
  it('shortens revisions to 12 characters and digests to their algorithm and 12 characters', () => {
    expect(shortRevision(REVISION)).toBe('0123456789ab');
    expect(shortRevision(null)).toBeNull();
    expect(shortDigest(DIGEST)).toBe('sha256:ab12ab12ab12');
    expect(shortDigest('no-algorithm-digest-here')).toBe('no-algorithm');
    expect(shortDigest(null)).toBeNull();
  });

  it('shows sizes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(12 * 1024 * 1024)).toBe('12.0 MiB');
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(null)).toBeNull();
  });

  it('lists runs with short revision, platforms as a comma list and a short digest', () => {
    const failed = run({
      id: 8,
      status: 'failed',
      manifest_digest: null,
      completed_at: null,
      failure_reason: 'exit code 3',
      platforms: [],
    });
    const lines = formatTable(...buildListTable([failed, run()])).split('\n');
    expect(lines[0]).toMatch(/^id\s+status\s+revision\s+platforms\s+digest\s+started\s+completed\s+failure$/);
    expect(lines[2]).toMatch(/^8\s+failed\s+0123456789ab\s+-\s+-\s+2026-11-25T08:00:00.000Z\s+-\s+exit code 3$/);
    expect(lines[3]).toMatch(/^7\s+succeeded\s+0123456789ab\s+linux\/amd64,linux\/arm64\s+sha256:ab12ab12ab12\s+/);
  });

  it('details a run, with one row per platform', () => {
    const detail = formatTable(...buildDetailTable(run()));
    expect(detail).toContain(`digest             ${DIGEST}`);
    expect(detail).toMatch(/source\s+git:\/\/127\.0\.0\.1:9418\/hello@main/);
    expect(detail).toMatch(/auth refresh\s+-\n/);
    expect(detail).toMatch(/auth rotation\s+failed\n/);
    const platforms = formatTable(...platformTable(run())).split('\n');
    expect(platforms[0]).toMatch(/^platform\s+digest\s+size\s+health\s+tag$/);
    expect(platforms[2]).toMatch(
      new RegExp(`^linux/amd64\\s+sha256:${'cd34'.repeat(16)}\\s+1\\.5 KiB\\s+healthy\\s+latest-linux_amd64$`),
    );
    expect(platforms[3]).toMatch(/^linux\/arm64\s+-\s+-\s+unknown\s+latest-linux_arm64$/);
  });

  it('prefixes log lines with their platform, or [build], on one line each', () => {
    expect(logLineText({ platform: 'linux/amd64', line: 'Step 1/3 : FROM base' })).toBe(
      '[linux/amd64] Step 1/3 : FROM base',
    );
    expect(logLineText({ platform: null, line: 'Cloning git://x (main)' })).toBe('[build] Cloning git://x (main)');
    expect(logLineText({ platform: null, line: '\x1b[31mred\r\nnext  ' })).toBe('[build]  [31mred next');
  });

  it('says why a run did not succeed', () => {
    expect(runFailure(run())).toBeUndefined();
    expect(
      runFailure(
        run({ status: 'failed', failure_reason: "The command '/bin/sh -c exit 3' returned a non-zero code: 3" }),
      ),
    ).toBe("build 7 failed: The command '/bin/sh -c exit 3' returned a non-zero code: 3");
    expect(runFailure(run({ status: 'cancelled', failure_reason: null }))).toBe(
      'build 7 cancelled: no reason recorded',
    );
    expect(runFailure(run({ status: 'failed', failure_reason: 'line one\nline two' }))).toBe(
      'build 7 failed: line one line two',
    );
  });
});

describe('build option checks', () => {
  it('takes a build id or --server, not both and not neither', () => {
    expect(checkWatchTarget('12', undefined)).toEqual({ buildId: 12 });
    expect(checkWatchTarget(undefined, '4')).toEqual({ serverId: 4 });
    expect(() => checkWatchTarget(undefined, undefined)).toThrow('BUILD_ID/--server: give exactly one');
    expect(() => checkWatchTarget('1', '2')).toThrow('BUILD_ID/--server: give exactly one');
    expect(() => checkWatchTarget('x', undefined)).toThrow(/^BUILD_ID: must be a positive integer/);
    expect(() => checkWatchTarget(undefined, '0')).toThrow(/^--server: must be a positive integer/);
  });

  it('checks --limit with the API schema', () => {
    expect(checkOption('--limit', Limit, '20')).toBe(20);
    expect(checkOption('--limit', Limit, undefined)).toBeUndefined();
    for (const bad of ['0', '1001', '-1', '1e3', 'ten']) {
      expect(() => checkOption('--limit', Limit, bad), bad).toThrow('--limit: must be an integer between 1 and 1000');
    }
  });
});

/** A stand-in for the API: GETs answer from `answers` (longest matching path prefix), POSTs are recorded. */
