// Runs mcpctl (`cli/bin.mjs`) as a child process against a harness, as an operator would: its exit
// code, stdout and stderr, whether it succeeded or not.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import type { Harness } from './harness.js';

const run = promisify(execFile);
export const MCPCTL_BIN = join(PROJECT_ROOT, 'cli', 'bin.mjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** mcpctl with the harness URL and admin token; `env` overrides them (e.g. another MCPCTL_TOKEN). */
export async function runMcpctl(
  h: Harness,
  args: string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 60_000,
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [MCPCTL_BIN, ...args], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH, MCPCTL_URL: h.apiUrl, MCPCTL_TOKEN: h.adminToken, ...env },
      timeout: timeoutMs,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
