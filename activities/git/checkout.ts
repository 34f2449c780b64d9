// Git for builds: resolve a branch to the commit to build, and a shallow checkout of exactly that
// commit. git runs with prompts off and the file/ext transports disabled whatever the URL says.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { detectProjectKind, generateDockerfile } from '../../lib/build/dockerfile.js';
import { childToolEnv } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import { gitUrlProblem } from '../../lib/git-url.js';
import type { BuildLog, Telemetry } from '../telemetry.js';
import type { PreparedSource } from '../../workflows/build-and-publish.messages.js';

const exec = promisify(execFile);
const SAFE = ['-c', 'protocol.file.allow=never', '-c', 'protocol.ext.allow=never', '-c', 'core.hooksPath=/dev/null'];

export interface GitDeps {
  workDir: string;
  telemetry: Telemetry;
  baseImages: { node: string; python: string };
}

async function git(args: string[], cwd?: string, timeoutMs = 120_000): Promise<string> {
  const { stdout } = await exec('git', [...SAFE, ...args], {
    cwd,
    timeout: timeoutMs,
    env: { ...childToolEnv(), GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true' },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/** git's own stderr, minus any credentials embedded in URLs. */
function gitError(err: unknown): string {
  const text = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
  return text.replace(/\/\/[^/@\s]+@/g, '//***@').split('\n').slice(-3).join(' ');
}

function checkUrl(repository: string): void {
  const problem = gitUrlProblem(repository);
  if (problem) throw ApplicationFailure.nonRetryable(`repository ${problem}`, ErrorType.GitSourceInvalid);
}

export function createGitActivities(deps: GitDeps) {
  return {
    async resolveRevision({ repository, branch }: { repository: string; branch: string }): Promise<{ revision: string }> {
      checkUrl(repository);
      let out: string;
      try {
        out = await git(['ls-remote', '--', repository, `refs/heads/${branch}`], undefined, 60_000);
      } catch (err) {
        // Unreachable hosts may come back; a missing repository will not, but both look alike here.
        throw ApplicationFailure.retryable(`git ls-remote failed: ${gitError(err)}`);
      }
      const revision = out.split(/\s/)[0];
      if (!revision || !/^[0-9a-f]{40,64}$/.test(revision)) {
        throw ApplicationFailure.nonRetryable(`branch ${branch} not found in ${repository}`, ErrorType.GitSourceInvalid);
      }
      return { revision };
    },

    async prepareCheckout(input: { runId: number; serverId: number; repository: string; branch: string; revision: string }): Promise<PreparedSource> {
      checkUrl(input.repository);
      const log: BuildLog = deps.telemetry.buildLog(input.runId, null);
      const dir = join(deps.workDir, `server-${input.serverId}`, input.revision);
      try {
        const head = existsSync(join(dir, '.git')) ? (await git(['rev-parse', 'HEAD'], dir).catch(() => '')).trim() : '';
        if (head !== input.revision) {
          await rm(dir, { recursive: true, force: true });
          await mkdir(dir, { recursive: true });
          log.line(`Cloning ${input.repository} (${input.branch}) at ${input.revision.slice(0, 12)}`);
          Context.current().heartbeat('cloning');
          try {
            await git(['clone', '--quiet', '--depth', '1', '--branch', input.branch, '--', input.repository, dir], undefined, 600_000);
          } catch (err) {
            throw ApplicationFailure.retryable(`git clone failed: ${gitError(err)}`);
          }
          const cloned = (await git(['rev-parse', 'HEAD'], dir)).trim();
          if (cloned !== input.revision) {
            // The branch moved on since the build was requested: fetch the requested commit itself.
            try {
              await git(['fetch', '--quiet', '--depth', '1', 'origin', input.revision], dir);
              await git(['checkout', '--quiet', '--detach', input.revision], dir);
            } catch {
              throw ApplicationFailure.nonRetryable(
                `branch ${input.branch} moved from ${input.revision.slice(0, 12)} to ${cloned.slice(0, 12)} and the server does not serve the old commit`,
                ErrorType.CheckoutMoved,
              );
            }
          }
        }
        const files = await readdir(dir);
        let dockerfileGenerated = false;
        if (!files.includes('Dockerfile')) {
          const kind = detectProjectKind(files);
          if (!kind) {
            throw ApplicationFailure.nonRetryable('no Dockerfile, and not a Node or Python project to generate one for', ErrorType.BuildFailed);
          }
          log.line(`No Dockerfile found, generating one (${kind})`);
          await writeFile(join(dir, 'Dockerfile'), generateDockerfile(kind, deps.baseImages[kind]));
          dockerfileGenerated = true;
        }
        return { contextDir: dir, revision: input.revision, dockerfileGenerated };
      } finally {
        await log.flush();
      }
    },
  };
}
