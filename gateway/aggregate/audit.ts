// The audit of one aggregate session: one row per JSON-RPC message from the client, answered or not
// (a request's row is written when its answer goes out, with the outcome and the duration), naming the
// server and its own item name for what routes to one server.
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { ServerRoute } from '../../lib/ledger/runtime.js';
import type { AuditOutcome, GatewayAuditEntry } from '../contracts.js';
import { digestArguments } from '../messages.js';
import { namedItem, unqualify } from './names.js';

export interface AuditContext {
  /** The servers the session knows now with their prefixes, if it listed them yet (no I/O on this path). */
  knownTargets(): { list: ServerRoute[]; prefixes: Map<number, string> } | undefined;
  record(entry: Partial<GatewayAuditEntry>, durationMs: number, outcome: AuditOutcome, httpStatus?: number): void;
}

/** The audit row's fields a request's method and params decide (server and name from its prefix). */
export function describeMessage(
  ctx: Pick<AuditContext, 'knownTargets'>,
  method: string,
  params: unknown,
  requestBytes: number,
): Partial<GatewayAuditEntry> {
  const item = namedItem(method, params);
  const split = item && unqualify(item);
  const known = ctx.knownTargets();
  const target = split && known?.list.find((t) => known.prefixes.get(t.serverId) === split.prefix);
  const args =
    method === 'tools/call' || method === 'prompts/get' ? (params as { arguments?: unknown })?.arguments : undefined;
  return {
    serverId: target?.serverId ?? null,
    method,
    name: split?.name ?? item?.name ?? null,
    requestBytes,
    argumentsDigest: digestArguments(args),
    arguments: target?.auditArguments ? (args ?? null) : null,
  };
}

/** Wraps the transport's message hooks so every message from the client, and every answer to it, is audited. */
export function auditTransport(t: WebStandardStreamableHTTPServerTransport, ctx: AuditContext): void {
  const pending = new Map<RequestId, { started: number; entry: Partial<GatewayAuditEntry> }>();
  const onmessage = t.onmessage!;
  t.onmessage = (message, extra) => {
    const bytes = JSON.stringify(message).length;
    if (isJSONRPCRequest(message)) {
      pending.set(message.id, {
        started: Date.now(),
        entry: describeMessage(ctx, message.method, message.params, bytes),
      });
    } else {
      const notification = isJSONRPCNotification(message);
      const method = notification ? message.method : 'response';
      ctx.record(describeMessage(ctx, method, notification ? message.params : undefined, bytes), 0, 'ok');
    }
    onmessage.call(t, message, extra);
  };
  const send = t.send.bind(t);
  t.send = async (message, options) => {
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const started = message.id === undefined ? undefined : pending.get(message.id);
      if (started && message.id !== undefined) {
        pending.delete(message.id);
        const entry = { ...started.entry, responseBytes: JSON.stringify(message).length };
        if (isJSONRPCErrorResponse(message)) entry.error = message.error.message;
        ctx.record(entry, Date.now() - started.started, isJSONRPCErrorResponse(message) ? 'error' : 'ok');
      }
    }
    return send(message, options);
  };
}
