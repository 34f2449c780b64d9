// The users aggregate: users, created by admins, each with a role and a server quota.
import { isPgError, PgCode, type Sql } from '../db.js';
import { ApiError } from '../errors.js';
import type { User } from '../schemas/auth.js';

export interface UserRow {
  id: number;
  email: string;
  role: User['role'];
  server_quota: number;
  created_at: Date;
}

export const toUser = (row: UserRow): User => ({ ...row, created_at: row.created_at.toISOString() });

/** Creates a user; 409 when the email is taken. */
export async function createUser(
  sql: Sql,
  u: { email: string; role: User['role']; serverQuota: number },
): Promise<UserRow> {
  try {
    const [row] = await sql<UserRow[]>`
      insert into users (email, role, server_quota)
      values (${u.email}, ${u.role}, ${u.serverQuota})
      returning id, email, role, server_quota, created_at`;
    return row!;
  } catch (err) {
    if (isPgError(err, PgCode.uniqueViolation)) {
      throw new ApiError(409, 'email_taken', `a user with email ${u.email} already exists`, 'email');
    }
    throw err;
  }
}

export function listUsers(sql: Sql): Promise<UserRow[]> {
  return sql<UserRow[]>`select id, email, role, server_quota, created_at from users order by id`;
}

export async function findUser(sql: Sql, id: number): Promise<UserRow | undefined> {
  const [row] = await sql<UserRow[]>`select id, email, role, server_quota, created_at from users where id = ${id}`;
  return row;
}

/** The user with this email (case-insensitive, as the unique index compares). */
export async function findUserByEmail(sql: Sql, email: string): Promise<UserRow | undefined> {
  const [row] = await sql<UserRow[]>`
    select id, email, role, server_quota, created_at from users where lower(email) = lower(${email})`;
  return row;
}
