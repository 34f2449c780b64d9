// The test fixtures themselves, against real daemons: a private dockerd, a registry with htpasswd
// auth, the hub-less multi-arch base image (and what the product relies on: classic-builder builds
// FROM it for linux/amd64 and linux/arm64 under qemu), the fault proxy, and git over git://.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImages, type BaseImages } from '../../scripts/stack/base-images.js';
import { startDockerd, type DockerDaemon } from '../../scripts/stack/docker.js';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { freePort } from '../../scripts/stack/process.js';
import { startRegistry, type Registry } from '../../scripts/stack/registry.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { commit, createGitRepo, git, startGitDaemon } from '../support/git-fixture.js';
import { dockerConfig, writeHtpasswd } from '../support/htpasswd.js';

const exec = promisify(execFile);
const USER = 'fixtures';
const PASSWORD = 'fixtures-secret';

const runDir = join(DATA_DIR, 'test-fixtures', `run-${process.pid}`);
const logDir = join(DATA_DIR, 'test-logs', 'fixtures');
let dockerd: DockerDaemon;
let docker: Docker;
let registry: Registry;
let base: BaseImages;
const builtImages: string[] = [];

beforeAll(async () => {
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const htpasswd = join(runDir, 'htpasswd');
  writeHtpasswd(htpasswd, { [USER]: PASSWORD });
  const [d, r] = await Promise.all([
    startDockerd(join(DATA_DIR, 'test-docker'), logDir),
    startRegistry({ dir: join(runDir, 'registry'), port: await freePort(), logDir, htpasswd }),
  ]);
  dockerd = d;
  registry = r;
  docker = new Docker({ socketPath: dockerd.host.replace(/^unix:\/\//, '') });
});

afterAll(async () => {
  // Leave the daemon's store as we found it (on vfs every layer is a full copy).
  if (docker) {
    for (const ref of [...builtImages, ...(base ? [base.reference] : [])]) {
      await docker
        .getImage(ref)
        .remove({ force: true })
        .catch(() => {});
    }
    await docker.pruneImages({ filters: { dangling: { true: true } } }).catch(() => {});
  }
  await Promise.all([registry?.stop(), dockerd?.stop()]);
  rmSync(runDir, { recursive: true, force: true });
});

const basicAuth = () => `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

describe('registry with htpasswd auth', () => {
  it('accepts the bcrypt login and refuses anonymous and wrong passwords', async () => {
    const url = `http://${registry.address}/v2/`;
    expect((await fetch(url, { headers: { authorization: basicAuth() } })).status).toBe(200);
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const wrong = `Basic ${Buffer.from(`${USER}:nope`).toString('base64')}`;
    expect((await fetch(url, { headers: { authorization: wrong } })).status).toBe(401);
  });

  it('writes a docker config.json the docker CLI logs in with', async () => {
    const cfgDir = join(runDir, 'docker-config');
    dockerConfig(join(cfgDir, 'config.json'), { registry: registry.address, username: USER, password: PASSWORD });
    const cfg = JSON.parse(readFileSync(join(cfgDir, 'config.json'), 'utf8'));
    expect(cfg).toEqual({
      auths: { [registry.address]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } },
    });
    if (!existsSync('/usr/bin/docker') && !existsSync('/usr/local/bin/docker')) return;
    // `docker pull` of a missing tag: with the login it gets past auth to "not found".
    const env = { ...process.env, DOCKER_HOST: dockerd.host, DOCKER_CONFIG: cfgDir };
    const err = await exec('docker', ['pull', `${registry.address}/nothing/here:1`], { env }).catch(
      (e: { stderr: string }) => e,
    );
    expect(String((err as { stderr: string }).stderr)).toMatch(/not found|manifest unknown/i);
    expect(String((err as { stderr: string }).stderr)).not.toMatch(/basic auth|unauthorized/i);
  });
});

