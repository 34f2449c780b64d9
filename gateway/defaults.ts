// The smallest correct parts for a gateway without client tokens: a principal reaches everything its
// owner scope holds (grants are null), nothing is refused for volume, and the audit is dropped.
import type { AuditSink, GatewayAccess, GatewayLimits, GatewayParts } from './contracts.js';

/** Without grants a principal reaches every item of the servers in its scope; the relay checks the scope itself. */
export const scopeOnlyAccess: GatewayAccess = {
  allowsServer: (principal) => principal.grants === null,
  allowsItem: (principal) => principal.grants === null,
  filterList: (_principal, _serverId, _method, result) => result,
};

export const noLimits: GatewayLimits = {
  check: () => ({ ok: true }),
  openSession: () => Promise.resolve({ ok: true }),
};

/** Records nothing: the place of the audit sink until one that writes rows is composed in. */
export const noAudit: AuditSink = {
  record: () => {},
  flush: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

export const defaultParts: GatewayParts = { access: scopeOnlyAccess, audit: noAudit, limits: noLimits };
