// Every workflow the worker registers; this file is the bundle's entry point.
export { serverLifecycle } from './server-lifecycle.js';
export { buildAndPublish } from './build-and-publish.js';
export { registryCredentials } from './registry-credentials.js';
export { governanceRun } from './governance-run.js';
export { promotion } from './promotion.js';
export { certification } from './certification.js';
