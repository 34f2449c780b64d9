// First-start set-up of the bootstrap admin and its token, safe when several processes boot at once.
import type { Sql } from '../db.js';
import { generateToken, hashToken, tokenPrefix } from '../tokens.js';
import { TOKEN_CHANGES_CHANNEL } from './tokens.js';

const LOCK_KEY = 727_002; // "mcp-host bootstrap"
const BOOTSTRAP_TOKEN_NAME = 'bootstrap';

export interface BootstrapResult {
  adminId: number;
  /** A token generated now; the caller prints it once. Undefined when nothing new was generated. */
  generatedToken?: string;
}

/**
 * Ensures an admin exists. With `adminToken`, that value becomes the admin's bootstrap token
 * (replacing an earlier bootstrap token). Without it, a token is generated only when the admin has
 * no usable token at all, i.e. on first start.
 */
export async function bootstrapAdmin(
  sql: Sql,
  opts: { adminEmail: string; adminToken?: string; defaultQuota: number },
): Promise<BootstrapResult> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${LOCK_KEY})`;
    const [existing] = await tx<{ id: number }[]>`select id from users where role = 'admin' order by id limit 1`;
    const adminId =
      existing?.id ??
      (
        await tx<{ id: number }[]>`
          insert into users (email, role, server_quota) values (${opts.adminEmail}, 'admin', ${opts.defaultQuota})
          returning id`
      )[0]!.id;

    if (opts.adminToken) {
      const hash = hashToken(opts.adminToken);
      const [same] = await tx`select id from api_tokens where token_hash = ${hash} and revoked_at is null`;
      if (!same) {
        await tx`update api_tokens set revoked_at = now()
                 where user_id = ${adminId} and name = ${BOOTSTRAP_TOKEN_NAME} and revoked_at is null`;
        await tx`select pg_notify(${TOKEN_CHANGES_CHANNEL}, '*')`;
        await tx`insert into api_tokens (user_id, name, token_hash, prefix)
                 values (${adminId}, ${BOOTSTRAP_TOKEN_NAME}, ${hash}, ${tokenPrefix(opts.adminToken)})`;
      }
      return { adminId };
    }

    const [usable] = await tx`
      select id from api_tokens
      where user_id = ${adminId} and revoked_at is null and (expires_at is null or expires_at > now())
      limit 1`;
    if (usable) return { adminId };
    const token = generateToken();
    await tx`insert into api_tokens (user_id, name, token_hash, prefix)
             values (${adminId}, ${BOOTSTRAP_TOKEN_NAME}, ${hashToken(token)}, ${tokenPrefix(token)})`;
    return { adminId, generatedToken: token };
  });
}
