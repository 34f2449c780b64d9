import { describe, expect, it } from 'vitest';
import { apiErrorFrom, CliError, formatError } from '../../cli/handle-error.js';

describe('error messages', () => {
  it('shows the API error as "<message> (<code>, HTTP <status>)"', () => {
    const body = JSON.stringify({
      error: { code: 'quota_exceeded', message: 'server quota of 5 reached; delete a server or ask an admin' },
    });
    expect(formatError(apiErrorFrom(409, 'Conflict', body))).toBe(
      'error: server quota of 5 reached; delete a server or ask an admin (quota_exceeded, HTTP 409)',
    );
  });

  it('keeps the field the API names', () => {
    const body = JSON.stringify({ error: { code: 'validation_failed', message: 'name: too long', field: 'name' } });
    const err = apiErrorFrom(422, 'Unprocessable Entity', body);
    expect(err.field).toBe('name');
    expect(formatError(err)).toBe('error: name: too long (validation_failed, HTTP 422)');
  });

  it('reports a body that is not the API error shape by status and a short excerpt', () => {
    const html = `<html>\n<body>502 Bad Gateway</body>\n</html>${'x'.repeat(500)}`;
    const message = formatError(apiErrorFrom(502, 'Bad Gateway', html));
    expect(
      message.startsWith('error: unexpected response HTTP 502 Bad Gateway: <html> <body>502 Bad Gateway</body>'),
    ).toBe(true);
    expect(message.length).toBeLessThan(300);
    expect(formatError(apiErrorFrom(500, 'Internal Server Error', '{"message":"boom"}'))).toBe(
      'error: unexpected response HTTP 500 Internal Server Error: {"message":"boom"}',
    );
  });

  it('prints local failures as they are phrased', () => {
    expect(formatError(new CliError('ID: must be a positive integer'))).toBe('error: ID: must be a positive integer');
  });
});
