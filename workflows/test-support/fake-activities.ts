// Fake activities for the workflow unit tests, one factory per area, each typed from the real
// activities (`Activities`, i.e. ReturnType<typeof createActivities>) and wrapped in vi.fn, so a
// renamed or re-typed activity fails the typecheck here, in one place. The ledger fakes keep the
// rows they would write in memory and refuse what the real ledger refuses (a status change the
// server state machine does not allow), so a test asserts on what an operator would read back.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { vi, type Mock } from 'vitest';
import type { Activities } from '../../activities/index.js';
import type { BuildSettings, PlatformPush } from '../build-and-publish.messages.js';
import { ErrorType } from '../../lib/errors.js';
import type { PromotionStatus, RunStatus, SoakState, StepState } from '../../lib/governance/states.js';
import type { RollbackTarget, SoakFailure } from '../../lib/ledger/soak.js';
import type { PolicyDecision } from '../../lib/policy/decide.js';
import { canTransition, type ServerStatus } from '../../lib/server-status.js';
import { freshId } from './workflow-env.js';

/** The fakes of the named activities, each a vi.fn of the real activity's type. */
export type Fakes<K extends keyof Activities> = { [P in K]: Mock<Activities[P]> };

/** vi.fn of the real activity `name`'s type (the name picks the type). */
const fake = <K extends keyof Activities>(_name: K, impl: Activities[K]): Mock<Activities[K]> => vi.fn(impl);

/** Blocks until the workflow cancels this activity, heartbeating so the cancellation arrives. */
async function untilCancelled(): Promise<never> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 50);
  try {
    return await ctx.cancelled;
  } finally {
    clearInterval(beat);
  }
}

// ---------------------------------------------------------------------------------------------
// Server lifecycle: the server row and its events, the policy decision, the Docker executor.

/** A decision that lets the server launch on Docker with `image`. */
export function launchableDecision(serverId: number, overrides: Partial<PolicyDecision> = {}): PolicyDecision {
  return {
    serverId,
    policyVersion: 'test',
    candidateBackend: 'docker',
    backend: 'docker',
    executorName: 'docker',
    image: `example/server-${serverId}:latest`,
    requiresBuild: false,
    artifactRunId: null,
    manifestDigest: null,
    tier: null,
    healthOverall: null,
    capabilityRequirements: [],
    capabilitiesSatisfied: true,
    evaluationRequired: false,
    governanceRequired: false,
    launchable: true,
    heldByGate: false,
    promotion: null,
    notes: ['evaluation:not-required', 'governance:not-required'],
    ...overrides,
  };
}

/** A decision held only by a promotion gate: the server waits in pending-governance. */
export function heldDecision(serverId: number): PolicyDecision {
  return launchableDecision(serverId, {
    launchable: false,
    heldByGate: true,
    governanceRequired: true,
    notes: [
      'evaluation:not-required',
      'governance:track:prod:launch-stage:staging',
      'promotion:missing:prod:staging',
      'governance:required',
    ],
  });
}

export interface ServerEvent {
  to: ServerStatus;
  reason: string | null;
  transitionKey: string;
}

export interface ServerLedger {
  /** The row's status, as the API reads it. */
  status: ServerStatus;
  /** Every recorded transition, in order (what server_events holds). */
  events: ServerEvent[];
  removed: boolean;
  statuses(): ServerStatus[];
  /** The reason of the latest transition to `to`. */
  reasonOf(to: ServerStatus): string | null | undefined;
}

/** The activities this area's workflows proxy (the names the tests depend on). */
export type ServerActivities = Fakes<
  | 'awaitServerRow'
  | 'recordServerStatus'
  | 'removeServer'
  | 'resolveRevision'
  | 'findArtifact'
  | 'decideLaunch'
  | 'launchServer'
  | 'checkMcpHealth'
  | 'stopServer'
  | 'removeServerWorkload'
  | 'supervisionSettings'
  | 'probeServer'
  | 'awaitWorkloadExit'
  | 'launchKubernetesServer'
  | 'awaitKubernetesServer'
  | 'awaitKubernetesPodChange'
  | 'provisionVm'
  | 'restartVm'
>;

