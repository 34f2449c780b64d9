// Contract of the serverLifecycle workflow (`server/<id>`): input, updates, query. The API imports this.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ServerSource, ServerTransport } from '../lib/schemas/servers.js';
import type { Backend } from '../lib/policy/decide.js';
import type { HealthCarried } from '../lib/server-health.js';
import type { ServerIntent, ServerStatus } from '../lib/server-status.js';
import type { ConfigValues } from '../lib/schemas/secrets.js';
import type { RelaunchRequest } from './governance.messages.js';

/** What the server is: given when it is created, the same in every run. */
export interface ServerLifecycleStart {
  serverId: number;
  ownerId: number;
  /** Where the server's image comes from; a git source is built before it can run. Absent = image. */
  source?: ServerSource;
  /** How the server speaks MCP when declared (absent: stdio for packages, the image's label for git). */
  transport?: ServerTransport;
  /** Settings passed to the server's workload as environment (absent in runs started before launching). */
  config?: ConfigValues;
  useGpu?: boolean;
}

/** Where the server stands: carried from one run to the next across continue-as-new. */
export interface ServerLifecycleCarried {
  /** Status the server has when this run begins. */
  status: ServerStatus;
  /** Transitions written so far; makes each transition's idempotency key unique. */
  seq: number;
  /** Intents accepted but not yet carried out. */
  pending: QueuedIntent[];
  /** What the last launch ran (absent in runs from before supervision): the supervisor's restarts launch it again. */
  launched?: LaunchedWorkload;
  /** The supervisor's count of failures and restarts (absent until it first ran). */
  health?: HealthCarried;
}

export interface LaunchedWorkload {
  backend: Backend;
  /** The build artifact the launch ran, for a git source. */
  artifactRunId?: number;
}

/** The workflow's argument: a new server starts with status `creating`, seq 0 and its first intents. */
export interface ServerLifecycleInput extends ServerLifecycleStart, ServerLifecycleCarried {}

export interface QueuedIntent {
  intent: ServerIntent;
  /** Null for a relaunch a rolled-back promotion asked for (no operator behind it). */
  actorId: number | null;
  /** A redeploy that launches this artifact as it is, without a build (a promotion's rollback). */
  relaunch?: RelaunchRequest;
  /** Why the intent was asked for when it was not an operator's own (a secret's new version): the event's reason. */
  reason?: string;
}

export interface IntentRequest {
  actorId: number;
  reason?: string;
}

export interface IntentAccepted {
  intent: ServerIntent;
  /** The status the server moves to first. */
  status: ServerStatus;
}

export interface ServerLifecycleState {
  status: ServerStatus;
  pending: ServerIntent[];
}

export interface ServerLifecycleResult {
  outcome: 'deleted' | 'abandoned';
}

export const startUpdate = defineUpdate<IntentAccepted, [IntentRequest]>('start');
export const stopUpdate = defineUpdate<IntentAccepted, [IntentRequest]>('stop');
export const redeployUpdate = defineUpdate<IntentAccepted, [IntentRequest]>('redeploy');
export const buildUpdate = defineUpdate<IntentAccepted, [IntentRequest]>('build');
export const deleteUpdate = defineUpdate<IntentAccepted, [IntentRequest]>('delete');
export const stateQuery = defineQuery<ServerLifecycleState>('state');

/** The settings a server's launches use from now on (PATCH /api/servers/:id), as its row now holds them. */
export interface SettingsChange {
  config: ConfigValues;
  useGpu: boolean;
}

/** A signal, not an update: the row and the workflow agree even while no worker runs. */
export const settingsChangedSignal = defineSignal<[SettingsChange]>('settingsChanged');

export const intentUpdates = {
  start: startUpdate,
  stop: stopUpdate,
  redeploy: redeployUpdate,
  build: buildUpdate,
  delete: deleteUpdate,
} as const;
