import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Temporal's native worker does not run inside worker threads (sdk-typescript#876).
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{lib,api,gateway,workflows,activities,cli,test}/**/*.test.ts'],
          exclude: ['test/integration/**', 'test/chaos/**', 'test/conformance/**', 'node_modules/**'],
          // The workflow tests' Temporal dev server and workflow bundle, shared by all their files.
          globalSetup: ['workflows/test-support/global-setup.ts'],
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.int.test.ts'],
          exclude: ['test/integration/builds-multiarch.int.test.ts', 'node_modules/**'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 240_000,
          // One stack per run; files run one after another on this 2-core machine.
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          // npm run test:multiarch: real Go, npm and Python servers built for amd64 and arm64 on the
          // published bases (over 30 minutes on 2 cores, most of it arm64 RUN steps under qemu), kept
          // out of npm test so that it stays inside CI's time; run it when builds or bases change.
          name: 'multiarch',
          include: ['test/integration/builds-multiarch.int.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 900_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          // npm run test:conformance: the MCP conformance suite against examples/conformance-mcp, no stack.
          name: 'conformance',
          include: ['test/conformance/**/*.conformance.test.ts'],
          testTimeout: 300_000,
        },
      },
      {
        extends: true,
        test: {
          // npm run test:chaos: its own stack (it kills Temporal and Postgres), after the integration run.
          name: 'chaos',
          include: ['test/chaos/**/*.chaos.test.ts'],
          testTimeout: 900_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
