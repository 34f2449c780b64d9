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
}

interface Payload {
  u: string | null;
  s: number;
  p: string;
  g: string;
}

const SIG_BYTES = 32;

export interface SessionSigner {
  sign(session: GatewaySession): string;
  /** The session, or undefined for an id this installation did not sign (or one tampered with). */
  verify(id: string): GatewaySession | undefined;
}

export function sessionSigner(key: Buffer): SessionSigner {
  const mac = (body: string) => createHmac('sha256', key).update(body).digest();
  return {
    sign(session) {
      const payload: Payload = { u: session.upstream, s: session.serverId, p: session.subject, g: session.generation };
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
        const p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
        if (typeof p.s !== 'number' || typeof p.p !== 'string' || typeof p.g !== 'string') return undefined;
        if (p.u !== null && typeof p.u !== 'string') return undefined;
        return { upstream: p.u, serverId: p.s, subject: p.p, generation: p.g };
      } catch {
        return undefined;
      }
    },
  };
}