describe('hub-less base image', () => {
  it('publishes a two-platform index, and a second call uploads nothing', async () => {
    const auth = { username: USER, password: PASSWORD };
    let t = Date.now();
    base = await ensureBaseImages({ registry: registry.address, auth });
    const first = Date.now() - t;
    expect(base.uploaded).toBe(true);
    t = Date.now();
    const again = await ensureBaseImages({ registry: registry.address, auth });
    const second = Date.now() - t;
    console.log(`ensureBaseImages: first ${first} ms, second ${second} ms`);
    expect(again.uploaded).toBe(false);
    expect(again.digest).toBe(base.digest);

    const res = await fetch(`http://${registry.address}/v2/mcp-base/busybox/manifests/latest`, {
      headers: { authorization: basicAuth(), accept: 'application/vnd.docker.distribution.manifest.list.v2+json' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(base.digest);
    const index = (await res.json()) as {
      mediaType: string;
      manifests: { digest: string; size: number; platform: { architecture: string; os: string } }[];
    };
    expect(index.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    expect(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort()).toEqual([
      'linux/amd64',
      'linux/arm64',
    ]);
    for (const m of index.manifests) {
      const child = await fetch(`http://${registry.address}/v2/mcp-base/busybox/manifests/${m.digest}`, {
        headers: { authorization: basicAuth(), accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      });
      expect(child.status).toBe(200);
      expect((await child.arrayBuffer()).byteLength).toBe(m.size);
    }
  });

  // What the product's builds rely on: the classic builder (dockerode, no BuildKit), FROM the index,
  // --pull with registry credentials, one image per platform, arm64 through qemu binfmt.
  for (const [platform, arch, uname] of [
    ['linux/arm64', 'arm64', 'aarch64'],
    ['linux/amd64', 'amd64', 'x86_64'],
  ] as const) {
    it(`builds FROM it for ${platform} with the classic builder and runs it (uname -m = ${uname})`, async () => {
      expect(base, 'base image published by the previous test').toBeDefined();
      const ctx = join(runDir, `ctx-${arch}`);
      mkdirSync(ctx, { recursive: true });
      writeFileSync(join(ctx, 'Dockerfile'), `FROM ${base.reference}\nRUN uname -m > /arch\nCMD ["cat", "/arch"]\n`);
      const tag = `fixtures-uname:${arch}-${process.pid}`;
      builtImages.push(tag);
      const t = Date.now();
      const stream = await docker.buildImage(
        { context: ctx, src: ['Dockerfile'] },
        {
          t: tag,
          platform,
          pull: true,
          version: '1',
          registryconfig: { [registry.address]: { username: USER, password: PASSWORD } },
        },
      );
      const output = await new Promise<{ stream?: string; error?: string }[]>((resolve, reject) =>
        docker.modem.followProgress(stream, (err: Error | null, out: { stream?: string; error?: string }[]) =>
          err ? reject(err) : resolve(out),
        ),
      );
      const failed = output.find((o) => o.error);
      expect(failed?.error, output.map((o) => o.stream ?? o.error ?? '').join('')).toBeUndefined();
      console.log(`build ${platform}: ${Date.now() - t} ms`);

      const info = await docker.getImage(tag).inspect();
      expect(info.Architecture).toBe(arch);
      expect(info.Os).toBe('linux');

      const container = await docker.createContainer({
        Image: tag,
        Cmd: ['cat', '/arch'],
        HostConfig: { NetworkMode: 'none' },
        platform,
      } as Docker.ContainerCreateOptions);
      try {
        await container.start();
        const { StatusCode } = (await container.wait()) as { StatusCode: number };
        const logs = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
        expect(StatusCode).toBe(0);
        expect(demux(logs).trim()).toBe(uname);
      } finally {
        await container.remove({ force: true });
      }
    });
  }

  it('has no node or python base images: there is no image hub here', async () => {
    // Product code and tests must build FROM the local base image, never FROM node/python.
    for (const ref of ['node:20-alpine', 'python:3.12-slim']) {
      await expect(docker.getImage(ref).inspect()).rejects.toThrow();
      const pull = docker
        .pull(ref)
        .then(
          (s: NodeJS.ReadableStream) =>
            new Promise((resolve, reject) =>
              docker.modem.followProgress(s, (err: Error | null, out: unknown) => (err ? reject(err) : resolve(out))),
            ),
        );
      await expect(pull).rejects.toThrow(/registry-1\.docker\.io|no such host|lookup|dial tcp|timeout/i);
    }
  });
});

describe('fault proxy (in front of the registry)', () => {
  it('passes, resets the next request, then passes again; down and refuse fail every request', async () => {
    const [host, port] = registry.address.split(':');
    const proxy = await startFaultProxy({ target: { host, port: Number(port) } });
    const get = () =>
      fetch(`http://${proxy.address}/v2/`, { headers: { authorization: basicAuth() } }).then((r) => r.status);
    try {
      expect(await get()).toBe(200);
      expect(proxy.connections.forwarded).toBe(1);

      proxy.setMode('reset-next');
      await expect(get()).rejects.toThrow();
      expect(proxy.connections.reset).toBe(1);
      expect(proxy.mode).toBe('pass');
      expect(await get()).toBe(200);

      proxy.setMode('reset-next', 2);
      await expect(get()).rejects.toThrow();
      await expect(get()).rejects.toThrow();
      expect(await get()).toBe(200);
      expect(proxy.connections.reset).toBe(3);

      for (const mode of ['down', 'refuse'] as const) {
        proxy.setMode(mode);
        const before = proxy.connections.refused;
        await expect(get()).rejects.toThrow();
        await expect(get()).rejects.toThrow();
        expect(proxy.connections.refused).toBeGreaterThanOrEqual(before + 2);
      }
      proxy.setMode('pass');
      expect(await get()).toBe(200);
      expect(proxy.connections.accepted).toBeGreaterThanOrEqual(
        proxy.connections.forwarded + proxy.connections.refused,
      );
    } finally {
      await proxy.stop();
    }
  });
});

describe('git fixture', () => {
  it('serves repositories over git:// for shallow clones of a branch, and through the fault proxy', async () => {
    const reposDir = join(runDir, 'git');
    const repo = await createGitRepo({
      dir: join(reposDir, 'hello-mcp'),
      files: { Dockerfile: 'FROM scratch\n', 'src/index.js': 'console.log(1)\n' },
    });
    expect(repo.revision).toMatch(/^[0-9a-f]{40}$/);
    const daemon = await startGitDaemon({
      baseDir: reposDir,
      port: await freePort(),
      logFile: join(logDir, 'git-daemon.log'),
    });
    const proxy = await startFaultProxy({ target: { port: daemon.port } });
    try {
      const url = daemon.url(repo);
      expect(url).toBe(`git://127.0.0.1:${daemon.port}/hello-mcp`);
      const clone = async (dest: string, from = url) => {
        rmSync(dest, { recursive: true, force: true });
        await exec('git', ['clone', '-q', '--depth', '1', '--branch', 'main', from, dest], {
          env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
        });
        return git(dest, 'rev-parse', 'HEAD');
      };
      const dest = join(runDir, 'clone');
      expect(await clone(dest)).toBe(repo.revision);
      expect(readFileSync(join(dest, 'src/index.js'), 'utf8')).toBe('console.log(1)\n');

      const first = repo.revision;
      const next = await commit(repo, { 'src/index.js': 'console.log(2)\n', Dockerfile: null }, 'second');
      expect(next).not.toBe(first);
      expect(repo.revision).toBe(next);
      expect(await clone(dest)).toBe(next);
      expect(existsSync(join(dest, 'Dockerfile'))).toBe(false);
      expect(await git(dest, 'rev-list', '--count', 'HEAD')).toBe('1'); // shallow

      // Read-only: pushing is refused (receive-pack is not enabled).
      await expect(exec('git', ['-C', dest, 'push', url, 'HEAD:main'])).rejects.toThrow();

      const viaProxy = `git://${proxy.address}/hello-mcp`;
      expect(await clone(dest, viaProxy)).toBe(next);
      proxy.setMode('reset-next');
      await expect(clone(dest, viaProxy)).rejects.toThrow();
      expect(await clone(dest, viaProxy)).toBe(next);
    } finally {
      await proxy.stop();
      await daemon.stop();
    }
  });
});

/** stdout+stderr of a non-TTY container: 8-byte frame headers (stream, 0, 0, 0, size BE32) + payload. */
function demux(buf: Buffer): string {
  let out = '';
  for (let i = 0; i + 8 <= buf.length;) {
    const size = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + size).toString();
    i += 8 + size;
  }
  return out;
}
