// The one place failures become `error: <message>` on stderr and exit code 1.

/** A failure already phrased for the operator. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
}

/** The API could not be reached, or the connection broke; worth retrying for long-running commands. */
export class ConnectionError extends CliError {
  override readonly name = 'ConnectionError';
}

/** A non-2xx answer. `code` is absent when the body was not the API's `{error: {...}}` shape (e.g. a proxy page). */
export class ApiHttpError extends Error {
  override readonly name = 'ApiHttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Reads the API's error body; anything else is reported with its status and a short excerpt. */
export function apiErrorFrom(status: number, statusText: string, bodyText: string): ApiHttpError {
  try {
    const { error } = JSON.parse(bodyText) as { error?: { code?: unknown; message?: unknown; field?: unknown } };
    if (error && typeof error.code === 'string' && typeof error.message === 'string') {
      return new ApiHttpError(
        status,
        error.message,
        error.code,
        typeof error.field === 'string' ? error.field : undefined,
      );
    }
  } catch {
    // not JSON: fall through
  }
  const excerpt = bodyText.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new ApiHttpError(
    status,
    `unexpected response HTTP ${status} ${statusText}`.trim() + (excerpt ? `: ${excerpt}` : ''),
  );
}

export function formatError(err: unknown): string {
  if (err instanceof ApiHttpError) {
    return err.code === undefined ? `error: ${err.message}` : `error: ${err.message} (${err.code}, HTTP ${err.status})`;
  }
  if (err instanceof Error) return `error: ${err.message}`;
  return `error: ${String(err)}`;
}

export function handleError(err: unknown): void {
  process.stderr.write(`${formatError(err)}\n`);
  process.exitCode = 1;
}
