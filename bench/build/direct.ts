// The baseline: what mcp-host does for a 2-platform build, done by hand with git, the docker CLI and
// curl — shallow clone, one classic `docker build --pull` per platform (in parallel lanes, each
// pushing as soon as its build is done, as mcp-host's lanes do), then a manifest list PUT by curl.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export interface DirectTarget {
  dockerHost: string;
  /** Folder with config.json carrying the registry login. */
  dockerConfigDir: string;
  /** host:port, plain HTTP. */
  registryHost: string;
  username: string;
  password: string;
  /** `host:port/repo:tag` as the Dockerfile's FROM names it (a multi-arch index). */
  baseReference: string;
  /** Where clones go; one folder per build. */
  workDir: string;
}

export interface DirectResult {
  /** Registry repository (no host), e.g. `bench/direct`. */
  repository: string;
  /** Digest of the manifest list under :latest. */
  digest: string;
  platforms: { platform: string; digest: string; size: number; mediaType: string; tag: string }[];
}

const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
];
const INDEX_TYPES = [
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
];
const OCI_MANIFEST = MANIFEST_TYPES[1]!;

/** Runs a command; resolves with stdout, rejects with the tail of stderr. */
export function sh(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `${command} ${args.slice(0, 3).join(' ')}… exited ${code}: ${(err || out).trim().split('\n').slice(-5).join(' | ')}`,
          ),
        );
    });
    // A command that exits without reading its input (docker ps) closes the pipe first: its exit code says how it went.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** `linux/arm64` → `linux_arm64`, as mcp-host names its per-platform tags. */
export const slug = (platform: string) => platform.replaceAll('/', '_');

/** Response headers of a `curl -D -` dump (the last response's, lower-cased names). */
function headersOf(dump: string): Record<string, string> {
  const last =
    dump
      .trim()
      .split(/\r?\n\r?\n/)
      .at(-1) ?? '';
  return Object.fromEntries(
    last
      .split(/\r?\n/)
      .slice(1)
      .map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
}

export function directEnv(t: DirectTarget): NodeJS.ProcessEnv {
  // DOCKER_BUILDKIT=0: the classic builder, which is what mcp-host drives through the Engine API.
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DOCKER_HOST: t.dockerHost,
    DOCKER_CONFIG: t.dockerConfigDir,
    DOCKER_BUILDKIT: '0',
  };
}

/**
 * One full build+push+manifest of `repoUrl`'s `branch` for `platforms`. Everything inside is the
 * measured work; `label` only names the clone folder.
 */
export async function directBuild(
  t: DirectTarget,
  opts: {
    repoUrl: string;
    branch: string;
    platforms: string[];
    noCache: boolean;
    label: string;
    repository?: string;
    /** Filled with each step's milliseconds, for the bench's step table. */
    steps?: Map<string, number>;
  },
): Promise<DirectResult> {
  const env = directEnv(t);
  const time = async <T>(step: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      opts.steps?.set(step, performance.now() - t0);
    }
  };
  const repository = opts.repository ?? 'bench/direct';
  const dir = join(t.workDir, opts.label);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(t.workDir, { recursive: true });
  // curl reads the login from a config file: no password on any command line.
  const curlrc = join(t.workDir, 'curl-auth');
  writeFileSync(curlrc, `user = "${t.username}:${t.password}"\n`, { mode: 0o600 });
  const curl = (args: string[], input?: string) => sh('curl', ['-sS', '--fail', '-K', curlrc, ...args], { input });
  const registry = `http://${t.registryHost}/v2`;

  await time('git clone', () =>
    sh('git', ['clone', '--quiet', '--depth', '1', '--branch', opts.branch, '--', opts.repoUrl, dir], { env }),
  );

  // Parallel classic builds resolve FROM through the daemon's one local tag, which the other
  // platform's pull re-points (an arm64 build can end up FROM the amd64 image); mcp-host pins FROM
  // to each platform's digest for that reason, and so must anyone running the builds side by side.
  const baseRepo = t.baseReference.slice(t.registryHost.length + 1, t.baseReference.lastIndexOf(':'));
  const baseTag = t.baseReference.slice(t.baseReference.lastIndexOf(':') + 1);
  const index = JSON.parse(
    await time('curl GET base index', () =>
      curl(['-H', `Accept: ${INDEX_TYPES.join(', ')}`, `${registry}/${baseRepo}/manifests/${baseTag}`]),
    ),
  ) as { manifests: { digest: string; platform: { os: string; architecture: string } }[] };
  const dockerfile = readFileSync(join(dir, 'Dockerfile'), 'utf8');

  const platforms = await Promise.all(
    opts.platforms.map(async (platform) => {
      const [os, architecture] = platform.split('/');
      const entry = index.manifests.find((m) => m.platform.os === os && m.platform.architecture === architecture);
      if (!entry) throw new Error(`base image ${t.baseReference} has no ${platform} manifest`);
      const pinnedFile = `Dockerfile.${slug(platform)}`;
      writeFileSync(
        join(dir, pinnedFile),
        dockerfile.replaceAll(t.baseReference, `${t.registryHost}/${baseRepo}@${entry.digest}`),
      );

      const tag = `latest-${slug(platform)}`;
      const image = `${t.registryHost}/${repository}:${tag}`;
      await time(`docker build ${platform}`, () =>
        sh(
          'docker',
          [
            'build',
            '--quiet',
            '--platform',
            platform,
            '--pull',
            ...(opts.noCache ? ['--no-cache'] : []),
            '-f',
            join(dir, pinnedFile),
            '-t',
            image,
            dir,
          ],
          { env },
        ),
      );
      await time(`docker push ${platform}`, () => sh('docker', ['push', '--quiet', image], { env }));

      // What the registry now holds under the tag: digest, size and media type for the list entry.
      const head = headersOf(
        await time(`curl HEAD ${platform}`, () =>
          curl(['-I', '-H', `Accept: ${MANIFEST_TYPES.join(', ')}`, `${registry}/${repository}/manifests/${tag}`]),
        ),
      );
      const digest = head['docker-content-digest'];
      if (!digest) throw new Error(`registry gave no digest for ${image}`);
      return {
        platform,
        digest,
        size: Number(head['content-length']),
        mediaType: head['content-type']!.split(';')[0]!,
        tag,
      };
    }),
  );

  // An OCI index when every entry is an OCI manifest, else a Docker manifest list (as mcp-host).
  const oci = platforms.every((p) => p.mediaType === OCI_MANIFEST);
  const listType = oci ? INDEX_TYPES[1]! : INDEX_TYPES[0]!;
  const list = {
    schemaVersion: 2,
    mediaType: listType,
    manifests: platforms.map((p) => {
      const [os, architecture] = p.platform.split('/');
      return { mediaType: p.mediaType, digest: p.digest, size: p.size, platform: { os, architecture } };
    }),
  };
  const put = headersOf(
    await time('curl PUT list', () =>
      curl(
        [
          '-X',
          'PUT',
          '-D',
          '-',
          '-o',
          '/dev/null',
          '-H',
          `Content-Type: ${listType}`,
          '--data-binary',
          '@-',
          `${registry}/${repository}/manifests/latest`,
        ],
        JSON.stringify(list),
      ),
    ),
  );
  const digest = put['docker-content-digest'];
  if (!digest) throw new Error('registry gave no digest for the manifest list');
  return { repository, digest, platforms };
}
