// buildAndPublish, the real workflow code on a Temporal dev server with fake activities: one build
// per platform, fail-fast, pushes retried after a credential refresh, the ledger row closed once.
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Context } from '@temporalio/activity';
import { ErrorType } from '../lib/errors.js';
import type { BuildInput } from './build-and-publish.messages.js';
import { buildUntilCancelled, fakeBuildActivities, pushedPlatform } from './test-support/fake-activities.js';
import { saveHistory } from '../test/support/histories.js';
import { startBuild } from './test-support/starts.js';
import {
  createWorkflowEnv,
  eventually,
  freshId,
  freshRevision,
  workflowFailure,
  type WorkflowEnv,
} from './test-support/workflow-env.js';

let env: WorkflowEnv;
beforeAll(async () => {
  env = await createWorkflowEnv();
});
afterAll(() => env?.close());

const buildInput = (): BuildInput => ({
  serverId: freshId(),
  repository: 'https://example.com/echo.git',
  branch: 'main',
  revision: freshRevision(),
});
const platformsOf = (calls: [{ platform: string }][]) => calls.map(([input]) => input.platform);

describe.concurrent('buildAndPublish', () => {
  it('builds and pushes every platform, publishes the manifest list in configured order, and closes the run succeeded', async () => {
    const targets = ['linux/amd64', 'linux/arm64', 'linux/arm/v7'];
    const { activities, ledger } = fakeBuildActivities({ targets, parallelism: 3 }, 51);
    // Pushes finish in the reverse order of the targets.
    activities.pushPlatformImage.mockImplementation(async ({ platform }) => {
      await new Promise((r) => setTimeout(r, 40 * (targets.length - targets.indexOf(platform))));
      return pushedPlatform(platform);
    });
    const input = buildInput();
    await env.run(activities, async (taskQueue) => {
      const result = await (await startBuild(env.client, taskQueue, input)).result();
      expect(result).toEqual({
        runId: 51,
        revision: input.revision,
        localImage: `mcp-custom-${input.serverId}`,
        registryImage: `127.0.0.1:5000/mcp-custom-${input.serverId}:latest`,
        manifestDigest: `sha256:${'cd'.repeat(32)}`,
        platforms: targets,
      });
      expect(platformsOf(activities.pushPlatformImage.mock.calls).sort()).toEqual([...targets].sort());
      expect(activities.publishManifestList.mock.calls[0]![0].platforms.map((p) => p.platform)).toEqual(targets);
      expect(ledger.completed).toMatchObject({
        runId: 51,
        status: 'succeeded',
        manifestDigest: `sha256:${'cd'.repeat(32)}`,
      });
      expect(activities.completeBuildRun).toHaveBeenCalledTimes(1);
      // No credential was refreshed: the cluster's pull secret is left alone.
      expect(activities.syncRegistryPullSecret).not.toHaveBeenCalled();
    });
  });

  it("one platform's failed build cancels the others: nothing is pushed and the run fails as BuildFailed", async () => {
    const { activities, ledger } = fakeBuildActivities({
      targets: ['linux/amd64', 'linux/arm64', 'linux/riscv64'],
      parallelism: 2,
    });
    const cancelled = buildUntilCancelled(ledger);
    activities.buildPlatformImage.mockImplementation(async (input) => {
      if (input.platform !== 'linux/arm64') return cancelled(input);
      // Fails once the other build is under way, so there is something to cancel.
      await eventually(() => expect(activities.buildPlatformImage).toHaveBeenCalledTimes(2));
      throw ApplicationFailure.nonRetryable('RUN npm ci exited with code 1', ErrorType.BuildFailed);
    });
    await env.run(activities, async (taskQueue) => {
      const failure = await workflowFailure((await startBuild(env.client, taskQueue, buildInput())).result());
      expect(failure.type).toBe(ErrorType.BuildFailed);
      expect(failure.message).toBe('build failed: RUN npm ci exited with code 1');

      // The build under way was stopped (and waited for) before the run was closed; the third never started.
      expect(ledger.cancelledWhenClosed).toEqual(['linux/amd64']);
      expect(platformsOf(activities.buildPlatformImage.mock.calls).sort()).toEqual(['linux/amd64', 'linux/arm64']);
      expect(activities.pushPlatformImage).not.toHaveBeenCalled();
      expect(activities.publishManifestList).not.toHaveBeenCalled();
      expect(ledger.completed).toMatchObject({
        status: 'failed',
        failureReason: 'RUN npm ci exited with code 1',
        manifestDigest: null,
      });
      expect(activities.completeBuildRun).toHaveBeenCalledTimes(1);
      // A failed build is not retried.
      expect(activities.buildPlatformImage.mock.calls.filter(([i]) => i.platform === 'linux/arm64')).toHaveLength(1);
    });
  });

  it('a push refused for expired credentials refreshes them and is retried; the pull secret follows', async () => {
    const { activities, ledger } = fakeBuildActivities({ targets: ['linux/amd64', 'linux/arm64'], pushRetries: 3 });
    activities.pushPlatformImage.mockImplementation(async ({ platform }) => {
      // The activity refreshed the credentials after a 401 and asks for another attempt.
      if (platform === 'linux/arm64' && Context.current().info.attempt === 1) {
        throw ApplicationFailure.retryable(
          'registry authentication expired: unauthorized',
          ErrorType.RegistryAuthRefreshed,
        );
      }
      return pushedPlatform(
        platform,
        platform === 'linux/arm64' ? { authRefreshAttempted: true, authRefreshSucceeded: true } : {},
      );
    });
    const input = buildInput();
    await env.run(activities, async (taskQueue) => {
      await (await startBuild(env.client, taskQueue, input)).result();
      expect(platformsOf(activities.pushPlatformImage.mock.calls).sort()).toEqual([
        'linux/amd64',
        'linux/arm64',
        'linux/arm64',
      ]);
      expect(ledger.completed).toMatchObject({ status: 'succeeded' });
      expect(ledger.completed!.platforms.find((p) => p.platform === 'linux/arm64')).toMatchObject({
        authRefreshAttempted: true,
        authRefreshSucceeded: true,
      });
      expect(activities.syncRegistryPullSecret).toHaveBeenCalledWith({
        trigger: 'build',
        serverId: input.serverId,
        runId: ledger.runId,
      });
    });
  });

  it('a push whose credentials cannot be refreshed is not retried: the run fails and nothing is published', async () => {
    const { activities, ledger } = fakeBuildActivities({ targets: ['linux/amd64'], parallelism: 1, pushRetries: 5 });
    activities.pushPlatformImage.mockRejectedValue(
      ApplicationFailure.nonRetryable(
        'registry authentication expired: unauthorized; auth refresh failed: helper exited 1',
        ErrorType.RegistryAuthExpired,
      ),
    );
    await env.run(activities, async (taskQueue) => {
      const failure = await workflowFailure((await startBuild(env.client, taskQueue, buildInput())).result());
      expect(failure.type).toBe(ErrorType.BuildFailed);
      expect(failure.message).toContain('auth refresh failed: helper exited 1');
      expect(activities.pushPlatformImage).toHaveBeenCalledTimes(1);
      expect(activities.publishManifestList).not.toHaveBeenCalled();
      expect(ledger.completed).toMatchObject({ status: 'failed' });
    });
  });

  it('removes the checkout, tags the local alias and publishes the manifest list side by side', async () => {
    const { activities, ledger } = fakeBuildActivities();
    // Each of the three waits until all three have started: done one after another, the first would
    // wait in vain and fail the build.
    const started = new Set<string>();
    let allStarted = () => {};
    const all = new Promise<void>((resolve) => (allStarted = resolve));
    const together = async (name: string) => {
      started.add(name);
      if (started.size === 3) allStarted();
      const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`${name} ran alone`)), 5_000));
      await Promise.race([all, timeout]);
    };
    activities.removeCheckout.mockImplementation(() => together('removeCheckout'));
    activities.tagLocalAlias.mockImplementation(() => together('tagLocalAlias'));
    const published = activities.publishManifestList.getMockImplementation()!;
    activities.publishManifestList.mockImplementation(async (input) => {
      await together('publishManifestList');
      return published(input);
    });
    const input = buildInput();
    await env.run(activities, async (taskQueue) => {
      const handle = await startBuild(env.client, taskQueue, input);
      await handle.result();
      expect([...started].sort()).toEqual(['publishManifestList', 'removeCheckout', 'tagLocalAlias']);
      expect(ledger.completed).toMatchObject({ status: 'succeeded', manifestDigest: `sha256:${'cd'.repeat(32)}` });
      saveHistory(await handle.fetchHistory(), handle.workflowId, 'build-and-publish-parallel-finish', env.codec);
    });
  });

  it('a local alias that cannot be tagged leaves the build succeeded with its manifest list published', async () => {
    const { activities, ledger } = fakeBuildActivities();
    activities.tagLocalAlias.mockRejectedValue(ApplicationFailure.nonRetryable('no such image', 'DockerError'));
    const input = buildInput();
    await env.run(activities, async (taskQueue) => {
      const handle = await startBuild(env.client, taskQueue, input);
      const result = await handle.result();
      expect(result.manifestDigest).toBe(`sha256:${'cd'.repeat(32)}`);
      expect(activities.publishManifestList).toHaveBeenCalledTimes(1);
      // The activity is told the run, so its failure is in the build's log.
      expect(activities.tagLocalAlias.mock.calls[0]![0]).toMatchObject({ runId: ledger.runId });
      expect(ledger.completed).toMatchObject({ status: 'succeeded', manifestDigest: `sha256:${'cd'.repeat(32)}` });
      expect(activities.completeBuildRun).toHaveBeenCalledTimes(1);
      saveHistory(
        await handle.fetchHistory(),
        handle.workflowId,
        'build-and-publish-alias-failed-published',
        env.codec,
      );
    });
  });

  it('without a registry a local alias that cannot be tagged fails the build: the alias is its artifact', async () => {
    const { activities, ledger } = fakeBuildActivities({ registry: null });
    activities.tagLocalAlias.mockRejectedValue(ApplicationFailure.nonRetryable('no such image', 'DockerError'));
    await env.run(activities, async (taskQueue) => {
      const failure = await workflowFailure((await startBuild(env.client, taskQueue, buildInput())).result());
      expect(failure.message).toBe('build failed: no such image');
      expect(ledger.completed).toMatchObject({ status: 'failed', failureReason: 'no such image' });
    });
  });

  it('without a registry it builds only: nothing is pushed or published', async () => {
    const { activities, ledger } = fakeBuildActivities({ registry: null });
    const input = buildInput();
    await env.run(activities, async (taskQueue) => {
      const result = await (await startBuild(env.client, taskQueue, input)).result();
      expect(result).toMatchObject({
        registryImage: null,
        manifestDigest: null,
        localImage: `mcp-custom-${input.serverId}`,
      });
      expect(activities.buildPlatformImage).toHaveBeenCalledTimes(2);
      expect(activities.pushPlatformImage).not.toHaveBeenCalled();
      expect(activities.publishManifestList).not.toHaveBeenCalled();
      expect(activities.tagLocalAlias).toHaveBeenCalledTimes(1);
      expect(ledger.completed).toMatchObject({ status: 'succeeded', registryImage: null });
    });
  });
});
