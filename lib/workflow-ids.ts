// Workflow ids are business keys: one place builds them, so API, worker and tests agree.
export const workflowIds = {
  server: (serverId: number) => `server/${serverId}`,
  build: (serverId: number, revision: string) => `build/${serverId}/${revision.slice(0, 12)}`,
  /** Also the id of the Temporal Schedule that starts it. */
  credentials: (registryHost: string) => `credentials/${registryHost}`,
  governance: (runId: number) => `governance/${runId}`,
  promotion: (promotionId: number) => `promotion/${promotionId}`,
  certification: (certificationId: number) => `certification/${certificationId}`,
} as const;
