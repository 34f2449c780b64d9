// docker-compose.yml as docker-compose reads it (`docker-compose config`, Debian's docker-compose,
// which npm run setup installs):
// it refuses to start without a Postgres password, only the socket proxies hold the Docker socket,
// the API reads Docker through the read-only proxy and is published on loopback, and the worker joins
// exactly the API's and its own containers to servers' networks (never Postgres or Temporal).
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../scripts/stack/paths.js';

interface Service {
  container_name?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
}

const FILE = join(PROJECT_ROOT, 'docker-compose.yml');
// Only the variables the file names, so a developer's own .env or shell does not change the answer.
const ENV = { PATH: process.env.PATH, POSTGRES_PASSWORD: 'pw-for-config', SECRETS_KEY: 'k'.repeat(44) };

/** The file as docker-compose resolves it; its YAML read by the YAML library docker-compose itself runs on. */
function config(env: Record<string, string | undefined> = ENV): { services: Record<string, Service> } {
  const yaml = execFileSync('docker-compose', ['-f', FILE, '--project-directory', PROJECT_ROOT, 'config'], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const json = execFileSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], {
    input: yaml,
    encoding: 'utf8',
  });
  return JSON.parse(json) as { services: Record<string, Service> };
}

// docker-compose (Python) takes seconds to start on a busy machine.
const SLOW = 60_000;

describe('docker-compose.yml', () => {
  it(
    'refuses to start without a Postgres password',
    () => {
      const run = spawnSync('docker-compose', ['-f', FILE, 'config'], {
        env: { PATH: process.env.PATH, SECRETS_KEY: 'k'.repeat(44) },
        encoding: 'utf8',
      });
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain('set POSTGRES_PASSWORD in .env');
    },
    SLOW,
  );

  it(
    'gives the Docker socket to the socket proxies only; the API reads through the read-only one',
    () => {
      const { services } = config();
      const holders = Object.entries(services)
        .filter(([, s]) => (s.volumes ?? []).some((v) => v.startsWith('/var/run/docker.sock:')))
        .map(([name]) => name)
        .sort();
      expect(holders).toEqual(['docker-proxy', 'docker-read-proxy']);
      expect(services.api!.environment!.DOCKER_HOST).toBe('tcp://docker-read-proxy:2375');
      expect(services.worker!.environment!.DOCKER_HOST).toBe('tcp://docker-proxy:2375');
      expect(services.api!.ports).toEqual(['127.0.0.1:3000:3000/tcp']);
    },
    SLOW,
  );

  it(
    'joins the API and the worker, by their container names, to servers’ networks: nothing else',
    () => {
      const { services } = config();
      const attached = services.worker!.environment!.DOCKER_ATTACH_CONTAINERS!.split(',');
      expect(attached).toEqual([services.api!.container_name, services.worker!.container_name]);
      expect(attached).toEqual(['mcp-host-api', 'mcp-host-worker']);
      // Another deployment on the same Docker host names its containers apart.
      const other = config({ ...ENV, MCP_HOST_NAME: 'staging' }).services;
      expect(other.worker!.environment!.DOCKER_ATTACH_CONTAINERS).toBe('staging-api,staging-worker');
      expect(other.api!.container_name).toBe('staging-api');
    },
    SLOW,
  );
});
