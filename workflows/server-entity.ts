// The state of one MCP server's workflow and the handlers of its messages. Updates validate an
// intent against where the server will be once the queued ones are carried out, then queue it;
// the workflow's loop (server-lifecycle.ts) takes them one at a time.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  isCancellation,
  patched,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { ErrorType } from '../lib/errors.js';
import type { ServerSource, ServerTransport } from '../lib/schemas/servers.js';
import { ServerStatusKey } from '../lib/search-attributes.js';
import { checkIntent, firstStatusFor, type ServerIntent, type ServerStatus } from '../lib/server-status.js';
import { ledger } from './server-profiles.js';
import { freshHealth, type HealthCarried } from '../lib/server-health.js';
import type {
  IntentAccepted,
  LaunchedWorkload,
  IntentRequest,
  QueuedIntent,
  ServerLifecycleCarried,
  ServerLifecycleStart,
  ServerLifecycleState,
  SettingsChange,
} from './server-lifecycle.messages.js';
import type { RelaunchRequest } from './governance.messages.js';
import type { ConfigValues } from '../lib/schemas/secrets.js';

/** The most useful one-line reason inside a failure chain. */
export function reasonOf(err: unknown): string {
  let cur: unknown = err;
  while (cur instanceof ActivityFailure || cur instanceof ChildWorkflowFailure) cur = cur.cause;
  return cur instanceof Error ? cur.message : String(err);
}

/** Supersedes held launches by intents queued before the wait (server-lifecycle.ts has the same id). */
const ROLLBACK_PATCH = 'rollback-v1';
/** A gate change signalled while a launch decided makes it decide again (a lost wake-up before). */
const GATE_DURING_DECISION_PATCH = 'gate-change-during-decision-v1';

/** Statuses a rollback's relaunch leaves alone: nothing runs there, or the operator stopped it. */
const AT_REST: readonly ServerStatus[] = ['creating', 'ready', 'stopping', 'stopped', 'deleting'];

/** Where the server ends up once an intent has been carried out, for validating the next one. */
function settledStatus(intent: ServerIntent): ServerStatus {
  if (intent === 'stop') return 'stopped';
  if (intent === 'delete') return 'deleting';
  if (intent === 'build') return 'ready';
  return 'running';
}

export class ServerEntity {
  readonly serverId: number;
  readonly source: ServerSource;
  readonly transport: ServerTransport | undefined;
  /** What launches use: given at creation, replaced by a settingsChanged signal. */
  config: ConfigValues;
  useGpu: boolean;
  /** Whether a settingsChanged signal replaced them in this run (a continued run then starts with them). */
  private settingsChanged = false;
  private readonly workflowId = workflowInfo().workflowId;
  private status: ServerStatus;
  private reason: string | undefined;
  private seq: number;
  private readonly queue: QueuedIntent[];
  /** The intent being carried out right now, and the scope a superseding intent cancels. */
  private current: QueuedIntent | undefined;
  private currentScope: CancellationScope | undefined;
  /** gateChanged signals received: a held launch decides again on each. */
  private gateSignals = 0;
  private waitingOnGate = false;
  /** What the last launch ran, and the supervisor's state (workflows/server-supervision.ts). */
  launched: LaunchedWorkload | undefined;
  health: HealthCarried;

  constructor(start: ServerLifecycleStart, carried: ServerLifecycleCarried) {
    this.serverId = start.serverId;
    this.source = start.source ?? { type: 'image', image: '' };
    this.transport = start.transport;
    this.config = start.config ?? {};
    this.useGpu = start.useGpu ?? false;
    this.status = carried.status;
    this.seq = carried.seq;
    this.queue = [...carried.pending];
    this.launched = carried.launched;
    this.health = carried.health ?? freshHealth();
  }

  /** Where the server stands now. */
  get currentStatus(): ServerStatus {
    return this.status;
  }

  /** Why the server is in its status, as far as this run has seen. */
  get currentReason(): string | undefined {
    return this.reason;
  }

  /** Everything but an image is built: a git repository, or a package (npm, PyPI, Go). */
  get builds(): boolean {
    return this.source.type !== 'image';
  }

  // --- message handlers ---

  state(): ServerLifecycleState {
    return { status: this.status, pending: this.queue.map((q) => q.intent) };
  }

  /** An update's validator: refuses what the state machine does not allow from the projected status. */
  validateIntent(intent: ServerIntent, request: IntentRequest): void {
    if (!Number.isInteger(request?.actorId)) throw ApplicationFailure.nonRetryable('actorId is required');
    if (intent === 'build' && !this.builds) {
      throw ApplicationFailure.nonRetryable(
        'only servers with a git or package source are built',
        ErrorType.InvalidTransition,
      );
    }
    const verdict = checkIntent(this.projected(), intent);
    if (!verdict.ok) throw ApplicationFailure.nonRetryable(verdict.reason!, ErrorType.InvalidTransition);
  }

  acceptIntent(intent: ServerIntent, request: IntentRequest): IntentAccepted {
    this.queue.push({
      intent,
      actorId: request.actorId,
      ...(typeof request.reason === 'string' && { reason: request.reason.slice(0, 500) }),
    });
    // Stopping or deleting supersedes a build under way: cancel it rather than wait for it.
    // Any new intent supersedes a launch waiting on a gate.
    if ((intent === 'stop' || intent === 'delete') && this.current && this.current.intent !== 'stop')
      this.currentScope?.cancel();
    else if (this.waitingOnGate) this.currentScope?.cancel();
    return { intent, status: firstStatusFor(intent) };
  }

