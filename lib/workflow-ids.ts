// Workflow ids are business keys: one place builds them, so API, worker and tests agree.
//
// Each id starts with the installation's id (`3f9c2a1b/server/1`, table `installation`), because a
// Temporal namespace outlives a database: a database created anew, or a second installation on the
// same namespace, would otherwise reuse the ids of workflows Temporal still holds. An installation
// whose database existed before it had an id keeps the bare ids (`server/1`) its workflows run under.
// Pure and deterministic: workflows import it too.

/** An installation id: 8 lowercase hex characters, or '' for an installation with bare ids. */
const INSTALLATION = /^[0-9a-f]{8}$/;

export interface WorkflowIds {
  /** '' for an installation that keeps bare ids. */
  readonly installation: string;
  server(serverId: number): string;
  build(serverId: number, revision: string): string;
  /** Also the id of the Temporal Schedule that starts it. */
  credentials(registryHost: string): string;
  governance(runId: number): string;
  promotion(promotionId: number): string;
  certification(certificationId: number): string;
}

export function isInstallationId(value: string): boolean {
  return value === '' || INSTALLATION.test(value);
}

/** The workflow ids of one installation. */
export function workflowIdsFor(installation: string): WorkflowIds {
  if (!isInstallationId(installation)) throw new Error(`not an installation id: ${JSON.stringify(installation)}`);
  const prefix = installation === '' ? '' : `${installation}/`;
  return {
    installation,
    server: (serverId) => `${prefix}server/${serverId}`,
    build: (serverId, revision) => `${prefix}build/${serverId}/${revision.slice(0, 12)}`,
    credentials: (registryHost) => `${prefix}credentials/${registryHost}`,
    governance: (runId) => `${prefix}governance/${runId}`,
    promotion: (promotionId) => `${prefix}promotion/${promotionId}`,
    certification: (certificationId) => `${prefix}certification/${certificationId}`,
  };
}

/**
 * The workflow ids of the installation a workflow id belongs to. A workflow names the workflows it
 * starts or signals from its own id (`workflowInfo().workflowId`), so a replay names them the same.
 */
export function workflowIdsOf(workflowId: string): WorkflowIds {
  const first = workflowId.slice(0, workflowId.indexOf('/'));
  return workflowIdsFor(INSTALLATION.test(first) ? first : '');
}
