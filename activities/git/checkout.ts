// Git for builds: resolve a branch to the commit to build, and a shallow checkout of exactly that
// commit. git runs with prompts off, only the http(s), git and ssh transports, and a configuration
// and HOME of its own: the worker's ~/.gitconfig, credential helpers and ssh keys never apply to a
// tenant's URL. The remote's host passes the source policy before git contacts it. A private
// source's secret is read here, inside the activity, and reaches git through ./credentials.ts only.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { lstat, mkdir, readdir, realpath, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  detectProjectKind,
  generateDockerfile,
  GenerateError,
  GENERATOR_VERSION,
  type BaseImages,
  type ProjectFacts,
} from '../../lib/build/dockerfile.js';
import type { ServerTransport } from '../../lib/schemas/servers.js';
import { readControlFile } from '../docker/build.js';
import { childToolEnv } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import { gitUrlProblem } from '../../lib/git-url.js';
import { gitRemoteHost, resolveAllowedHost, SourceHostRefused, type HostPolicy } from '../../lib/source-policy.js';
import type { SourceCredentials } from '../../lib/schemas/servers.js';
import type { BuildLog, Telemetry } from '../telemetry.js';
import { AUTH_REFUSED, gitCredential, SSH_BASE, type GitCredential } from './credentials.js';
import type { PreparedSource } from '../../workflows/build-and-publish.messages.js';

const exec = promisify(execFile);
const SAFE = [
  ...[
    'protocol.allow=never',
    'protocol.http.allow=always',
    'protocol.https.allow=always',
    'protocol.git.allow=always',
    'protocol.ssh.allow=always',
  ],
  ...['credential.helper=', 'core.hooksPath=/dev/null', 'core.fsmonitor=false'],
].flatMap((c) => ['-c', c]);

// An empty HOME of this process's own; ssh reads its keys from the passwd home, so it gets no config,
// no identities and no agent.
let isolatedHome: string | undefined;
function gitEnv(): NodeJS.ProcessEnv {
  isolatedHome ??= mkdtempSync(join(tmpdir(), 'mcp-host-git-home-'));
  return {
    PATH: childToolEnv().PATH,
    HOME: isolatedHome,
    XDG_CONFIG_HOME: isolatedHome,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_SYSTEM: '/dev/null',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: 'true',
    GIT_SSH_COMMAND: `${SSH_BASE} -o IdentityFile=none`,
  };
}

/** Reads a secret of the server's owner by name (the secret store); the value never leaves the activity. */
export type SourceSecretReader = (ref: { serverId: number; name: string }) => Promise<Buffer>;

export interface GitDeps {
  workDir: string;
  telemetry: Telemetry;
  baseImages: BaseImages;
  sourcePolicy: HostPolicy;
  checkoutLimits: CheckoutLimits;
  readSecret: SourceSecretReader;
}

export interface CheckoutLimits {
  maxBytes: number;
  maxFiles: number;
}

async function git(
  args: string[],
  cwd?: string,
  timeoutMs = 120_000,
  signal?: AbortSignal,
  credential?: GitCredential,
): Promise<string> {
  const { stdout } = await exec('git', [...SAFE, ...args], {
    cwd,
    timeout: timeoutMs,
    env: { ...gitEnv(), ...credential?.env },
    maxBuffer: 16 * 1024 * 1024,
    ...(signal && { signal }),
  });
  return stdout;
}

/** git's own stderr, minus any credentials embedded in URLs. */
function gitError(err: unknown): string {
  const text = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
  return text
    .replace(/\/\/[^/@\s]+@/g, '//***@')
    .split('\n')
    .slice(-3)
    .join(' ');
}

/**
 * A remote that wants credentials it did not get, or refused the ones it got, will not change its mind
 * on a retry: a non-retryable failure that says which, naming the secret (never its value).
 */
function authFailure(err: unknown, credentials: SourceCredentials | undefined): ApplicationFailure | undefined {
  const text = gitError(err);
  if (!AUTH_REFUSED.test(text)) return undefined;
  return ApplicationFailure.nonRetryable(
    credentials
      ? `the repository refused the credentials of secret "${credentials.secret}" (${text})`
      : `the repository asks for credentials: name a secret in source.credentials (${text})`,
    ErrorType.GitAuthFailed,
  );
}

