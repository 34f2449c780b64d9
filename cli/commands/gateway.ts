// mcpctl gateway audit: the calls that went through the MCP gateway, newest first, optionally
// followed live (the latest page oldest first, then new rows as they are written).
import { Command, Option } from 'commander';
import type { z } from 'zod';
import { AUDIT_OUTCOMES, GatewayAuditFilterQuery, type GatewayAuditEntry } from '../../lib/schemas/gateway.js';
import { clientFrom, type ApiClient } from '../client.js';
import { followStream, parseData } from '../follow.js';
import { plain, show, withJson, type Cell } from '../output.js';
import { checkOption, Id } from '../validate.js';
import { Limit } from './builds.js';

type AuditRow = z.infer<typeof GatewayAuditEntry>;

const who = (r: AuditRow) => r.subject ?? (r.user_id === null ? null : `user:${r.user_id}`);
const ms = (r: AuditRow) => `${r.duration_ms.toFixed(1)}ms`;

export const auditTable = (rows: AuditRow[]): [string[], Cell[][]] => [
  ['id', 'time', 'server', 'who', 'method', 'name', 'outcome', 'status', 'duration', 'error'],
  rows.map((r) => [
    r.id,
    r.at,
    r.server_id,
    who(r),
    r.method,
    r.name === null ? null : plain(r.name),
    r.outcome,
    r.http_status,
    ms(r),
    r.error === null ? null : plain(r.error),
  ]),
];

/** One followed row per line, columns as in the table. */
export const auditLine = (r: AuditRow) =>
  [
    String(r.id),
    r.at,
    String(r.server_id ?? '-'),
    who(r) ?? '-',
    plain(r.method),
    r.name === null ? '-' : plain(r.name),
    r.outcome,
    String(r.http_status),
    ms(r),
    r.error === null ? '' : plain(r.error),
  ].join('  ');

function isAuditRow(value: unknown): value is AuditRow {
  const r = value as AuditRow | null;
  return typeof r === 'object' && r !== null && typeof r.id === 'number' && typeof r.method === 'string';
}

export interface AuditOptions {
  server?: string;
  tokenId?: string;
  outcome?: string;
  method?: string;
  since?: string;
  limit?: string;
}

/** The query of the listing (and, without `limit`, of the stream), checked against the API's schema. */
export function auditQuery(opts: AuditOptions, withLimit: boolean): string {
  const query = new URLSearchParams();
  if (opts.server !== undefined) query.set('server', String(checkOption('--server', Id, opts.server)));
  if (opts.tokenId !== undefined) query.set('token', String(checkOption('--token-id', Id, opts.tokenId)));
  const shape = GatewayAuditFilterQuery.shape;
  if (opts.outcome !== undefined) query.set('outcome', checkOption('--outcome', shape.outcome, opts.outcome)!);
  if (opts.method !== undefined) query.set('method', checkOption('--method', shape.method, opts.method)!);
  if (opts.since !== undefined) {
    query.set('since', checkOption('--since', shape.since, opts.since)!.toISOString());
  }
  if (withLimit && opts.limit !== undefined) query.set('limit', String(checkOption('--limit', Limit, opts.limit)));
  const text = query.toString();
  return text ? `?${text}` : '';
}

async function follow(client: ApiClient, opts: AuditOptions, page: AuditRow[], json: boolean | undefined) {
  const print = (r: AuditRow) => process.stdout.write(json ? `${JSON.stringify(r)}\n` : `${auditLine(r)}\n`);
  for (const r of [...page].reverse()) print(r);
  await followStream(client, {
    path: `/api/gateway/audit/stream${auditQuery(opts, false)}`,
    lastEventId: String(page[0]?.id ?? 0),
    onNote: (note) => process.stderr.write(`mcpctl: ${note}\n`),
    onFrame: (frame) => {
      if (frame.event === 'audit') print(parseData(frame, isAuditRow));
    },
  });
}

export function gatewayCommand(): Command {
  const gateway = new Command('gateway').description('the MCP gateway: who called what through /mcp');

  withJson(gateway.command('audit').description('calls through the gateway, newest first'))
    .option('--server <id>', 'calls to this server')
    .option('--token-id <id>', 'calls made with this token')
    .addOption(new Option('--outcome <outcome>', 'calls with this outcome').choices([...AUDIT_OUTCOMES]))
    .option('--method <method>', 'calls of this JSON-RPC method, e.g. tools/call')
    .option('--since <time>', 'calls at or after this time, e.g. 2026-12-01T10:00:00Z')
    .option('--limit <n>', 'at most this many rows (1-1000, default 50)')
    .option('-f, --follow', 'print the latest rows oldest first, then new ones as they happen (until interrupted)')
    .action(async (opts: AuditOptions & { follow?: boolean; json?: boolean }, cmd: Command) => {
      const client = clientFrom(cmd);
      const page = await client.get<AuditRow[]>(`/api/gateway/audit${auditQuery(opts, true)}`);
      if (opts.follow) return follow(client, opts, page, opts.json);
      show(opts.json, page, auditTable);
    });

  return gateway;
}
