// Opaque API tokens: 256 random bits, shown once; only their SHA-256 is stored. A slow hash buys
// nothing for a random 256-bit secret and would cost every request.
import { hash, randomBytes } from 'node:crypto';

const TOKEN_PREFIX = 'mcph_';

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): Buffer {
  // One-shot: every authenticated request hashes its token, and a Hash object per call costs more than the digest.
  return hash('sha256', token, 'buffer');
}

/** What listings show to tell tokens apart without revealing them. */
export function tokenPrefix(token: string): string {
  return token.slice(0, TOKEN_PREFIX.length + 6);
}
