// What a session of the aggregated endpoint carries in its own id, so that any gateway replica (or
// the same one after a restart) can rebuild the session from the id alone: whose it is, the protocol
// revision it negotiated and the client capabilities the aggregate relays to its upstream servers
// (sampling, elicitation, roots). The id is signed; what it holds is not secret (no token, no key).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { GatewayPrincipal } from './contracts.js';

export interface AggregateSessionState {
  /** The principal's audit subject (`token:12`, `oidc:…`): the session answers only to it. */
  subject: string;
  protocolVersion: string;
  /** The client capabilities the aggregate passes on upstream; nothing else of the client's. */
  capabilities: Pick<ClientCapabilities, 'sampling' | 'elicitation' | 'roots'>;
  issuedAt: number;
}

/** Signs a payload into a session id and verifies one back (an HMAC'd id any replica can check). */
export interface SessionSigner {
  sign(payload: object): string;
  /** The payload of an id this installation signed, or undefined for any other string. */
  verify(id: string): unknown;
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

export function encodeSession(signer: SessionSigner, state: AggregateSessionState): string {
  return signer.sign({
    k: 'aggregate',
    s: state.subject,
    v: state.protocolVersion,
    c: state.capabilities,
    t: state.issuedAt,
  });
}

/** The session an id describes, or undefined when it is not a valid aggregate session id. */
export function decodeSession(signer: SessionSigner, id: string): AggregateSessionState | undefined {
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

/** `<payload>.<mac>`, both base64url: HMAC-SHA256 over the payload with the installation's secret. */
export function hmacSessionSigner(secret: string): SessionSigner {
  const mac = (payload: string) => createHmac('sha256', secret).update(payload).digest();
  return {
    sign(payload) {
      const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
      return `${body}.${mac(body).toString('base64url')}`;
    },
    verify(id) {
      const [body, signature, extra] = id.split('.');
      if (!body || !signature || extra !== undefined) return undefined;
      const expected = mac(body);
      const given = Buffer.from(signature, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      try {
        return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown;
      } catch {
        return undefined;
      }
    },
  };
}
