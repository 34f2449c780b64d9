// The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in package.json), run as
// its CLI against a server URL, and the example server it is run against (examples/conformance-mcp).
// Each scenario's checks come from the checks.json the CLI writes per scenario, not from its console text.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureNodeBaseImages } from '../../scripts/stack/node-base-image.js';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, type BuildStack } from './build-stack.js';
import { nodeExampleRepo } from './node-example.js';

const run = promisify(execFile);
const CLI = join(PROJECT_ROOT, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
export const EXAMPLE_SERVER = join(PROJECT_ROOT, 'examples', 'conformance-mcp', 'server.ts');

export interface ConformanceCheck {
  id: string;
  name: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';
  errorMessage?: string;
  details?: unknown;
}

export interface ScenarioOutcome {
  scenario: string;
  checks: ConformanceCheck[];
  passed: number;
  /** `name: message` of each failed check. */
  failures: string[];
  /** `name: message` of each check that warned (a SHOULD the server missed). */
  warnings: string[];
}

/** A scenario passes when none of its checks failed or warned. */
export const passes = (o: ScenarioOutcome | undefined) => !!o && o.failures.length === 0 && o.warnings.length === 0;

/** The scenarios that did not pass, with what failed or warned. */
export const notPassing = (outcomes: Map<string, ScenarioOutcome>) =>
  [...outcomes.values()]
    .filter((o) => !passes(o))
    .map((o) => ({ scenario: o.scenario, failures: o.failures, warnings: o.warnings }));

/** The suite's server scenarios, active and pending (`conformance list --server`). */
export async function serverScenarios(): Promise<string[]> {
  const { stdout } = await run(process.execPath, [CLI, 'list', '--server']);
  return [...stdout.matchAll(/^\s+- (\S+)/gm)].map((m) => m[1]!);
}

/** Runs every server scenario (`--suite all`) against `url`; the outcomes by scenario name. */
export async function runServerScenarios(url: string): Promise<Map<string, ScenarioOutcome>> {
  const out = mkdtempSync(join(tmpdir(), 'mcp-conformance-'));
  try {
    // It exits 1 when a check fails: what failed is read from the results, not from the exit code.
    const result = await run(process.execPath, [CLI, 'server', '--url', url, '--suite', 'all', '-o', out], {
      timeout: 300_000,
      maxBuffer: 64 * 1024 * 1024,
    }).catch((err: { stdout?: string; stderr?: string; code?: number }) => err);
    const outcomes = new Map<string, ScenarioOutcome>();
    for (const dir of readdirSync(out)) {
      const scenario = /^server-(.+)-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/.exec(dir)?.[1];
      if (!scenario) continue;
      const checks = JSON.parse(readFileSync(join(out, dir, 'checks.json'), 'utf8')) as ConformanceCheck[];
      const said = (status: string) =>
        checks.filter((c) => c.status === status).map((c) => `${c.name}: ${c.errorMessage ?? '(no message)'}`);
      outcomes.set(scenario, {
        scenario,
        checks,
        passed: checks.filter((c) => c.status === 'SUCCESS').length,
        failures: said('FAILURE'),
        warnings: said('WARNING'),
      });
    }
    if (outcomes.size === 0)
      throw new Error(`conformance CLI wrote no results for ${url}:\n${result.stdout ?? ''}${result.stderr ?? ''}`);
    return outcomes;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** One line per scenario, for the test log. */
export function summary(outcomes: Map<string, ScenarioOutcome>): string {
  return [...outcomes.values()]
    .map(
      (o) =>
        `${passes(o) ? '✓' : '✗'} ${o.scenario}: ${o.passed} passed` +
        [...o.failures.map((f) => `\n    FAILED ${f}`), ...o.warnings.map((w) => `\n    WARNED ${w}`)].join(''),
    )
    .join('\n');
}

export interface ExampleServer {
  url: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** examples/conformance-mcp on a free loopback port, run by this Node as it is (Node strips the types). */
export async function startExampleServer(env: NodeJS.ProcessEnv = {}): Promise<ExampleServer> {
  const child = spawn(process.execPath, [EXAMPLE_SERVER], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`conformance-mcp did not start:\n${output}`)), 30_000);
    const look = () => {
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', look);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`conformance-mcp exited (${code}):\n${output}`));
    });
  });
  return {
    url,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * examples/conformance-mcp as a git repository of the build stack, built FROM the Node base image made
 * from this host and published to the stack's registry (builds pull their base images from there).
 * The image goes straight into the registry from the blobs cached for this host's inputs: no import
 * into the stack's daemon and no push from it, the part of a build stack's start that took longest.
 */
export async function conformanceExampleRepo(stack: BuildStack, repoName: string) {
  const { reference } = await ensureNodeBaseImages({
    registry: stack.registryHost,
    auth: { username: REGISTRY_USER, password: REGISTRY_PASSWORD },
    repository: 'mcp-test/node-base',
    arches: ['amd64'],
  });
  return nodeExampleRepo('conformance-mcp', join(stack.gitDir, repoName), (path, content) =>
    path.startsWith('Dockerfile') ? content.replace(/^FROM \S+/m, `FROM ${reference}`) : content,
  );
}
