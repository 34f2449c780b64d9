// Whose rows a read may return: every owner's, or one owner's. Readers pass a scope, not a caller:
// who the caller is and what they may see is the API's decision (api/auth.ts), made once.
import type { Sql } from '../db.js';

export type OwnerScope = { readonly kind: 'all' } | { readonly kind: 'owner'; readonly ownerId: number };

export const everyOwner: OwnerScope = { kind: 'all' };

export function ownerScope(ownerId: number): OwnerScope {
  return { kind: 'owner', ownerId };
}

/** `and <column> = <owner>` for one owner; nothing for every owner. `column` may be qualified (`t.owner_id`). */
export function ownedBy(sql: Sql, scope: OwnerScope, column = 'owner_id') {
  return scope.kind === 'all' ? sql`` : sql`and ${sql(column)} = ${scope.ownerId}`;
}

/** Whether a row of `ownerId` is in the scope (for rows already read, such as a stream's). */
export function inScope(scope: OwnerScope, ownerId: number): boolean {
  return scope.kind === 'all' || scope.ownerId === ownerId;
}
