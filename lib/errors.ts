// Typed error strings shared by activities (ApplicationFailure types) and the API (HTTP errors).

/** ApplicationFailure types; workflows and retry policies match on these strings, never on class names. */
export const ErrorType = {
  /** Each aggregate's row, gone (deleted) while its workflow still works on it. */
  ServerNotFound: 'ServerNotFound',
  GovernanceRunNotFound: 'GovernanceRunNotFound',
  PromotionNotFound: 'PromotionNotFound',
  /** A manual certification: there is nothing to evaluate automatically. */
  CertificationManual: 'CertificationManual',
  /** A workflow's own row, not visible yet after its creator's lock (retried). */
  RowNotYetVisible: 'RowNotYetVisible',
  /** A workflow's own row, missing for good (activities/db/row-missing.ts). */
  RowRolledBack: 'RowRolledBack',
  InvalidTransition: 'InvalidTransition',
  GitSourceInvalid: 'GitSourceInvalid',
  /** The git remote wants credentials it did not get, or refused the ones of source.credentials. */
  GitAuthFailed: 'GitAuthFailed',
  BuildFailed: 'BuildFailed',
  RegistryRejected: 'RegistryRejected',
  RegistryAuthExpired: 'RegistryAuthExpired',
  RegistryAuthRefreshed: 'RegistryAuthRefreshed',
  RegistryTransport: 'RegistryTransport',
  CheckoutMoved: 'CheckoutMoved',
  /** The clone grew past CHECKOUT_MAX_BYTES or CHECKOUT_MAX_FILES. */
  CheckoutTooLarge: 'CheckoutTooLarge',
  /** A git remote, image registry or FROM registry that the source policy refuses. */
  SourceHostRefused: 'SourceHostRefused',
  /** A Dockerfile or .dockerignore that is a symlink, not a regular file, or too large. */
  BuildContextInvalid: 'BuildContextInvalid',
  LaunchFailed: 'LaunchFailed',
  /** The hypervisor refused a request (4xx): retrying the same request cannot help. */
  HypervisorRejected: 'HypervisorRejected',
  /** Unreachable, timed out, or a server-side answer (5xx, 429): worth another attempt. */
  HypervisorUnavailable: 'HypervisorUnavailable',
  /** A 2xx answer the client cannot use (e.g. no instance id). */
  HypervisorInvalidResponse: 'HypervisorInvalidResponse',
  WorkloadExited: 'WorkloadExited',
  /** The pull secret's name is taken by a secret of another type (types cannot change). */
  PullSecretConflict: 'PullSecretConflict',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** An error the API turns into `{error: {code, message, field?}}` with this HTTP status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 502 | 503,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
export const forbidden = (message = 'your role does not allow this') => new ApiError(403, 'forbidden', message);
