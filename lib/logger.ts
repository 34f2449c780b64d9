// Structured JSON logs (pino). Secrets are redacted by path, wherever they sit in a log object.
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'token',
  'password',
  'authorization',
  '*.token',
  '*.password',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
  '*.ADMIN_TOKEN',
  'ADMIN_TOKEN',
  '*.apiKey',
  'apiKey',
  'TEMPORAL_API_KEY',
  '*.TEMPORAL_API_KEY',
];

export function createLogger(name: string, level: string = 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: name } });
}
