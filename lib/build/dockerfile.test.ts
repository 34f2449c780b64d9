import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromImages } from './base-pinning.js';
import {
  consoleScript,
  detectProjectKind,
  exposesMcpPort,
  generateDockerfile,
  GenerateError,
  NPM_REBUILD_ON_TARGET,
  packageDockerfile,
  type BaseImages,
} from './dockerfile.js';

const BASE: BaseImages = {
  node: 'registry.local/base/node:24',
  python: 'registry.local/base/python:3.12',
  go: 'registry.local/base/go:1.25',
  static: 'registry.local/base/busybox:latest',
};
const opts = {};

describe('detecting the project', () => {
  it('detects Node before Python before Go, and nothing else', () => {
    expect(detectProjectKind(['package.json', 'requirements.txt'])).toBe('node');
    expect(detectProjectKind(['pyproject.toml', 'go.mod'])).toBe('python');
    expect(detectProjectKind(['requirements.txt'])).toBe('python');
    expect(detectProjectKind(['go.mod', 'main.go'])).toBe('go');
    expect(detectProjectKind(['Cargo.toml'])).toBeUndefined();
  });
});

describe('generated Dockerfiles for git projects', () => {
  it('Node (npm): build on the build platform, production dependencies installed for the target, rebuilt there', () => {
    const g = generateDockerfile(
      'node',
      {
        files: ['package.json', 'package-lock.json', 'src', 'tsconfig.json'],
        packageJson: { bin: { 'my-server': './dist/index.js' }, scripts: { build: 'tsc' } },
      },
      BASE,
      opts,
    );
    const lines = g.dockerfile.split('\n');
    expect(lines.filter((l) => l.startsWith('FROM '))).toEqual([
      `FROM --platform=$BUILDPLATFORM ${BASE.node} AS build`,
      `FROM --platform=$BUILDPLATFORM ${BASE.node} AS deps`,
      `FROM ${BASE.node}`,
    ]);
    // BUILDPLATFORM is an ARG before the first FROM, or the classic builder cannot expand it there.
    expect(lines.indexOf('ARG BUILDPLATFORM')).toBeLessThan(lines.findIndex((l) => l.startsWith('FROM ')));
    // Dev dependencies and the build step, then the build platform's node_modules dropped.
    expect(lines).toContain('RUN npm ci --no-audit --no-fund && npm run build && rm -rf node_modules');
    // The target's production dependencies from the manifests alone (reused until they change).
    const deps = lines.indexOf(`FROM --platform=$BUILDPLATFORM ${BASE.node} AS deps`);
    expect(lines.slice(deps + 1, deps + 5)).toEqual([
      'ARG npm_config_registry TARGETOS=linux TARGETARCH',
      'WORKDIR /app',
      'COPY package.json package-lock.json ./',
      expect.stringMatching(
        /^RUN mkdir -p node_modules && npm ci --omit=dev .*--ignore-scripts --os=\$TARGETOS --cpu=/,
      ),
    ]);
    const runtime = lines.indexOf(`FROM ${BASE.node}`);
    expect(lines.slice(runtime + 3, runtime + 6)).toEqual([
      'COPY --from=build /app /app',
      'COPY --from=deps /app/node_modules /app/node_modules',
      NPM_REBUILD_ON_TARGET,
    ]);
    expect(g.dockerfile).toContain('ENTRYPOINT ["node","/app/dist/index.js"]');
    expect(g.dockerfile).toContain('LABEL "io.mcp-host.transport"="stdio"');
    expect(g.transport).toBe('stdio');
    expect(g.summary).toBe('node, npm, npm run build, bin dist/index.js');
    expect(exposesMcpPort(g.dockerfile)).toBe(false);
    // Pinned per stage: the build and deps stages for the build platform, the runtime for the target.
    expect(fromImages(g.dockerfile, { BUILDPLATFORM: 'linux/amd64' }).map((f) => f.platform)).toEqual([
      'linux/amd64',
      'linux/amd64',
      undefined,
    ]);
  });

  it('Node (npm): no lockfile installs; workspaces copy the whole project into the deps stage', () => {
    const plain = generateDockerfile('node', { files: ['package.json'], packageJson: { bin: 'x.js' } }, BASE, opts);
    expect(plain.dockerfile).toContain('RUN npm install --no-audit --no-fund && rm -rf node_modules');
    expect(plain.dockerfile).toMatch(/^COPY package\.json \.\/$/m);
    expect(plain.dockerfile).toMatch(/^RUN mkdir -p node_modules && npm install --omit=dev /m);
    const ws = generateDockerfile(
      'node',
      { files: ['package.json', 'package-lock.json', '.npmrc'], packageJson: { bin: 'x.js', workspaces: ['pkgs/*'] } },
      BASE,
      opts,
    );
    expect(ws.dockerfile).toMatch(/AS deps\n.*\nWORKDIR \/app\nCOPY \. \.\/\n/);
  });

  it('Node: pnpm and yarn from their lockfiles; start script serves Streamable HTTP; no build step when none', () => {
    const pnpm = generateDockerfile(
      'node',
      { files: ['package.json', 'pnpm-lock.yaml'], packageJson: { scripts: { start: 'node server.js' } } },
      BASE,
      opts,
    );
    expect(pnpm.dockerfile).toContain('pnpm@9 -- install --frozen-lockfile');
    // No cross-install with pnpm or yarn: everything runs on the target's base.
    expect(pnpm.dockerfile).not.toContain('$BUILDPLATFORM');
    expect(pnpm.dockerfile).toContain('pnpm@9 -- prune --prod');
    expect(pnpm.dockerfile).not.toContain('run build');
    expect(pnpm.dockerfile).toContain('ENTRYPOINT ["npm","start"]');
    expect(pnpm.transport).toBe('streamable-http');
    expect(exposesMcpPort(pnpm.dockerfile)).toBe(true);
    const yarn = generateDockerfile(
      'node',
      { files: ['package.json', 'yarn.lock'], packageJson: { bin: 'cli.js' } },
      BASE,
      { ...opts, transport: 'streamable-http' },
    );
    expect(yarn.dockerfile).toContain('yarn@1 -- install --frozen-lockfile');
    expect(yarn.transport).toBe('streamable-http');
  });

  it('Node: refuses a project with nothing to run, and a bin outside the project', () => {
    expect(() => generateDockerfile('node', { files: ['package.json'], packageJson: {} }, BASE, opts)).toThrow(
      GenerateError,
    );
    expect(() =>
      generateDockerfile('node', { files: ['package.json'], packageJson: { bin: '../../etc/x' } }, BASE, opts),
    ).toThrow(/neither a "bin" nor a "start"/);
  });

  it('Python: pyproject installs the project into a venv and runs its console script', () => {
    const pyproject = '[project]\nname = "weather"\n\n[project.scripts]\nweather-mcp = "weather:main"\n';
    expect(consoleScript(pyproject)).toBe('weather-mcp');
    const g = generateDockerfile('python', { files: ['pyproject.toml'], pyproject }, BASE, opts);
    expect(g.dockerfile).toContain('/venv/bin/pip install --no-cache-dir .');
    expect(g.dockerfile).toContain('ENTRYPOINT ["/venv/bin/weather-mcp"]');
    const req = generateDockerfile('python', { files: ['requirements.txt', 'server.py'] }, BASE, opts);
    expect(req.dockerfile).toContain('-r requirements.txt');
    expect(req.dockerfile).toContain('ENTRYPOINT ["/venv/bin/python","/app/server.py"]');
    expect(() => generateDockerfile('python', { files: ['requirements.txt'] }, BASE, opts)).toThrow(GenerateError);
  });

  it('Go: the toolchain runs on the build platform and cross-compiles a static binary onto the minimal base', () => {
    const g = generateDockerfile('go', { files: ['go.mod', 'cmd'], goCommands: ['server'] }, BASE, opts);
    // BUILDPLATFORM is an ARG before the first FROM, or the classic builder cannot expand it there.
    expect(g.dockerfile).toMatch(
      new RegExp(`^ARG BUILDPLATFORM\nFROM --platform=\\$BUILDPLATFORM ${BASE.go} AS build$`, 'm'),
    );
    expect(g.dockerfile).toContain('CGO_ENABLED=0');
    expect(g.dockerfile).toMatch(/GOARCH=\$TARGETARCH go build .* \.\/cmd\/server$/m);
    expect(g.dockerfile).toContain(`FROM ${BASE.static}`);
    // The toolchain is pinned for the build platform, the runtime base for the target.
    expect(fromImages(g.dockerfile, { BUILDPLATFORM: 'linux/amd64' }).map((f) => f.platform)).toEqual([
      'linux/amd64',
      undefined,
    ]);
    expect(() => generateDockerfile('go', { files: ['go.mod'], goCommands: ['a', 'b'] }, BASE, opts)).toThrow(
      /several commands/,
    );
  });
});

