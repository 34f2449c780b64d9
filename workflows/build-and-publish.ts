// buildAndPublish (`build/<server>/<revision>`): checkout → one build per platform (bounded, fail-fast
// with the others cancelled) → push each (Temporal retries transient faults) → manifest list → ledger.
// The ledger row is opened first and closed last — succeeded, failed or cancelled — exactly once.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ErrorType } from '../lib/errors.js';
import { ManifestDigestKey } from '../lib/search-attributes.js';
import type { BuildInput, BuildResult, PlatformBuild, PlatformPush } from './build-and-publish.messages.js';

const ledger = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumInterval: '10s' } });

// Attempts are spaced out (2 s, 4 s, 8 s, …) so a dependency restarting — the daemon, the
// database the build log goes to — is waited out rather than failing the build.
const checkout = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '60s',
  retry: {
    maximumAttempts: 5,
    initialInterval: '2s',
    nonRetryableErrorTypes: [ErrorType.GitSourceInvalid, ErrorType.CheckoutMoved],
  },
});

// Cancellation reaches a running activity only in the answer to a heartbeat, and the SDK sends
// heartbeats at most every 0.8 × heartbeatTimeout: a short timeout is what makes fail-fast (and a
// stop) reach the daemon within seconds, and a killed worker's activity be retried soon.
const HEARTBEAT_TIMEOUT = '20s';

// Builds run long and report progress; a failed build is a failed build (not retried), and a
// cancelled one waits until the daemon has really stopped. Anything else (a daemon or database
// restarting) is retried a few times, spaced out.
const builder = proxyActivities<Activities>({
  startToCloseTimeout: '60m',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    maximumAttempts: 5,
    initialInterval: '2s',
    nonRetryableErrorTypes: [ErrorType.BuildFailed, ErrorType.CheckoutMoved],
  },
});

// Syncing the Kubernetes pull secret after a credential refresh: an API server that is away is
// waited for a few minutes; each failed attempt is recorded, and the next registryCredentials run
// syncs again whatever happens here.
const pullSecret = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [ErrorType.PullSecretConflict],
  },
});
/** Builds started before the pull-secret sync existed replay without it. */
const PULL_SECRET_PATCH = 'build-pull-secret-sync-v1';
/** Builds started before checkouts were removed replay without the removal. */
const CHECKOUT_REMOVAL_PATCH = 'build-checkout-removed-v1';
/**
 * Builds started before the finish ran side by side replay it one step after another: the checkout's
 * removal, the local alias and the manifest list touch nothing of each other's, so each waits only
 * for its own round trip through the engine.
 */
const PARALLEL_FINISH_PATCH = 'build-parallel-finish-v1';
/**
 * With a registry, the artifact is the published manifest list (launches and certifications read
 * it, never the local alias), and the finish publishes it beside the alias: a failed alias then
 * leaves the build succeeded, with the failure in its log, rather than failed with :latest published.
 * Without a registry the alias is the artifact, and its failure fails the build as before.
 */
const ALIAS_BESIDE_PATCH = 'build-alias-beside-published-v1';

const publisher = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  retry: {
    maximumAttempts: 5,
    initialInterval: '2s',
    nonRetryableErrorTypes: [ErrorType.RegistryRejected, ErrorType.RegistryAuthExpired],
  },
});

