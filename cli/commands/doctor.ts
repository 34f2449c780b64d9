// mcpctl doctor: checks what mcpctl and the API depend on, one line each, and says what to do.
import { Command } from 'commander';
import { ApiClient, resolveConfig, type GlobalOptions } from '../client.js';
import { ApiHttpError } from '../handle-error.js';
import { formatTable, printJson } from '../output.js';

interface Check {
  check: string;
  status: 'ok' | 'problem' | 'info';
  detail: string;
}

interface Readiness {
  checks: { postgres: string; temporal: string };
  info?: { docker: string; registry: string };
}

const HINTS: Record<string, string> = {
  postgres: 'the API cannot reach Postgres: check its DATABASE_URL and that the database runs',
  temporal: 'the API cannot reach Temporal: check TEMPORAL_ADDRESS and that the server (or npm start) runs',
  docker: 'launches and logs need a Docker engine: check DOCKER_HOST of the API and the worker',
  registry: 'builds push to REGISTRY: check that it answers at /v2/',
};

export async function runDoctor(opts: GlobalOptions): Promise<Check[]> {
  const checks: Check[] = [];
  const baseUrl = (opts.url ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
  try {
    const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(5_000) });
    checks.push({
      check: 'api',
      status: res.ok ? 'ok' : 'problem',
      detail: res.ok ? baseUrl : `${baseUrl}/healthz answered HTTP ${res.status}`,
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    checks.push({
      check: 'api',
      status: 'problem',
      detail: `cannot reach ${baseUrl} (${cause}): start it (npm start) or set MCPCTL_URL`,
    });
    return checks;
  }
  const ready = (await (await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(10_000) })).json()) as Readiness;
  for (const [name, state] of Object.entries(ready.checks)) {
    checks.push({
      check: name,
      status: state === 'ok' ? 'ok' : 'problem',
      detail: state === 'ok' ? 'reachable from the API' : `${state}: ${HINTS[name]}`,
    });
  }
  for (const [name, state] of Object.entries(ready.info ?? {})) {
    checks.push({
      check: name,
      status: state === 'ok' ? 'ok' : 'info',
      detail: state === 'ok' ? 'reachable from the API' : `${state}: ${HINTS[name]}`,
    });
  }
  if (!opts.token) {
    checks.push({ check: 'token', status: 'problem', detail: 'no API token: set MCPCTL_TOKEN or pass --token' });
    return checks;
  }
  try {
    const client = new ApiClient(resolveConfig(opts));
    const me = await client.get<{ email: string; role: string }>('/api/me');
    checks.push({ check: 'token', status: 'ok', detail: `${me.email} (${me.role})` });
    const creds = await client.get<{ configured: boolean; latest: { status: string; message: string | null } | null }>(
      '/api/registry/credentials',
    );
    checks.push({
      check: 'credentials',
      status: !creds.configured ? 'info' : creds.latest?.status === 'expired' ? 'problem' : 'ok',
      detail: !creds.configured
        ? "no REGISTRY_AUTH_DOCKERCONFIG: pushes use the daemon's own credentials"
        : creds.latest
          ? `${creds.latest.status}${creds.latest.message ? `: ${creds.latest.message}` : ''}`
          : 'not checked yet (the schedule runs soon; mcpctl credentials rotate runs it now)',
    });
  } catch (err) {
    const detail =
      err instanceof ApiHttpError && err.status === 401
        ? 'the token is invalid, expired or revoked: create one with mcpctl token create (as an admin) and export MCPCTL_TOKEN'
        : (err as Error).message;
    checks.push({ check: 'token', status: 'problem', detail });
  }
  return checks;
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('check the API, Postgres, Temporal, Docker, the registry and your token, and say what is wrong')
    .option('--json', 'print the checks as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const global = cmd.optsWithGlobals<GlobalOptions>();
      resolveConfig({ ...global, token: global.token ?? 'not-needed-for-url-check' }); // validates --url/--timeout
      const checks = await runDoctor(global);
      if (opts.json) printJson(checks);
      else
        process.stdout.write(
          `${formatTable(
            ['check', 'status', 'detail'],
            checks.map((c) => [c.check, c.status, c.detail]),
          )}\n`,
        );
      if (checks.some((c) => c.status === 'problem')) process.exitCode = 1;
    });
}