/** Supervision that stays out of the way: an hour between probes, each answered at once. */
export const quietSupervision = {
  probeIntervalMs: 3_600_000,
  probeTimeoutMs: 1_000,
  degradedLatencyMs: 1_000,
  failureThreshold: 3,
  restartBackoffMs: 5_000,
  restartBackoffMaxMs: 300_000,
  crashloopRestarts: 5,
  crashloopWindowMs: 600_000,
};

function serverRow(): ServerLedger {
  const row: ServerLedger = {
    status: 'creating',
    events: [],
    removed: false,
    statuses: () => row.events.map((e) => e.to),
    reasonOf: (to) => row.events.findLast((e) => e.to === to)?.reason,
  };
  return row;
}

/**
 * Server rows in `creating` (`rows(id)`, one per server; `ledger` is `serverId`'s) and a Docker
 * host on which every launch succeeds and answers MCP; override a fake's implementation
 * (`mockImplementationOnce`) to make a step fail.
 */
export function fakeServerActivities(serverId = freshId()): {
  activities: ServerActivities;
  serverId: number;
  ledger: ServerLedger;
  rows: (serverId: number) => ServerLedger;
} {
  const table = new Map<number, ServerLedger>();
  const rows = (id: number) => table.get(id) ?? table.set(id, serverRow()).get(id)!;
  let decisions = 0;
  const activities: ServerActivities = {
    awaitServerRow: fake('awaitServerRow', async ({ serverId }) => ({ status: rows(serverId).status })),
    recordServerStatus: fake('recordServerStatus', async ({ serverId, to, reason = null, transitionKey }) => {
      const row = rows(serverId);
      if (row.removed)
        throw ApplicationFailure.nonRetryable(`server ${serverId} no longer exists`, ErrorType.ServerNotFound);
      if (row.events.some((e) => e.transitionKey === transitionKey)) return;
      if (!canTransition(row.status, to)) {
        throw ApplicationFailure.nonRetryable(
          `server ${serverId}: ${row.status} -> ${to} is not allowed`,
          ErrorType.InvalidTransition,
        );
      }
      row.events.push({ to, reason, transitionKey });
      row.status = to;
    }),
    removeServer: fake('removeServer', async ({ serverId }) => {
      rows(serverId).removed = true;
    }),
    resolveRevision: fake('resolveRevision', async () => ({ revision: 'a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0' })),
    findArtifact: fake('findArtifact', async () => null),
    decideLaunch: fake('decideLaunch', async ({ serverId, artifactRunId }) => ({
      decisionId: ++decisions,
      decision: launchableDecision(serverId, { artifactRunId: artifactRunId ?? null }),
    })),
    launchServer: fake('launchServer', async ({ serverId }) => ({
      workload: `mcp-server-${serverId}`,
      endpoint: 'http://127.0.0.1:1/mcp',
      transport: 'streamable-http' as const,
    })),
    checkMcpHealth: fake('checkMcpHealth', async () => ({ name: 'echo', tools: ['echo', 'add'] })),
    stopServer: fake('stopServer', async () => {}),
    removeServerWorkload: fake('removeServerWorkload', async () => {}),
    supervisionSettings: fake('supervisionSettings', async () => quietSupervision),
    probeServer: fake('probeServer', async () => ({
      ok: true,
      method: 'ping' as const,
      latencyMs: 3,
      error: null,
      exited: false,
      toolsDigest: 'sha256:0',
    })),
    awaitWorkloadExit: fake('awaitWorkloadExit', untilCancelled),
    launchKubernetesServer: fake('launchKubernetesServer', async ({ serverId }) => ({
      workload: `mcp-server-${serverId}`,
      endpoint: `http://mcp-server-${serverId}.mcp.svc:8080/mcp`,
      transport: 'streamable-http' as const,
    })),
    awaitKubernetesServer: fake('awaitKubernetesServer', async ({ serverId }) => ({
      state: 'running' as const,
      reason: `pod mcp-server-${serverId}-a running and ready`,
    })),
    awaitKubernetesPodChange: fake('awaitKubernetesPodChange', untilCancelled),
    provisionVm: fake('provisionVm', async ({ serverId }) => ({
      status: 'running' as const,
      instanceId: `vm-${serverId}`,
      isolationTier: 'coco',
      notes: [],
    })),
    restartVm: fake('restartVm', async ({ serverId }) => ({
      status: 'running' as const,
      instanceId: `vm-${serverId}`,
    })),
  };
  return { activities, serverId, ledger: rows(serverId), rows };
}

