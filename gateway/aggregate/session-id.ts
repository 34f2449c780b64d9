// What a session of the aggregated endpoint carries in its own id, so that any gateway replica (or
// the same one after a restart) can rebuild the session from the id alone: whose it is, the protocol
// revision it negotiated and the client capabilities the aggregate relays to its upstream servers
// (sampling, elicitation, roots). The id is signed (gateway/sessions.ts, with a key of its own); what
// it holds is not secret (no token, no key).
import { randomBytes } from 'node:crypto';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { GatewayPrincipal } from '../contracts.js';
import type { SignedIds } from '../sessions.js';

export interface AggregateSessionState {
  /** The principal's audit subject (`token:12`, `oidc:…`): the session answers only to it. */
  subject: string;
  protocolVersion: string;
  /** The client capabilities the aggregate passes on upstream; nothing else of the client's. */
  capabilities: Pick<ClientCapabilities, 'sampling' | 'elicitation' | 'roots'>;
  issuedAt: number;
}

const CAPABILITY_BYTES = 1024;

/** Only the capabilities the aggregate relays, and only while they stay small (the id is a header). */
export function relayedCapabilities(caps: ClientCapabilities | undefined): AggregateSessionState['capabilities'] {
  const picked: AggregateSessionState['capabilities'] = {};
  for (const key of ['sampling', 'elicitation', 'roots'] as const) {
    const value = caps?.[key];
    if (value === undefined) continue;
    // An oversized sub-object is cut to its presence: the capability itself still relays.
    (picked as Record<string, unknown>)[key] = JSON.stringify(value).length > CAPABILITY_BYTES ? {} : value;
  }
  return picked;
}

export function encodeSession(signer: SignedIds, state: AggregateSessionState): string {
  return signer.sign({
    k: 'aggregate',
    s: state.subject,
    v: state.protocolVersion,
    c: state.capabilities,
    t: state.issuedAt,
    // Two sessions a principal opens in one second with the same capabilities are two sessions: without
    // it they shared one id, so one's DELETE ended the other.
    n: randomBytes(9).toString('base64url'),
  });
}

/** The session an id describes, or undefined when it is not a valid aggregate session id. */
export function decodeSession(signer: SignedIds, id: string): AggregateSessionState | undefined {
  const p = signer.verify(id) as Record<string, unknown> | undefined;
  if (typeof p !== 'object' || p === null || p.k !== 'aggregate') return undefined;
  if (typeof p.s !== 'string' || typeof p.v !== 'string' || typeof p.t !== 'number') return undefined;
  const c = typeof p.c === 'object' && p.c !== null ? (p.c as ClientCapabilities) : {};
  return { subject: p.s, protocolVersion: p.v, capabilities: relayedCapabilities(c), issuedAt: p.t };
}

/** Whether the authenticated principal is the one the session was opened for. */
export function sessionBelongsTo(state: AggregateSessionState, principal: GatewayPrincipal): boolean {
  return state.subject === principal.subject;
}