describe('generated Dockerfiles for package sources', () => {
  it('npm: exactly the resolved version, its bin, args as CMD, env, stdio', () => {
    const d = packageDockerfile(
      {
        type: 'npm',
        name: '@modelcontextprotocol/server-memory',
        version: '2026.8.31',
        bin: 'dist/index.js',
        args: ['--flag'],
        env: { MEMORY_FILE_PATH: '/tmp/memory.json' },
      },
      BASE,
      opts,
    );
    expect(d).toContain('"dependencies":{"@modelcontextprotocol/server-memory":"2026.8.31"}');
    // Installed on the build platform for the target's platform packages; rebuilt there only with install scripts.
    expect(d).toContain(`FROM --platform=$BUILDPLATFORM ${BASE.node} AS build`);
    expect(d).toMatch(/npm install .*--ignore-scripts --os=\$TARGETOS --cpu=/);
    expect(d.split('\n')).toContain(NPM_REBUILD_ON_TARGET);
    expect(d).toContain('ENTRYPOINT ["node","/app/node_modules/@modelcontextprotocol/server-memory/dist/index.js"]');
    expect(d).toContain('CMD ["--flag"]');
    expect(d).toContain('ENV MEMORY_FILE_PATH="/tmp/memory.json"');
    expect(d).toContain('LABEL "io.mcp-host.transport"="stdio"');
  });

  // PyPI is not reachable from this machine: the pypi path is covered here, by its Dockerfile.
  it('pypi: pip installs name==version into a venv and runs the console script', () => {
    const d = packageDockerfile(
      { type: 'pypi', name: 'mcp-server-fetch', version: '2025.4.7', script: 'mcp-server-fetch' },
      BASE,
      opts,
    );
    expect(d).toMatch(new RegExp(`^FROM ${BASE.python.replace(/\./g, '\\.')} AS build$`, 'm'));
    expect(d).toContain('ARG PIP_INDEX_URL');
    expect(d).toContain('/venv/bin/pip install --no-cache-dir "mcp-server-fetch==2025.4.7"');
    expect(d).toContain('ENTRYPOINT ["/venv/bin/mcp-server-fetch"]');
    expect(d).toContain('LABEL "io.mcp-host.transport"="stdio"');
  });

  it('go: go install module@version through GOPROXY, cross-compiled, static', () => {
    const d = packageDockerfile({ type: 'go', module: 'github.com/a/b/cmd/server', version: 'v1.2.1' }, BASE, opts);
    expect(d).toMatch(/^ARG .*\bGOPROXY\b/m);
    expect(d).toContain(`FROM --platform=$BUILDPLATFORM ${BASE.go} AS build`);
    expect(d).toContain('go install -trimpath -ldflags="-s -w" github.com/a/b/cmd/server@v1.2.1');
    expect(d).toContain('ENTRYPOINT ["/usr/local/bin/mcp-server"]');
  });
});