/** Runs `task` over `items`, at most `limit` at a time; the first failure cancels the rest. */
async function boundedAll<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: unknown;
  const scope = new CancellationScope();
  await scope
    .run(async () => {
      const lane = async () => {
        while (next < items.length && failure === undefined) {
          const index = next++;
          try {
            results[index] = await task(items[index]!);
          } catch (err) {
            if (failure === undefined) {
              failure = err;
              scope.cancel();
            }
          }
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
    })
    .catch((err) => {
      if (failure === undefined) failure = err;
    });
  if (failure !== undefined) throw failure;
  return results;
}

function failureReason(err: unknown): string {
  let cur: unknown = err;
  while (cur instanceof ActivityFailure) cur = cur.cause;
  return cur instanceof Error ? cur.message : String(err);
}

export async function buildAndPublish(input: BuildInput): Promise<BuildResult> {
  const { workflowId, runId: workflowRunId } = workflowInfo();
  const run = await ledger.beginBuildRun({ ...input, workflowId, workflowRunId });
  const { settings } = run;
  const pusher = proxyActivities<Activities>({
    startToCloseTimeout: '30m',
    heartbeatTimeout: HEARTBEAT_TIMEOUT,
    // REGISTRY_PUSH_RETRIES counts every attempt, including the one after a credential refresh.
    retry: {
      maximumAttempts: settings.pushRetries,
      initialInterval: '1s',
      backoffCoefficient: 2,
      nonRetryableErrorTypes: [ErrorType.RegistryRejected, ErrorType.RegistryAuthExpired],
    },
  });

  try {
    // A package's context is one generated Dockerfile; a repository's is its checkout.
    const source = input.package
      ? await checkout.preparePackage({
          serverId: input.serverId,
          revision: input.revision,
          resolved: input.package.resolved,
          ...(input.transport !== undefined && { transport: input.transport }),
        })
      : await checkout.prepareCheckout({
          runId: run.runId,
          serverId: input.serverId,
          repository: input.repository,
          branch: input.branch,
          revision: input.revision,
          ...(input.credentials && { credentials: input.credentials }),
          ...(input.directory !== undefined && { directory: input.directory }),
          ...(input.dockerfile !== undefined && { dockerfile: input.dockerfile }),
          ...(input.transport !== undefined && { transport: input.transport }),
        });
    const pushed: PlatformPush[] = [];
    let built: PlatformBuild[] | undefined;
    let removing: Promise<unknown> | undefined;
    try {
      built = await boundedAll(settings.targets, settings.parallelism, async (platform) => {
        const image = await builder.buildPlatformImage({
          runId: run.runId,
          serverId: input.serverId,
          platform,
          contextDir: source.contextDir,
          revision: input.revision,
          settings,
          ...(source.dockerfile !== undefined &&
            source.dockerfile !== 'Dockerfile' && { dockerfile: source.dockerfile }),
          ...(input.transport !== undefined && { transport: input.transport }),
        });
        if (settings.registry)
          pushed.push(
            await pusher.pushPlatformImage({
              runId: run.runId,
              serverId: input.serverId,
              platform,
              localImage: image.localImage,
              settings,
            }),
          );
        return image;
      });
    } finally {
      // Once every platform is built (or the build failed) the checkout is no longer needed.
      if (patched(CHECKOUT_REMOVAL_PATCH)) {
        const removal = CancellationScope.nonCancellable(() =>
          checkout.removeCheckout({ contextDir: source.contextDir }),
        ).catch(() => undefined);
        if (built !== undefined && patched(PARALLEL_FINISH_PATCH)) removing = removal;
        else await removal;
      }
    }
    const images = built!; // a failed build threw above
    const alias = () =>
      publisher.tagLocalAlias({
        serverId: input.serverId,
        runId: run.runId,
        from: images[0]!.localImage,
        to: run.localImage,
      });
    const publish = async () => {
      if (!settings.registry) return null;
      // Platform order as configured, whatever order the pushes finished in.
      const ordered = settings.targets.map((p) => pushed.find((x) => x.platform === p)!);
      const published = await publisher.publishManifestList({
        runId: run.runId,
        serverId: input.serverId,
        revision: input.revision,
        platforms: ordered,
        settings,
      });
      upsertSearchAttributes([{ key: ManifestDigestKey, value: published.digest }]);
      return published;
    };

    let manifest: { image: string; digest: string } | null;
    if (removing) {
      // Every one settles before the build is closed; the first failure is the build's.
      const [aliased, published] = await Promise.allSettled([alias(), publish(), removing]);
      const publishedList = published.status === 'fulfilled' && published.value !== null;
      if (aliased.status === 'rejected' && !(publishedList && patched(ALIAS_BESIDE_PATCH))) throw aliased.reason;
      if (published.status === 'rejected') throw published.reason;
      manifest = published.value;
    } else {
      await alias();
      manifest = await publish();
    }
    // New credentials reach the cluster's pull secret (pushes refreshed or rotated them).
    const refreshed = pushed.some(
      (p) => (p.authRefreshAttempted && p.authRefreshSucceeded) || (p.authRotationAttempted && p.authRotationSucceeded),
    );
    if (refreshed && patched(PULL_SECRET_PATCH)) {
      try {
        await pullSecret.syncRegistryPullSecret({ trigger: 'build', serverId: input.serverId, runId: run.runId });
      } catch (err) {
        // The image is published either way; the failure is recorded and the schedule syncs again.
        if (isCancellation(err)) throw err;
      }
    }
    await ledger.completeBuildRun({
      runId: run.runId,
      status: 'succeeded',
      registryImage: manifest?.image ?? null,
      manifestDigest: manifest?.digest ?? null,
      platforms: pushed,
    });
    return {
      runId: run.runId,
      revision: input.revision,
      localImage: run.localImage,
      registryImage: manifest?.image ?? null,
      manifestDigest: manifest?.digest ?? null,
      platforms: settings.targets,
    };
  } catch (err) {
    const status = isCancellation(err) ? 'cancelled' : 'failed';
    await CancellationScope.nonCancellable(() =>
      ledger.completeBuildRun({
        runId: run.runId,
        status,
        failureReason: failureReason(err),
        registryImage: null,
        manifestDigest: null,
        platforms: [],
      }),
    );
    if (status === 'cancelled') throw err;
    throw ApplicationFailure.nonRetryable(`build failed: ${failureReason(err)}`, ErrorType.BuildFailed);
  }
}
