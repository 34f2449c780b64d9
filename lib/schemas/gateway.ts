// The gateway's audit as the API shows it, and the filters of its listing and stream.
import { z } from '@hono/zod-openapi';
import { Timestamp } from './common.js';

export const AUDIT_OUTCOMES = ['ok', 'error', 'denied', 'rate-limited', 'unavailable'] as const;
export type AuditOutcomeName = (typeof AUDIT_OUTCOMES)[number];

const id = (what: string) =>
  z
    .string()
    .regex(/^[1-9]\d{0,17}$/, `must be ${what}`)
    .transform(Number);

export const GatewayAuditFilterQuery = z.object({
  server: id('a server id').optional(),
  token: id('a token id').optional(),
  outcome: z.enum(AUDIT_OUTCOMES).optional(),
  method: z
    .string()
    .max(200)
    .regex(/^[\x21-\x7e]+$/, 'must be a JSON-RPC method such as tools/call')
    .optional(),
  since: z
    .string()
    .max(40)
    .refine((v) => !Number.isNaN(Date.parse(v)), 'must be a date-time such as 2026-12-01T10:00:00Z')
    .transform((v) => new Date(v))
    .optional()
    .openapi({ description: 'Rows at or after this time' }),
});

export const GatewayAuditQuery = GatewayAuditFilterQuery.extend({
  before: id('an audit row id')
    .optional()
    .openapi({ description: 'Rows older than this id: the X-Next-Before header of the previous page' }),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'must be an integer between 1 and 1000')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 1000, 'must be an integer between 1 and 1000')
    .optional(),
}).strict();

export const GatewayAuditStreamQuery = GatewayAuditFilterQuery.strict();

export const GatewayAuditEntry = z
  .object({
    id: z.number().int(),
    at: Timestamp,
    owner_id: z.number().int().nullable().openapi({ description: "The server's owner" }),
    user_id: z.number().int().nullable(),
    subject: z.string().nullable().openapi({ description: '`token:12` or `oidc:<issuer>#<subject>`' }),
    token_id: z.number().int().nullable(),
    server_id: z.number().int().nullable(),
    session_id: z.string().nullable(),
    method: z.string(),
    name: z.string().nullable().openapi({ description: 'The tool, resource URI or prompt named' }),
    outcome: z.enum(AUDIT_OUTCOMES),
    http_status: z.number().int(),
    duration_ms: z.number(),
    request_bytes: z.number().int(),
    response_bytes: z.number().int(),
    arguments_digest: z.string().nullable().openapi({ description: 'sha256 (hex) of the arguments as sent' }),
    arguments: z.unknown().openapi({ description: "Only when the server's config sets audit_arguments: true" }),
    error: z.string().nullable(),
  })
  .openapi('GatewayAuditEntry');
