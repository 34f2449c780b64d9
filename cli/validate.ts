// Local checks of command-line input, so typos fail fast as `error: <option>: <problem>`
// without a round trip. The API schemas are reused wherever they fit: one contract for both.
import { z } from 'zod';
import { IdParam } from '../lib/schemas/common.js';
import { CliError } from './handle-error.js';

/** Positive 32-bit ids, as the API's path parameters. */
export const Id = IdParam.shape.id;

/** Plain decimal digits: "1e3", "0x10" or "12abc" are typos, not numbers. */
export const WholeNumber = z
  .string()
  .regex(/^\d{1,9}$/, 'must be a whole number')
  .transform(Number);

/** Seconds, fractions allowed; never zero, which would time out every request at once. */
export const Seconds = z
  .string()
  .regex(/^\d{1,6}(\.\d+)?$/, 'must be a number of seconds')
  .transform(Number)
  .refine((n) => n > 0, 'must be more than 0 seconds');

export function checkOption<S extends z.ZodType>(label: string, schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new CliError(`${label}: ${result.error.issues[0]?.message ?? 'is invalid'}`);
}

/**
 * Validates a request body, naming the option at fault instead of the API field: `labels` maps a
 * field path ("source.repository") or its first segment ("config") to the option ("--config").
 * Array indexes under a labelled segment are left out: `notes.1` is `--note`, a repeated option.
 */
export function checkBody<S extends z.ZodType>(schema: S, body: unknown, labels: Record<string, string>): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new CliError('invalid input');
  const path = issue.path.map(String);
  const [first, ...rest] = path;
  const label =
    labels[path.join('.')] ??
    (first !== undefined && labels[first]
      ? [labels[first], ...rest.filter((s) => !/^\d+$/.test(s))].join(' ')
      : path.join('.'));
  throw new CliError(label ? `${label}: ${issue.message}` : issue.message);
}

/** Commander's accumulator for an option that may be repeated (`--note a --note b`). */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** An option that holds JSON (`--evidence '{"suite":"smoke"}'`), parsed or refused naming the option. */
export function parseJsonOption(label: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CliError(`${label}: must be JSON (${(err as Error).message})`);
  }
}

/** The word that clears a field in a PATCH: `--note none` sends `null`. */
export const NONE = 'none';

/** `none` as null, absent as undefined (unchanged), anything else through `parse`. */
export function noneOr<T>(value: string | undefined, parse: (value: string) => T): T | null | undefined {
  if (value === undefined) return undefined;
  return value === NONE ? null : parse(value);
}