// ---------------------------------------------------------------------------------------------
// Governance runs and promotions: their rows and audit logs.

export interface GovernanceRunRow {
  runId: number;
  status: RunStatus;
  steps: StepState[];
  initiatedBy: number | null;
  targetServerId: number | null;
  ownerId: number;
  /** recordGovernanceTransition inputs, once per transition key, in order (the audit log). */
  audit: Parameters<Activities['recordGovernanceTransition']>[0][];
}

export interface PromotionRow {
  promotionId: number;
  status: PromotionStatus;
  manifestDigest: string;
  scheduledBy: number | null;
  ownerId: number;
  /** Null: the track has no governance workflow, approval alone activates. */
  governanceWorkflowId: number | null;
  governanceRunId: number | null;
  /** recordPromotionTransition inputs, once per key, in order (promotion_events). */
  events: Parameters<Activities['recordPromotionTransition']>[0][];
  stage: string;
  /** The stage's soak time (0: none). */
  soakSeconds: number;
  soakState: SoakState | null;
  /** Set by a test: the failure awaitSoakFailure reports (it waits until there is one). */
  soakFailure?: SoakFailure;
  /** What rollbackTargets answers. */
  rollbackTargets: RollbackTarget[];
  /** recordPromotionNote inputs, once per key, in order (events that change no status). */
  noteEvents: { key: string; note: string }[];
}

export interface GovernanceLedger {
  runs: Map<number, GovernanceRunRow>;
  promotions: Map<number, PromotionRow>;
  /** What findGatedServers answers, per owner. */
  gatedServers: Map<number, number[]>;
  /** Adds a run row with `actions` as its steps (all pending), as the API creates it. */
  addRun(
    run: Pick<GovernanceRunRow, 'runId' | 'ownerId'> &
      Partial<Pick<GovernanceRunRow, 'targetServerId' | 'initiatedBy'>>,
    actions: string[],
  ): GovernanceRunRow;
  addPromotion(
    p: Pick<PromotionRow, 'promotionId' | 'ownerId' | 'governanceWorkflowId'> &
      Partial<Pick<PromotionRow, 'scheduledBy' | 'soakSeconds' | 'rollbackTargets'>>,
  ): PromotionRow;
}

/** The activities this area's workflows proxy (the names the tests depend on). */
export type GovernanceActivities = Fakes<
  | 'loadGovernanceRun'
  | 'recordGovernanceTransition'
  | 'findGatedServers'
  | 'loadPromotion'
  | 'createPromotionRun'
  | 'recordPromotionTransition'
  | 'beginSoak'
  | 'recordSoakPassed'
  | 'recordPromotionNote'
  | 'awaitSoakFailure'
  | 'rollbackTargets'
>;

/**
 * The governance tables. A promotion's run gets the id `promotionRunId(promotionId)` and the
 * steps `promotionSteps`, as createPromotionRun copies them from the track's workflow.
 */