  gateChanged(): void {
    this.gateSignals += 1;
  }

  /**
   * New settings, for the launches from now on (what runs keeps its own until its next launch). A
   * malformed one is dropped: a signal has no caller to answer. It schedules nothing, so no patch.
   */
  changeSettings(change: SettingsChange): void {
    if (typeof change?.config !== 'object' || change.config === null || typeof change.useGpu !== 'boolean') return;
    this.config = change.config;
    this.useGpu = change.useGpu;
    this.settingsChanged = true;
  }

  /** What a continued run starts with beside the carried state: changed settings, else the run's own input. */
  startOverrides(): Partial<ServerLifecycleStart> {
    return this.settingsChanged ? { config: this.config, useGpu: this.useGpu } : {};
  }

  /**
   * A completed governance run asks for a redeploy; one the state machine refuses now is dropped
   * (a signal has no caller to answer), as a refused intent would be.
   */
  redeployRequested({ actorId }: { actorId: number }): void {
    if (!checkIntent(this.projected(), 'redeploy').ok) return;
    this.queue.push({ intent: 'redeploy', actorId });
    if (this.waitingOnGate) this.currentScope?.cancel();
  }

  /**
   * A rolled-back promotion asks for a relaunch of its stage's last good digest: queued as a
   * redeploy of that artifact. A server stopped (or being stopped or deleted) meanwhile stays so.
   */
  relaunchRequested(request: RelaunchRequest): void {
    const projected = this.projected();
    if (AT_REST.includes(projected) || !checkIntent(projected, 'redeploy').ok) return;
    this.queue.push({ intent: 'redeploy', actorId: null, relaunch: request });
    if (this.waitingOnGate) this.currentScope?.cancel();
  }

  // --- what the workflow's loop uses ---

  /** Why the current intent was asked for, when its request said. */
  get currentIntentReason(): string | undefined {
    return this.current?.reason;
  }

  /** The relaunch the current intent carries out, if it is one. */
  get currentRelaunch(): RelaunchRequest | undefined {
    return this.current?.relaunch;
  }

  hasQueued(): boolean {
    return this.queue.length > 0;
  }

  /** The state a continued run starts from. */
  carried(): ServerLifecycleCarried {
    // Runs from before supervision carried neither: their continued runs look the same as before.
    return {
      status: this.status,
      seq: this.seq,
      pending: [...this.queue],
      ...(this.launched && { launched: this.launched, health: this.health }),
    };
  }

  /** The next queued intent, now the current one. */
  takeNext(): ServerIntent {
    this.current = this.queue.shift()!;
    return this.current.intent;
  }

  /**
   * Carries out the current intent in a scope a superseding intent can cancel. Cancelled, it ends
   * quietly (the superseding intent is queued); any other failure leaves the server in error.
   */
  async carryOut(work: () => Promise<void>): Promise<void> {
    const scope = new CancellationScope();
    this.currentScope = scope;
    try {
      await scope.run(work);
    } catch (err) {
      if (!isCancellation(err)) await this.transition('error', reasonOf(err));
    } finally {
      this.currentScope = undefined;
      this.current = undefined;
    }
  }

  /**
   * Runs a launch that is no intent's (a supervisor's restart) so that an intent arriving while it
   * waits on a gate supersedes it, as it would an intent's launch; false when it was superseded.
   */
  async supervisedLaunch(work: () => Promise<void>): Promise<boolean> {
    const scope = new CancellationScope();
    this.currentScope = scope;
    try {
      await scope.run(work);
      return true;
    } catch (err) {
      if (isCancellation(err)) return false;
      throw err;
    } finally {
      this.currentScope = undefined;
    }
  }

  /** A fresh idempotency key for the next ledger write of this server (transitions, decisions, launches). */
  nextKey(): string {
    this.seq += 1;
    return `${this.workflowId}#${this.seq}`;
  }

  /** Records the new status (once per key, however often retried) and shows it in the Web UI. */
  async transition(to: ServerStatus, reason?: string): Promise<void> {
    await ledger.recordServerStatus({ serverId: this.serverId, to, reason, transitionKey: this.nextKey() });
    this.status = to;
    this.reason = reason;
    upsertSearchAttributes([{ key: ServerStatusKey, value: to }]);
  }

  /** gateChanged signals received so far: a launch notes it before it decides. */
  get gateChanges(): number {
    return this.gateSignals;
  }

  /**
   * Waits for a gateChanged signal after the `since`-th (the count before the held decision): one
   * that came while the decision was made may have changed what it read, so it does not wait.
   * Older runs waited for the next one after the decision. Any new intent cancels the wait.
   */
  async untilGateChanges(since: number): Promise<void> {
    const seen = patched(GATE_DURING_DECISION_PATCH) ? since : this.gateSignals;
    this.waitingOnGate = true;
    // An intent queued while the launch decided supersedes the wait as one arriving during it does
    // (a rollback's relaunch sent while a held restart decided); older runs waited regardless.
    if (this.hasQueued() && this.currentScope && patched(ROLLBACK_PATCH)) this.currentScope.cancel();
    try {
      await condition(() => this.gateSignals > seen);
    } finally {
      this.waitingOnGate = false;
    }
  }

  private projected(): ServerStatus {
    const last = this.queue.at(-1) ?? this.current;
    return last ? settledStatus(last.intent) : this.status;
  }
}
