// ApplicationFailure types of the VM activities; workflows match on these strings (never on class
// names) and may import this module (no runtime dependencies).
export const VmErrorType = {
  /** The hypervisor refused a request (4xx): retrying the same request cannot help. */
  HypervisorRejected: 'HypervisorRejected',
  /** Unreachable, timed out, or a server-side answer (5xx, 429): worth another attempt. */
  HypervisorUnavailable: 'HypervisorUnavailable',
  /** A 2xx answer this client cannot use (e.g. no instance id). */
  HypervisorInvalidResponse: 'HypervisorInvalidResponse',
} as const;
export type VmErrorType = (typeof VmErrorType)[keyof typeof VmErrorType];
