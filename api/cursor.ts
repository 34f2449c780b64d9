// The opaque keyset cursor of the catalog's pages (the marketplace and the registry API): the last
// row's sort time and id, so a page follows the previous one exactly however rows are added.
import { ApiError } from '../lib/errors.js';

export function encodeCursor(row: { sort_at: Date; id: number }): string {
  return Buffer.from(JSON.stringify([row.sort_at.toISOString(), row.id])).toString('base64url');
}

export function decodeCursor(cursor: string): { at: Date; id: number } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    const date = new Date(String(at));
    if (typeof at === 'string' && !Number.isNaN(date.getTime()) && Number.isSafeInteger(id))
      return { at: date, id: id as number };
  } catch {
    // fall through
  }
  throw new ApiError(422, 'validation_failed', 'cursor: not a cursor this API issued', 'cursor');
}