describe('the MCP port', () => {
  it.each([
    ['EXPOSE 8080', true],
    ['  expose 8080/tcp', true],
    ['EXPOSE 3000 8080', true],
    ['EXPOSE 80800', false],
    ['# EXPOSE 8080', false],
    ['EXPOSE 3000', false],
  ])('%j exposes the MCP port: %s', (line, expected) => expect(exposesMcpPort(`FROM x\n${line}\n`)).toBe(expected));
});

describe('the rebuild on the target platform', () => {
  // The step's own shell, in a directory shaped as /app, with an `npm` that records what it was asked.
  const runStep = (packages: Record<string, object> | undefined) => {
    const dir = mkdtempSync(join(tmpdir(), 'rebuild-'));
    try {
      mkdirSync(join(dir, 'node_modules'));
      mkdirSync(join(dir, 'bin'));
      if (packages)
        writeFileSync(
          join(dir, 'node_modules/.package-lock.json'),
          JSON.stringify({ name: 'app', lockfileVersion: 3, packages }, null, 2),
        );
      writeFileSync(join(dir, 'bin/npm'), '#!/bin/sh\necho "npm called: $*"\n', { mode: 0o755 });
      return execFileSync('sh', ['-c', NPM_REBUILD_ON_TARGET.replace(/^RUN /, '')], {
        cwd: dir,
        env: { PATH: `${join(dir, 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin` },
        encoding: 'utf8',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('rebuilds by name only the packages with install scripts, nested ones once', () => {
    const out = runStep({
      'node_modules/esbuild': { version: '0.25.10', hasInstallScript: true },
      'node_modules/@esbuild/linux-arm64': { version: '0.25.10', optional: true },
      'node_modules/zod': { version: '3.25.76' },
      'node_modules/a/node_modules/esbuild': { version: '0.24.0', hasInstallScript: true },
      'node_modules/@scope/native': { version: '1.0.0', hasInstallScript: true },
    });
    expect(out).toMatch(/^npm rebuild on \S+, install scripts of: esbuild @scope\/native$/m);
    expect(out).toMatch(/^npm called: rebuild --no-audit --no-fund esbuild @scope\/native$/m);
  });

  it('skips the rebuild when no package has install scripts, or nothing is installed', () => {
    for (const packages of [{ 'node_modules/zod': { version: '3.25.76' } }, undefined]) {
      const out = runStep(packages);
      expect(out).toMatch(/^npm rebuild skipped on \S+: no install scripts$/m);
      expect(out).not.toContain('npm called');
    }
  });
});