export function fakeGovernanceActivities(promotionSteps: string[] = ['review', 'sign-off']): {
  activities: GovernanceActivities;
  ledger: GovernanceLedger;
} {
  const ledger: GovernanceLedger = {
    runs: new Map(),
    promotions: new Map(),
    gatedServers: new Map(),
    addRun(run, actions) {
      const row: GovernanceRunRow = {
        status: 'pending',
        initiatedBy: null,
        targetServerId: null,
        audit: [],
        ...run,
        steps: actions.map((action, i) => ({ position: i + 1, action, status: 'pending' })),
      };
      ledger.runs.set(row.runId, row);
      return row;
    },
    addPromotion(p) {
      const row: PromotionRow = {
        status: 'scheduled',
        manifestDigest: `sha256:${'ab'.repeat(32)}`,
        scheduledBy: null,
        governanceRunId: null,
        events: [],
        stage: 'staging',
        soakSeconds: 0,
        soakState: null,
        rollbackTargets: [],
        noteEvents: [],
        ...p,
      };
      ledger.promotions.set(row.promotionId, row);
      return row;
    },
  };
  const runOf = (runId: number) => {
    const run = ledger.runs.get(runId);
    if (!run)
      throw ApplicationFailure.nonRetryable(`governance run ${runId} no longer exists`, ErrorType.ServerNotFound);
    return run;
  };
  const promotionOf = (promotionId: number) => {
    const p = ledger.promotions.get(promotionId);
    if (!p) throw ApplicationFailure.nonRetryable(`promotion ${promotionId} not found`, ErrorType.RowRolledBack);
    return p;
  };
  const activities: GovernanceActivities = {
    loadGovernanceRun: fake('loadGovernanceRun', async ({ runId }) => {
      const run = ledger.runs.get(runId);
      if (!run)
        throw ApplicationFailure.nonRetryable(`governance run ${runId} was never committed`, ErrorType.RowRolledBack);
      const { status, initiatedBy, targetServerId, ownerId, steps } = run;
      return { status, initiatedBy, targetServerId, ownerId, steps: steps.map((s) => ({ ...s })) };
    }),
    recordGovernanceTransition: fake('recordGovernanceTransition', async (input) => {
      const run = runOf(input.runId);
      if (run.audit.some((a) => a.key === input.key)) return;
      if (input.step) run.steps.find((s) => s.position === input.step!.position)!.status = input.step.status;
      if (input.status) {
        run.status = input.status;
        for (const s of run.steps) {
          if (input.status === 'completed') s.status = 'completed';
          else if ((input.status === 'failed' || input.status === 'cancelled') && s.status !== 'completed')
            s.status = 'failed';
        }
      }
      run.audit.push(input);
    }),
    findGatedServers: fake('findGatedServers', async ({ ownerId }) => ledger.gatedServers.get(ownerId) ?? []),
    loadPromotion: fake('loadPromotion', async ({ promotionId }) => {
      const { status, manifestDigest, scheduledBy, ownerId, governanceWorkflowId, governanceRunId } =
        promotionOf(promotionId);
      return { status, manifestDigest, scheduledBy, ownerId, governanceWorkflowId, governanceRunId };
    }),
    createPromotionRun: fake('createPromotionRun', async ({ promotionId }) => {
      const p = promotionOf(promotionId);
      if (p.governanceRunId === null) {
        p.governanceRunId = promotionRunId(promotionId);
        ledger.addRun({ runId: p.governanceRunId, ownerId: p.ownerId, initiatedBy: p.scheduledBy }, promotionSteps);
      }
      return p.governanceRunId;
    }),
    recordPromotionTransition: fake('recordPromotionTransition', async (input) => {
      const p = promotionOf(input.promotionId);
      if (p.events.some((e) => e.key === input.key)) return;
      p.status = input.status;
      if (input.status === 'rolled_back')
        p.soakState = input.soakFailed ? 'failed' : p.soakState === 'soaking' ? 'cancelled' : p.soakState;
      p.events.push(input);
    }),
    beginSoak: fake('beginSoak', async ({ promotionId, key }) => {
      const p = promotionOf(promotionId);
      if (p.soakSeconds > 0 && !p.noteEvents.some((e) => e.key === key)) {
        p.soakState = 'soaking';
        p.noteEvents.push({ key, note: `promotion:soak:started:${p.stage}:${p.soakSeconds}s` });
      }
      return { seconds: p.soakSeconds, stage: p.stage };
    }),
    recordSoakPassed: fake('recordSoakPassed', async ({ promotionId, key, seconds }) => {
      const p = promotionOf(promotionId);
      if (p.noteEvents.some((e) => e.key === key)) return;
      p.soakState = 'passed';
      p.noteEvents.push({ key, note: `promotion:soak:passed:${seconds}s` });
    }),
    recordPromotionNote: fake('recordPromotionNote', async ({ promotionId, key, note }) => {
      const p = promotionOf(promotionId);
      if (!p.noteEvents.some((e) => e.key === key)) p.noteEvents.push({ key, note });
    }),
    awaitSoakFailure: fake('awaitSoakFailure', async ({ promotionId }) => {
      const ctx = Context.current();
      for (;;) {
        const failure = promotionOf(promotionId).soakFailure;
        if (failure) return failure;
        ctx.heartbeat();
        await Promise.race([new Promise((r) => setTimeout(r, 50)), ctx.cancelled]);
      }
    }),
    rollbackTargets: fake('rollbackTargets', async ({ promotionId }) => promotionOf(promotionId).rollbackTargets),
  };
  return { activities, ledger };
}

