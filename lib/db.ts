// One postgres.js pool per process; rows keep the snake_case names the API speaks.
import postgres from 'postgres';

export type Sql = postgres.Sql;

export function createSql(url: string, options: { max?: number; applicationName?: string } = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'mcp-host' },
    // int8 (BIGSERIAL ids, count(*)) as a JS number: exact up to 2^53, far beyond this ledger's range.
    types: {
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
  });
}

/** Postgres error codes this code relies on. */
export const PgCode = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
  undefinedTable: '42P01',
  /** NUL or another character the database encoding cannot store (text / JSON). */
  characterNotInRepertoire: '22021',
  untranslatableCharacter: '22P05',
} as const;

export function isPgError(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
