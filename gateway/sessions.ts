// The gateway's Mcp-Session-Id: a signed wrapper of what routing a session needs (the hosted server's
// own session id, the server, the principal it belongs to and the launch it was opened on), so any
// replica, or the same one after a restart, verifies and routes it without shared memory. Signed, not
// encrypted: the upstream id it carries is useless outside the server's own network.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface GatewaySession {
  /** The hosted server's Mcp-Session-Id, or null when it issued none. */
  upstream: string | null;
  serverId: number;
  /** The principal's subject (`token:12`): another principal presenting the id is refused. */
  subject: string;
  /** The launch the session was opened on (ServerRoute.generation). */
  generation: string;
  /**
   * Random, chosen at the session's initialize and kept for its life: two sessions of one principal on
   * one launch of a server that keeps no session of its own still have ids of their own (the limits
   * count sessions per token by id).
   */
  nonce?: string;
}

interface Payload {
  u: string | null;
  s: number;
  p: string;
  g: string;
  n?: string;
}

const SIG_BYTES = 32;

export interface SessionSigner {
  sign(session: GatewaySession): string;
  /** The session, or undefined for an id this installation did not sign (or one tampered with). */
  verify(id: string): GatewaySession | undefined;
}

/** Ids that carry a JSON payload and its HMAC-SHA256: `<body>.<mac>`, both base64url. */
export interface SignedIds {
  sign(payload: object): string;
  /** The payload, or undefined for an id this key did not sign (or one tampered with). */
  verify(id: string): unknown;
}

export function signedIds(key: Buffer): SignedIds {
  const mac = (body: string) => createHmac('sha256', key).update(body).digest();
  return {
    sign(payload) {
      const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
      return `${body}.${mac(body).toString('base64url')}`;
    },
    verify(id) {
      const dot = id.indexOf('.');
      if (dot <= 0 || id.length > 4096) return undefined;
      const body = id.slice(0, dot);
      const sig = Buffer.from(id.slice(dot + 1), 'base64url');
      if (sig.length !== SIG_BYTES || !timingSafeEqual(sig, mac(body))) return undefined;
      try {
        return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown;
      } catch {
        return undefined;
      }
    },
  };
}

/** Ids verified once are remembered (a session sends its id on every request; an HMAC each time is waste). */
const VERIFIED_MAX = 20_000;

export function sessionSigner(key: Buffer): SessionSigner {
  const ids = signedIds(key);
  const verified = new Map<string, GatewaySession>();
  const decode = (id: string): GatewaySession | undefined => {
    const p = ids.verify(id) as Payload | undefined;
    if (typeof p !== 'object' || p === null) return undefined;
    if (typeof p.s !== 'number' || typeof p.p !== 'string' || typeof p.g !== 'string') return undefined;
    if (p.u !== null && typeof p.u !== 'string') return undefined;
    if (p.n !== undefined && typeof p.n !== 'string') return undefined;
    const session: GatewaySession = { upstream: p.u, serverId: p.s, subject: p.p, generation: p.g };
    if (p.n !== undefined) session.nonce = p.n;
    return session;
  };
  return {
    sign(session) {
      const payload: Payload = { u: session.upstream, s: session.serverId, p: session.subject, g: session.generation };
      if (session.nonce !== undefined) payload.n = session.nonce;
      return ids.sign(payload);
    },
    verify(id) {
      const known = verified.get(id);
      if (known) return known;
      const session = decode(id);
      if (session) {
        if (verified.size >= VERIFIED_MAX) verified.clear();
        verified.set(id, session);
      }
      return session;
    },
  };
}