/** Runs `fn` with the source's credentials materialized for git, and removes them after. */
async function withCredential<T>(
  deps: GitDeps,
  ref: { serverId?: number; repository: string; credentials?: SourceCredentials },
  fn: (credential?: GitCredential) => Promise<T>,
): Promise<T> {
  if (!ref.credentials) return fn();
  if (ref.serverId === undefined) throw new Error('a private source needs its server id to read its secret');
  const value = await deps.readSecret({ serverId: ref.serverId, name: ref.credentials.secret });
  const credential = await gitCredential(ref.repository, value, ref.credentials.username);
  try {
    return await fn(credential);
  } finally {
    await credential.dispose();
  }
}

/**
 * git options for `repository` once its host passed the source policy: http(s) connects to the
 * address checked here (resolved once), not to whatever the name resolves to next.
 */
async function checkUrl(repository: string, policy: HostPolicy): Promise<string[]> {
  const problem = gitUrlProblem(repository);
  if (problem) throw ApplicationFailure.nonRetryable(`repository ${problem}`, ErrorType.GitSourceInvalid);
  const remote = gitRemoteHost(repository)!;
  let addresses: string[];
  try {
    addresses = await resolveAllowedHost(policy, remote.host, remote.port);
  } catch (err) {
    if (err instanceof SourceHostRefused)
      throw ApplicationFailure.nonRetryable(`repository ${err.message}`, ErrorType.SourceHostRefused);
    throw ApplicationFailure.retryable(`repository host ${remote.host} does not resolve: ${(err as Error).message}`);
  }
  if (!['http:', 'https:'].includes(remote.scheme)) return [];
  const address = addresses[0]!.includes(':') ? `[${addresses[0]}]` : addresses[0]!;
  return ['-c', `http.curloptResolve=${remote.host}:${remote.port}:${address}`];
}

/** Bytes on disk and files under `dir`, counting up to just past the limits. */
async function usage(dir: string, limits: CheckoutLimits): Promise<{ bytes: number; files: number }> {
  const total = { bytes: 0, files: 0 };
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (total.bytes > limits.maxBytes || total.files > limits.maxFiles) return;
      const path = join(d, entry.name);
      total.files += 1;
      total.bytes += await lstat(path).then(
        (st) => st.size,
        () => 0,
      );
      if (entry.isDirectory()) await walk(path);
    }
  };
  await walk(dir);
  return total;
}

const overLimit = (u: { bytes: number; files: number }, limits: CheckoutLimits) =>
  u.bytes > limits.maxBytes
    ? `more than CHECKOUT_MAX_BYTES (${limits.maxBytes} bytes)`
    : u.files > limits.maxFiles
      ? `more than CHECKOUT_MAX_FILES (${limits.maxFiles} files)`
      : undefined;

/** Clones into `dir`, stopping git as soon as the checkout grows past the limits. */
async function boundedClone(
  args: string[],
  dir: string,
  limits: CheckoutLimits,
  credential: GitCredential | undefined,
  credentials: SourceCredentials | undefined,
): Promise<void> {
  const abort = new AbortController();
  let exceeded: string | undefined;
  const check = async () => {
    exceeded ??= overLimit(await usage(dir, limits), limits);
    if (exceeded) abort.abort();
  };
  const watch = setInterval(() => void check(), 1_000);
  try {
    await git(args, undefined, 600_000, abort.signal, credential);
    await check();
  } catch (err) {
    if (!exceeded)
      throw authFailure(err, credentials) ?? ApplicationFailure.retryable(`git clone failed: ${gitError(err)}`);
  } finally {
    clearInterval(watch);
  }
  if (exceeded) {
    await rm(dir, { recursive: true, force: true });
    throw ApplicationFailure.nonRetryable(`the checkout is too large: ${exceeded}`, ErrorType.CheckoutTooLarge);
  }
}

/** The part of a checkout's name after the revision: a hash of everything else that shapes the build. */
export function checkoutKey(
  input: { directory?: string; dockerfile?: string; transport?: ServerTransport },
  baseImages: BaseImages,
): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        GENERATOR_VERSION,
        input.directory ?? '',
        input.dockerfile ?? '',
        input.transport ?? '',
        baseImages.node,
        baseImages.python,
        baseImages.go,
        baseImages.static,
      ]),
    )
    .digest('hex')
    .slice(0, 12);
}

