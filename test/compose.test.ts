// docker-compose.yml as docker-compose reads it (`docker-compose config`, Debian's docker-compose,
// which npm run setup installs):
// it refuses to start without a Postgres password, only the socket proxies hold the Docker socket,
// the API reads Docker through the read-only proxy and is published on loopback, and the worker joins
// exactly the API's and its own containers to servers' networks (never Postgres or Temporal), and its
// own to build networks, where it must not forward; secrets go to a directory of the Docker host at the
// same path inside the worker, which the worker checks to be a tmpfs when it starts.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../scripts/stack/paths.js';

interface Service {
  container_name?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  user?: string;
  cap_drop?: string[];
  cap_add?: string[];
  sysctls?: Record<string, string>;
  networks?: Record<string, unknown>;
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
      // What each proxy lets through: the worker's what builds and launches use (no exec, swarm,
      // secrets, plugins, system), the API's reads of containers and the daemon only.
      const allowed = (name: string) =>
        Object.entries(services[name]!.environment!)
          .filter(([, v]) => String(v) === '1')
          .map(([k]) => k)
          .sort();
      expect(allowed('docker-proxy')).toEqual([
        'BUILD',
        'CONTAINERS',
        'DELETE',
        'DISTRIBUTION',
        'IMAGES',
        'INFO',
        'NETWORKS',
        'POST',
        'VOLUMES',
      ]);
      expect(allowed('docker-read-proxy')).toEqual(['CONTAINERS', 'INFO']);
      expect(String(services['docker-read-proxy']!.environment!.POST)).toBe('0');
      // Each proxy on an internal network of its own, shared with its one client.
      expect(Object.keys(services['docker-proxy']!.networks!)).toEqual(['docker-worker']);
      expect(Object.keys(services['docker-read-proxy']!.networks!)).toEqual(['docker-api']);
      expect(Object.keys(services.api!.networks!)).not.toContain('docker-worker');
    },
    SLOW,
  );

  it(
    'has no default password or key: Postgres, Temporal and the API take them from .env',
    () => {
      const { services } = config();
      expect(services.postgres!.environment!.POSTGRES_PASSWORD).toBe('pw-for-config');
      expect(services.temporal!.environment!.POSTGRES_PWD).toBe('pw-for-config');
      expect(services.api!.environment!.DATABASE_URL).toBe('postgres://mcp:pw-for-config@postgres:5432/mcp_host');
      const run = spawnSync('docker-compose', ['-f', FILE, 'config'], {
        env: { PATH: process.env.PATH, POSTGRES_PASSWORD: 'pw' },
        encoding: 'utf8',
      });
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain('set SECRETS_KEY in .env');
    },
    SLOW,
  );

  it(
    'joins the worker itself to build networks, where its proxy listens; it forwards nothing and holds only file capabilities',
    () => {
      const { services } = config();
      const worker = services.worker!;
      expect(worker.environment!.BUILD_EGRESS_CONTAINER).toBe(worker.container_name);
      expect(worker.sysctls).toEqual({ 'net.ipv4.ip_forward': '0' });
      expect(worker.cap_drop).toEqual(['ALL']);
      expect(worker.cap_add).toEqual(['CHOWN', 'DAC_OVERRIDE', 'FOWNER']);
      expect(worker.user).toBe('0:0');
      expect(services.api!.environment!.BUILD_EGRESS_CONTAINER).toBeUndefined();
    },
    SLOW,
  );

  it(
    'gives the worker SECRETS_RUN_DIR at the Docker host’s own path, checked to be a tmpfs at start',
    () => {
      const { services } = config();
      const worker = services.worker!;
      expect(worker.environment!.SECRETS_RUN_DIR).toBe('/run/mcp-host/secrets');
      expect(worker.environment!.SECRETS_RUN_DIR_CHECK).toBe('start');
      expect(worker.volumes).toEqual(['/run/mcp-host/secrets:/run/mcp-host/secrets:rslave']);
      // Another directory: the same on both sides still, since the daemon bind-mounts the worker's paths.
      const other = config({ ...ENV, SECRETS_RUN_DIR: '/mnt/mcp-secrets' }).services.worker!;
      expect(other.environment!.SECRETS_RUN_DIR).toBe('/mnt/mcp-secrets');
      expect(other.volumes).toEqual(['/mnt/mcp-secrets:/mnt/mcp-secrets:rslave']);
      // The API delivers no secret files: it neither holds the directory nor checks it.
      expect(services.api!.volumes ?? []).toEqual([]);
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