/** The governance run id a promotion's run gets in the fake ledger. */
export const promotionRunId = (promotionId: number) => promotionId + 1;

// ---------------------------------------------------------------------------------------------
// Builds: the artifact ledger, the checkout, the daemon's builds, the registry.

export interface BuildLedger {
  runId: number;
  /** completeBuildRun's input, once the run is closed. */
  completed?: Parameters<Activities['completeBuildRun']>[0];
  /** Platforms whose build was cancelled by the workflow, in order. */
  cancelled: string[];
  /** `cancelled` as it stood when the run was closed: the builds that had stopped by then. */
  cancelledWhenClosed?: string[];
}

/** The activities this area's workflows proxy (the names the tests depend on). */
export type BuildActivities = Fakes<
  | 'beginBuildRun'
  | 'prepareCheckout'
  | 'removeCheckout'
  | 'buildPlatformImage'
  | 'pushPlatformImage'
  | 'tagLocalAlias'
  | 'publishManifestList'
  | 'syncRegistryPullSecret'
  | 'completeBuildRun'
>;

export const pushedPlatform = (platform: string, overrides: Partial<PlatformPush> = {}): PlatformPush => ({
  platform,
  remoteImage: `127.0.0.1:5000/mcp-custom:latest-${platform.replaceAll('/', '_')}`,
  remoteTag: `latest-${platform.replaceAll('/', '_')}`,
  digest: `sha256:${platform.length.toString(16).padStart(64, '0')}`,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 1234,
  authRefreshAttempted: false,
  authRefreshSucceeded: false,
  authRotationAttempted: false,
  authRotationSucceeded: false,
  credentialHealth: 'healthy',
  ...overrides,
});

/**
 * A build host on which every platform builds and pushes. `settings` are the worker's build
 * settings the run captures (targets, parallelism, registry, push attempts).
 */
export function fakeBuildActivities(
  settings: Partial<BuildSettings> = {},
  runId = 1,
): { activities: BuildActivities; ledger: BuildLedger } {
  const ledger: BuildLedger = { runId, cancelled: [] };
  const full: BuildSettings = {
    targets: ['linux/amd64', 'linux/arm64'],
    parallelism: 2,
    registry: '127.0.0.1:5000',
    cacheFrom: [],
    noCache: false,
    pushRetries: 3,
    ...settings,
  };
  const activities: BuildActivities = {
    beginBuildRun: fake('beginBuildRun', async ({ serverId }) => ({
      runId,
      localImage: `mcp-custom-${serverId}`,
      settings: full,
    })),
    prepareCheckout: fake('prepareCheckout', async ({ revision }) => ({
      contextDir: '/nonexistent/checkout',
      revision,
      dockerfileGenerated: false,
    })),
    removeCheckout: fake('removeCheckout', async () => {}),
    buildPlatformImage: fake('buildPlatformImage', async ({ serverId, platform }) => ({
      platform,
      localImage: `mcp-custom-${serverId}:${platform.replaceAll('/', '_')}`,
      imageId: `sha256:${'0'.repeat(64)}`,
    })),
    pushPlatformImage: fake('pushPlatformImage', async ({ platform }) => pushedPlatform(platform)),
    tagLocalAlias: fake('tagLocalAlias', async () => {}),
    publishManifestList: fake('publishManifestList', async ({ serverId }) => ({
      image: `127.0.0.1:5000/mcp-custom-${serverId}:latest`,
      digest: `sha256:${'cd'.repeat(32)}`,
    })),
    syncRegistryPullSecret: fake('syncRegistryPullSecret', async () => ({ synced: true })),
    completeBuildRun: fake('completeBuildRun', async (input) => {
      ledger.completed = input;
      ledger.cancelledWhenClosed = [...ledger.cancelled];
    }),
  };
  return { activities, ledger };
}

/** A build that runs until the workflow cancels it, recorded in `ledger.cancelled`. */
export function buildUntilCancelled(ledger: BuildLedger): Activities['buildPlatformImage'] {
  return async ({ platform }) => {
    try {
      return await untilCancelled();
    } finally {
      ledger.cancelled.push(platform);
    }
  };
}
