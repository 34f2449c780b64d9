// Entity workflow per MCP server (`server/<id>`): the only writer of a server's status.
// Operator intents arrive as updates whose validators enforce the state machine (ServerEntity);
// the loop below carries them out one at a time, recording every transition through an
// idempotent activity. A build in progress is cancelled (and its daemon builds stopped) by a stop
// or delete.
import {
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { RevisionKey, ServerIdKey } from '../lib/search-attributes.js';
import type { ServerIntent } from '../lib/server-status.js';
import { workflowIdsOf } from '../lib/workflow-ids.js';
import { buildAndPublish } from './build-and-publish.js';
import type { BuildInput } from './build-and-publish.messages.js';
import { firstRead } from './first-read.js';
import { gateChangedSignal, redeployRequestedSignal, relaunchRequestedSignal } from './governance.messages.js';
import { freshHealth } from '../lib/server-health.js';
import { ServerEntity } from './server-entity.js';
import { launch } from './server-launch.js';
import {
  intentUpdates,
  settingsChangedSignal,
  stateQuery,
  type IntentRequest,
  type ServerLifecycleInput,
  type ServerLifecycleResult,
} from './server-lifecycle.messages.js';
import { git, ledger, packages, runtime } from './server-profiles.js';
import { supervise, supervises } from './server-supervision.js';

/** Workflows started before launching existed replay without it (see README: changing workflows). */
const RUNTIME_PATCH = 'runtime-launch-v1';
const REASON_PATCH = 'redeploy-reason-v1';
/** A launched server is supervised between intents (probes, exits, restarts); older runs only waited. */
const SUPERVISION_PATCH = 'health-supervision-v1';
/** A rolled-back promotion's relaunch: a redeploy that launches a given artifact without building. */
const ROLLBACK_PATCH = 'rollback-v1';

/**
 * What resolveRevision asks git: a private source adds its credentials' reference (the activity reads
 * the secret itself). Activity inputs are not part of what a replay compares, so no patch is needed.
 */
function revisionOf(serverId: number, source: Extract<ServerEntity['source'], { type: 'git' }>) {
  return {
    repository: source.repository,
    branch: source.branch,
    ...(source.credentials && { serverId, credentials: source.credentials }),
  };
}

/** What a build of the server's source is: the git commit or the resolved package, and the build's arguments. */
async function resolveBuild(server: ServerEntity): Promise<BuildInput | undefined> {
  const { source, serverId, transport } = server;
  if (source.type === 'git') {
    const { revision } = await git.resolveRevision(revisionOf(serverId, source));
    return {
      serverId,
      repository: source.repository,
      branch: source.branch,
      revision,
      ...(source.credentials && { credentials: source.credentials }),
      ...(source.directory !== undefined && { directory: source.directory }),
      ...(source.dockerfile !== undefined && { dockerfile: source.dockerfile }),
      ...(transport !== undefined && { transport }),
    };
  }
  if (source.type === 'image') return undefined;
  const found = await packages.resolvePackage({ source, ...(transport !== undefined && { transport }) });
  return {
    serverId,
    repository: `${source.type}:${source.type === 'go' ? source.module : source.package}`,
    branch: source.version,
    revision: found.revision,
    package: { resolved: found.resolved, integrity: found.integrity },
    ...(transport !== undefined && { transport }),
  };
}

/** Resolves the source (unless given), then builds and publishes it as a child workflow. */
async function build(server: ServerEntity, resolved?: BuildInput): Promise<number | undefined> {
  const { source, serverId } = server;
  if (source.type === 'image') return undefined;
  await server.transition('building');
  const input = resolved ?? (await resolveBuild(server))!;
  const { revision } = input;
  const result = await executeChild(buildAndPublish, {
    // The build's id is of this server's installation, read off the server's own workflow id.
    workflowId: workflowIdsOf(workflowInfo().workflowId).build(serverId, revision),
    args: [input],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    typedSearchAttributes: [
      { key: ServerIdKey, value: String(serverId) },
      { key: RevisionKey, value: revision },
    ],
  });
  const what = input.package ? `${input.repository}@${input.package.resolved.version}` : revision.slice(0, 12);
  await server.transition('ready', `built ${what} as ${result.registryImage ?? result.localImage}`);
  return result.runId;
}

/** Carries out every intent but delete (which ends the workflow). */
async function carryOut(server: ServerEntity, intent: Exclude<ServerIntent, 'delete'>): Promise<void> {
  const { source, serverId } = server;
  switch (intent) {
    case 'start':
      if (patched(RUNTIME_PATCH)) {
        // Start resumes: the branch head's artifact when it was built already, otherwise a build.
        // (Redeploy always rebuilds.)
        let runId: number | undefined;
        const resolved = source.type === 'image' ? undefined : await resolveBuild(server);
        if (resolved) {
          const { revision } = resolved;
          runId = (await ledger.findArtifact({ serverId, revision }))?.runId ?? (await build(server, resolved));
        }
        await launch(server, runId);
      } else if (server.builds) await build(server);
      else await server.transition('starting');
      return;
    case 'redeploy': {
      const relaunch = server.currentRelaunch;
      if (relaunch && patched(ROLLBACK_PATCH)) {
        await server.transition('redeploying', relaunch.reason);
        // No artifact: decide again on what ran — the gate holds a digest whose promotion was rolled back.
        await launch(server, relaunch.artifactRunId ?? server.launched?.artifactRunId);
        return;
      }
      // A redeploy asked for with a reason (a secret's new version) says so in its event.
      const reason = server.currentIntentReason;
      await server.transition('redeploying', reason !== undefined && patched(REASON_PATCH) ? reason : undefined);
      if (patched(RUNTIME_PATCH)) await launch(server, await build(server));
      else if (server.builds) await build(server);
      else await server.transition('starting');
      return;
    }
    case 'build':
      await build(server);
      return;
    case 'stop':
      await server.transition('stopping');
      if (patched(RUNTIME_PATCH)) await runtime.stopServer({ serverId });
      await server.transition('stopped');
      return;
  }
}

/** Removes the workload and the server row; the workflow ends after. */
async function remove(server: ServerEntity): Promise<void> {
  await server.transition('deleting');
  if (patched(RUNTIME_PATCH)) await runtime.removeServerWorkload({ serverId: server.serverId });
  await ledger.removeServer({ serverId: server.serverId, transitionKey: server.nextKey() });
}

export async function serverLifecycle(input: ServerLifecycleInput): Promise<ServerLifecycleResult> {
  const { status, seq, pending, launched, health, ...start } = input;
  const server = new ServerEntity(start, { status, seq, pending, launched, health });

  setHandler(stateQuery, () => server.state());
  for (const [intent, update] of Object.entries(intentUpdates) as [
    ServerIntent,
    (typeof intentUpdates)[ServerIntent],
  ][]) {
    setHandler(update, (request: IntentRequest) => server.acceptIntent(intent, request), {
      validator: (request: IntentRequest) => server.validateIntent(intent, request),
    });
  }
  setHandler(gateChangedSignal, () => server.gateChanged());
  setHandler(redeployRequestedSignal, (request) => server.redeployRequested(request));
  setHandler(relaunchRequestedSignal, (request) => server.relaunchRequested(request));
  setHandler(settingsChangedSignal, (change) => server.changeSettings(change));

  if (seq === 0) {
    // Missing for good: the creating transaction rolled back, there is no server to look after.
    if (!(await firstRead('awaitServerRow', 'server-lifecycle-local-load-v1', { serverId: start.serverId })))
      return { outcome: 'abandoned' };
    if (!server.hasQueued()) await server.transition('stopped', 'created without start');
  }

  for (;;) {
    if (!server.hasQueued() && supervises(server) && patched(SUPERVISION_PATCH)) await supervise(server);
    await condition(() => server.hasQueued() || workflowInfo().continueAsNewSuggested);
    if (!server.hasQueued()) {
      // Bound history: hand the state to a fresh run once every handler has finished.
      await condition(allHandlersFinished);
      if (!server.hasQueued())
        return await continueAsNew<typeof serverLifecycle>({
          ...start,
          ...server.startOverrides(),
          ...server.carried(),
        });
    }
    const intent = server.takeNext();
    if (intent === 'delete') {
      await remove(server);
      await condition(allHandlersFinished);
      return { outcome: 'deleted' };
    }
    // An operator's intent starts the supervisor's count afresh (no command: replays as before).
    server.health = freshHealth();
    await server.carryOut(() => carryOut(server, intent));
  }
}