/** The build context inside the checkout: a directory, reached through no symbolic link. */
async function contextDirOf(checkout: string, directory: string | undefined): Promise<string> {
  if (directory === undefined) return checkout;
  const refuse = (why: string) =>
    ApplicationFailure.nonRetryable(`directory ${directory} ${why}`, ErrorType.BuildContextInvalid);
  const path = join(checkout, directory);
  const real = await realpath(path).catch(() => undefined);
  if (real === undefined) throw refuse('not found in the repository');
  if (real !== join(await realpath(checkout), directory)) throw refuse('is (or is under) a symbolic link');
  if (!(await lstat(real)).isDirectory()) throw refuse('is not a directory');
  return path;
}

const FACT_FILE_MAX = 256 * 1024;

/** A generated Dockerfile for the project in `dir`, from what its manifests say. */
async function generateFor(dir: string, base: BaseImages, transport: ServerTransport | undefined) {
  const files = await readdir(dir);
  const kind = detectProjectKind(files);
  if (!kind) {
    throw ApplicationFailure.nonRetryable(
      'no Dockerfile, and not a Node, Python or Go project to generate one for',
      ErrorType.BuildFailed,
    );
  }
  const read = async (name: string) => {
    const text = await readControlFile(dir, name);
    if (text !== undefined && text.length > FACT_FILE_MAX)
      throw ApplicationFailure.nonRetryable(
        `${name} is larger than ${FACT_FILE_MAX} bytes`,
        ErrorType.BuildContextInvalid,
      );
    return text;
  };
  const facts: ProjectFacts = { files };
  if (kind === 'node') {
    try {
      facts.packageJson = JSON.parse((await read('package.json')) ?? '{}') as ProjectFacts['packageJson'];
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      throw ApplicationFailure.nonRetryable('package.json is not valid JSON', ErrorType.BuildFailed);
    }
  }
  if (kind === 'python') facts.pyproject = await read('pyproject.toml');
  if (kind === 'go') {
    const rootGo = files.filter((f) => f.endsWith('.go') && !f.endsWith('_test.go'));
    facts.goRootMain = false;
    for (const f of rootGo.slice(0, 50)) if (/^package main\b/m.test((await read(f)) ?? '')) facts.goRootMain = true;
    facts.goCommands = files.includes('cmd')
      ? (await readdir(join(dir, 'cmd'), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name)
      : [];
  }
  try {
    return generateDockerfile(kind, facts, base, { transport });
  } catch (err) {
    if (err instanceof GenerateError)
      throw ApplicationFailure.nonRetryable(`cannot generate a Dockerfile: ${err.message}`, ErrorType.BuildFailed);
    throw err;
  }
}

export function createGitActivities(deps: GitDeps) {
  return {
    async resolveRevision(input: {
      repository: string;
      branch: string;
      /** With credentials: whose secret they name. */
      serverId?: number;
      credentials?: SourceCredentials;
    }): Promise<{ revision: string }> {
      const { repository, branch } = input;
      const pin = await checkUrl(repository, deps.sourcePolicy);
      let out: string;
      try {
        out = await withCredential(deps, input, (credential) =>
          git(
            [...pin, 'ls-remote', '--', repository, `refs/heads/${branch}`],
            undefined,
            60_000,
            undefined,
            credential,
          ),
        );
      } catch (err) {
        if (err instanceof ApplicationFailure) throw err;
        // Unreachable hosts may come back; a missing repository will not, but both look alike here.
        throw (
          authFailure(err, input.credentials) ?? ApplicationFailure.retryable(`git ls-remote failed: ${gitError(err)}`)
        );
      }
      const revision = out.split(/\s/)[0];
      if (!revision || !/^[0-9a-f]{40,64}$/.test(revision)) {
        throw ApplicationFailure.nonRetryable(
          `branch ${branch} not found in ${repository}`,
          ErrorType.GitSourceInvalid,
        );
      }
      return { revision };
    },

    async prepareCheckout(input: {
      runId: number;
      serverId: number;
      repository: string;
      branch: string;
      revision: string;
      credentials?: SourceCredentials;
      directory?: string;
      dockerfile?: string;
      transport?: ServerTransport;
    }): Promise<PreparedSource> {
      const pin = await checkUrl(input.repository, deps.sourcePolicy);
      const log: BuildLog = deps.telemetry.buildLog(input.runId, null);
      const steps = deps.telemetry.steps(input.serverId, input.runId, 'prepareCheckout', null);
      // Keyed by everything that shapes the build, not the revision alone: a checkout kept with a
      // Dockerfile generated for other base images (or another directory) is never reused.
      const dir = join(
        deps.workDir,
        `server-${input.serverId}`,
        `${input.revision}-${checkoutKey(input, deps.baseImages)}`,
      );
      try {
        const head = existsSync(join(dir, '.git'))
          ? (await git(['rev-parse', 'HEAD'], dir).catch(() => '')).trim()
          : '';
        if (head !== input.revision) {
          await rm(dir, { recursive: true, force: true });
          await mkdir(dir, { recursive: true });
          log.line(`Cloning ${input.repository} (${input.branch}) at ${input.revision.slice(0, 12)}`);
          Context.current().heartbeat('cloning');
          await steps.time('clone', () =>
            withCredential(deps, input, async (credential) => {
              await boundedClone(
                [...pin, 'clone', '--quiet', '--depth', '1', '--branch', input.branch, '--', input.repository, dir],
                dir,
                deps.checkoutLimits,
                credential,
                input.credentials,
              );
              const cloned = (await git(['rev-parse', 'HEAD'], dir)).trim();
              if (cloned === input.revision) return;
              // The branch moved on since the build was requested: fetch the requested commit itself.
              try {
                await git(
                  [...pin, 'fetch', '--quiet', '--depth', '1', 'origin', input.revision],
                  dir,
                  120_000,
                  undefined,
                  credential,
                );
                await git(['checkout', '--quiet', '--detach', input.revision], dir);
              } catch {
                throw ApplicationFailure.nonRetryable(
                  `branch ${input.branch} moved from ${input.revision.slice(0, 12)} to ${cloned.slice(0, 12)} and the server does not serve the old commit`,
                  ErrorType.CheckoutMoved,
                );
              }
            }),
          );
        }
        const contextDir = await contextDirOf(dir, input.directory);
        const dockerfile = input.dockerfile ?? 'Dockerfile';
        let dockerfileGenerated = false;
        if ((await readControlFile(contextDir, dockerfile)) === undefined) {
          if (input.dockerfile !== undefined)
            throw ApplicationFailure.nonRetryable(
              `dockerfile ${input.dockerfile} not found in ${input.directory ?? 'the repository'}`,
              ErrorType.BuildContextInvalid,
            );
          const generated = await generateFor(contextDir, deps.baseImages, input.transport);
          log.line(`No Dockerfile found, generating one (${generated.summary}; ${generated.transport})`);
          await writeFile(join(contextDir, 'Dockerfile'), generated.dockerfile);
          dockerfileGenerated = true;
        }
        return { contextDir, revision: input.revision, dockerfileGenerated, dockerfile };
      } catch (err) {
        // A checkout the build can never use is not kept; a retried one is cloned again anyway.
        if (err instanceof ApplicationFailure && err.nonRetryable) await rm(dir, { recursive: true, force: true });
        throw err;
      } finally {
        await Promise.all([log.flush(), steps.flush()]);
      }
    },

    /** Removes a build's checkout once its images are built (or the build failed). */
    async removeCheckout({ contextDir }: { contextDir: string }): Promise<void> {
      const rel = relative(deps.workDir, contextDir);
      if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return; // only what prepareCheckout made
      // `server-<id>/<checkout>`, whatever directory inside it the build's context was.
      const [serverDir, checkoutDir] = rel.split(sep);
      if (!serverDir || !checkoutDir) return;
      await rm(join(deps.workDir, serverDir, checkoutDir), { recursive: true, force: true });
      await rmdir(join(deps.workDir, serverDir)).catch(() => undefined); // once no other checkout is there
    },
  };
}
