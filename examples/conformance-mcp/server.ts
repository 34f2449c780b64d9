// An MCP server that offers what the official conformance suite's server scenarios ask for (`npx conformance
// list`): tools that return each content type, report progress, log, fail, and ask the client for sampling and
// elicitation; static and templated resources with subscriptions; prompts; completion; logging levels; resumable
// SSE streams (SEP-1699) and DNS rebinding protection. Streamable HTTP on $PORT (`--stdio` for stdio).
//
// Node runs this file as it is (type stripping): erasable TypeScript only, no build step, no local imports.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { crc32, deflateSync } from 'node:zlib';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport, type EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  isInitializeRequest,
  LATEST_PROTOCOL_VERSION,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  UnsubscribeRequestSchema,
  type CallToolResult,
  type ElicitRequestFormParams,
  type GetPromptResult,
  type JSONRPCMessage,
  type LoggingLevel,
  type Prompt,
  type ReadResourceResult,
  type Resource,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';

const SERVER_INFO = { name: 'conformance-mcp', version: '1.0.0' };

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type Args = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------------------------
// Content the tools, resources and prompts return: a real 1x1 red PNG and a tenth of a second of silent WAV,
// made here rather than pasted as opaque base64.

function pngPixel(r: number, g: number, b: number): string {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(1, 0); // width
  header.writeUInt32BE(1, 4); // height
  header[8] = 8; // bits per channel
  header[9] = 2; // truecolour RGB
  const scanline = Buffer.from([0, r, g, b]); // filter type 0, then the one pixel
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(scanline)),
    chunk('IEND', Buffer.alloc(0)),
  ]).toString('base64');
}

function silentWav(samples: number, rate: number): string {
  const data = Buffer.alloc(samples, 0x80); // unsigned 8-bit PCM: 0x80 is silence
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16); // fmt chunk size
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate, 28); // bytes per second
  h.writeUInt16LE(1, 32); // block align
  h.writeUInt16LE(8, 34); // bits per sample
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]).toString('base64');
}

const RED_PIXEL_PNG = pngPixel(255, 0, 0);
const SILENT_WAV = silentWav(800, 8000);

// ---------------------------------------------------------------------------------------------------------------
// One MCP session: a Server of the SDK with the state the session's requests share.

/** The logging levels in rising severity, as `logging/setLevel` names them. */
const LEVELS: LoggingLevel[] = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

interface SessionState {
  /** Messages below this level are not sent; before `logging/setLevel` every message is. */
  logLevel: LoggingLevel | undefined;
  /** Resource URIs the client subscribed to (`resources/subscribe`). */
  subscriptions: Set<string>;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });
const toolError = (t: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text: t }] });
const noArguments = { type: 'object' as const, properties: {} };

/** A required string argument, or the tool error that names it (a tool execution error, not a protocol one). */
function stringArgument(args: Args, name: string): string | CallToolResult {
  const value = args[name];
  return typeof value === 'string' ? value : toolError(`Argument "${name}" (string) is required`);
}

interface ToolEntry {
  tool: Tool;
  run(args: Args, extra: Extra, session: SessionState, server: Server): Promise<CallToolResult>;
}

async function log(extra: Extra, session: SessionState, level: LoggingLevel, data: string) {
  if (session.logLevel && LEVELS.indexOf(level) < LEVELS.indexOf(session.logLevel)) return;
  // Sent with the request (relatedRequestId): it travels on the tool call's own SSE stream.
  await extra.sendNotification({ method: 'notifications/message', params: { level, logger: 'conformance-mcp', data } });
}

async function elicit(server: Server, extra: Extra, params: ElicitRequestFormParams): Promise<CallToolResult> {
  if (!server.getClientCapabilities()?.elicitation) return toolError('The client does not support elicitation');
  const result = await extra.sendRequest({ method: 'elicitation/create', params }, ElicitResultSchema);
  return text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
}

const WATCHED_URI = 'test://watched-resource';

const TOOLS: ToolEntry[] = [
  {
    tool: { name: 'test_simple_text', description: 'Returns a simple text response', inputSchema: noArguments },
    run: async () => text('This is a simple text response for testing.'),
  },
  {
    tool: { name: 'test_image_content', description: 'Returns a 1x1 red PNG image', inputSchema: noArguments },
    run: async () => ({ content: [{ type: 'image', data: RED_PIXEL_PNG, mimeType: 'image/png' }] }),
  },
  {
    tool: { name: 'test_audio_content', description: 'Returns a short silent WAV clip', inputSchema: noArguments },
    run: async () => ({ content: [{ type: 'audio', data: SILENT_WAV, mimeType: 'audio/wav' }] }),
  },
  {
    tool: {
      name: 'test_embedded_resource',
      description: 'Returns an embedded text resource',
      inputSchema: noArguments,
    },
    run: async () => ({
      content: [
        {
          type: 'resource',
          resource: {
            uri: 'test://embedded-resource',
            mimeType: 'text/plain',
            text: 'This is an embedded resource content.',
          },
        },
      ],
    }),
  },
  {
    tool: {
      name: 'test_multiple_content_types',
      description: 'Returns text, an image and an embedded resource',
      inputSchema: noArguments,
    },
    run: async () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: RED_PIXEL_PNG, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  },
  {
    tool: {
      name: 'test_tool_with_logging',
      description: 'Sends three log messages while it runs',
      inputSchema: noArguments,
    },
    run: async (_args, extra, session) => {
      await log(extra, session, 'info', 'Tool execution started');
      await sleep(50, extra.signal);
      await log(extra, session, 'info', 'Tool processing data');
      await sleep(50, extra.signal);
      await log(extra, session, 'info', 'Tool execution completed');
      return text('Tool with logging executed successfully');
    },
  },
  {
    tool: { name: 'test_error_handling', description: 'Always fails (isError: true)', inputSchema: noArguments },
    run: async () => toolError('This tool intentionally returns an error for testing'),
  },
  {
    tool: {
      name: 'test_tool_with_progress',
      description: 'Reports progress 0, 50 and 100 of 100 when the call carries a progress token',
      inputSchema: noArguments,
    },
    run: async (_args, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progress > 0) await sleep(50, extra.signal);
        if (progressToken !== undefined)
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress, total: 100, message: `${progress}% done` },
          });
      }
      return text('Tool with progress executed successfully');
    },
  },
  {
    tool: {
      name: 'test_sampling',
      description: 'Asks the client for an LLM completion of the prompt (sampling/createMessage)',
      inputSchema: {
        type: 'object',
        properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' } },
        required: ['prompt'],
      },
    },
    run: async (args, extra, _session, server) => {
      const prompt = stringArgument(args, 'prompt');
      if (typeof prompt !== 'string') return prompt;
      if (!server.getClientCapabilities()?.sampling) return toolError('The client does not support sampling');
      const result = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 },
        },
        CreateMessageResultSchema,
      );
      const reply = result.content.type === 'text' ? result.content.text : `[${result.content.type}]`;
      return text(`LLM response: ${reply}`);
    },
  },
  {
    tool: {
      name: 'test_elicitation',
      description: 'Asks the user for a username and an email address (elicitation/create)',
      inputSchema: {
        type: 'object',
        properties: { message: { type: 'string', description: 'The message to show the user' } },
        required: ['message'],
      },
    },
    run: async (args, extra, _session, server) => {
      const message = stringArgument(args, 'message');
      if (typeof message !== 'string') return message;
      return elicit(server, extra, {
        message,
        requestedSchema: {
          type: 'object',
          properties: {
            username: { type: 'string', description: "User's response" },
            email: { type: 'string', description: "User's email address" },
          },
          required: ['username', 'email'],
        },
      });
    },
  },
  {
    tool: {
      name: 'test_elicitation_sep1034_defaults',
      description: 'Elicits fields of every primitive type, each with a default value (SEP-1034)',
      inputSchema: noArguments,
    },
    run: async (_args, extra, _session, server) =>
      elicit(server, extra, {
        message: 'Please review and update the form fields with defaults',
        requestedSchema: {
          type: 'object',
          properties: {
            name: { type: 'string', title: 'Name', description: 'User name', default: 'John Doe' },
            age: { type: 'integer', title: 'Age', minimum: 0, maximum: 150, default: 30 },
            score: { type: 'number', title: 'Score', minimum: 0, maximum: 100, default: 95.5 },
            status: { type: 'string', title: 'Status', enum: ['active', 'inactive', 'pending'], default: 'active' },
            verified: { type: 'boolean', title: 'Verified', default: true },
          },
        },
      }),
  },
  {
    tool: {
      name: 'test_elicitation_sep1330_enums',
      description:
        'Elicits the five enum variants: untitled, titled and legacy single-select, two multi-selects (SEP-1330)',
      inputSchema: noArguments,
    },
    run: async (_args, extra, _session, server) =>
      elicit(server, extra, {
        message: 'Please pick from each kind of enum',
        requestedSchema: {
          type: 'object',
          properties: {
            untitledSingle: { type: 'string', title: 'Untitled single', enum: ['option1', 'option2', 'option3'] },
            titledSingle: {
              type: 'string',
              title: 'Titled single',
              oneOf: [
                { const: 'value1', title: 'First Option' },
                { const: 'value2', title: 'Second Option' },
                { const: 'value3', title: 'Third Option' },
              ],
            },
            legacyEnum: {
              type: 'string',
              title: 'Legacy titled',
              enum: ['opt1', 'opt2', 'opt3'],
              enumNames: ['Option One', 'Option Two', 'Option Three'],
            },
            untitledMulti: {
              type: 'array',
              title: 'Untitled multi',
              items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            },
            titledMulti: {
              type: 'array',
              title: 'Titled multi',
              items: {
                anyOf: [
                  { const: 'value1', title: 'First Choice' },
                  { const: 'value2', title: 'Second Choice' },
                  { const: 'value3', title: 'Third Choice' },
                ],
              },
            },
          },
        },
      }),
  },
  {
    tool: {
      name: 'json_schema_2020_12_tool',
      description: 'Tool with JSON Schema 2020-12 features',
      inputSchema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        $defs: {
          address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } },
        },
        properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
        additionalProperties: false,
      },
    },
    run: async (args) => text(`Received: ${JSON.stringify(args)}`),
  },
  {
    tool: {
      name: 'test_update_watched_resource',
      description: 'Changes test://watched-resource: a session subscribed to it gets notifications/resources/updated',
      inputSchema: noArguments,
    },
    run: async (_args, extra, session) => {
      if (!session.subscriptions.has(WATCHED_URI)) return text(`Not subscribed to ${WATCHED_URI}: nothing sent`);
      await extra.sendNotification({ method: 'notifications/resources/updated', params: { uri: WATCHED_URI } });
      return text(`Sent notifications/resources/updated for ${WATCHED_URI}`);
    },
  },
  {
    tool: {
      name: 'test_reconnection',
      description:
        'Closes its SSE stream before it answers, so the client resumes with Last-Event-ID to get the result (SEP-1699)',
      inputSchema: noArguments,
    },
    run: async (_args, extra) => {
      // Without resumability (stdio, or a client older than 2025-11-25) there is no stream to close.
      if (extra.closeSSEStream) {
        await sleep(20, extra.signal);
        extra.closeSSEStream();
        await sleep(RETRY_MS / 2, extra.signal);
      }
      return text('Reconnection test completed: the result arrived after the stream was closed');
    },
  },
];
const TOOLS_BY_NAME = new Map(TOOLS.map((t) => [t.tool.name, t]));

const RESOURCES: (Resource & { text?: string; blob?: string })[] = [
  {
    uri: 'test://static-text',
    name: 'static-text',
    description: 'A static text resource',
    mimeType: 'text/plain',
    text: 'This is the content of the static text resource.',
  },
  {
    uri: 'test://static-binary',
    name: 'static-binary',
    description: 'A static binary resource (a 1x1 red PNG)',
    mimeType: 'image/png',
    blob: RED_PIXEL_PNG,
  },
  {
    uri: WATCHED_URI,
    name: 'watched-resource',
    description: 'A resource clients may subscribe to',
    mimeType: 'text/plain',
    text: 'This resource may be watched for updates.',
  },
];
const TEMPLATE = {
  uriTemplate: 'test://template/{id}/data',
  name: 'template-data',
  description: 'Data for an id, substituted into the URI',
  mimeType: 'application/json',
};
const TEMPLATE_URI = /^test:\/\/template\/([^/]+)\/data$/;

function readResource(uri: string): ReadResourceResult {
  const found = RESOURCES.find((r) => r.uri === uri);
  if (found) {
    const { uri: u, mimeType, text: t, blob } = found;
    return { contents: [t !== undefined ? { uri: u, mimeType, text: t } : { uri: u, mimeType, blob: blob ?? '' }] };
  }
  const match = TEMPLATE_URI.exec(uri);
  if (match) {
    let id: string;
    try {
      id = decodeURIComponent(match[1]!);
    } catch {
      throw new McpError(ErrorCode.InvalidParams, `Malformed escape in the template's id: ${uri}`);
    }
    return {
      contents: [
        {
          uri,
          mimeType: 'application/json',
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
        },
      ],
    };
  }
  // -32002 is the code the specification gives a resource that does not exist.
  throw new McpError(-32002, `Resource not found: ${uri}`, { uri });
}

const PROMPTS: Prompt[] = [
  { name: 'test_simple_prompt', description: 'A simple prompt without arguments' },
  {
    name: 'test_prompt_with_arguments',
    description: 'A prompt with two required arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
  },
  {
    name: 'test_prompt_with_embedded_resource',
    description: 'A prompt that embeds the resource it is given',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
  },
  { name: 'test_prompt_with_image', description: 'A prompt with an image' },
];

function getPrompt(name: string, args: Record<string, string>): GetPromptResult {
  const prompt = PROMPTS.find((p) => p.name === name);
  if (!prompt) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
  for (const a of prompt.arguments ?? []) {
    if (a.required && args[a.name] === undefined)
      throw new McpError(ErrorCode.InvalidParams, `Prompt ${name}: argument "${a.name}" is required`);
  }
  switch (name) {
    case 'test_prompt_with_arguments':
      return {
        messages: [
          {
            role: 'user',
            content: { type: 'text', text: `Prompt with arguments: arg1='${args.arg1}', arg2='${args.arg2}'` },
          },
        ],
      };
    case 'test_prompt_with_embedded_resource':
      return {
        messages: [
          {
            role: 'user',
            content: {
              type: 'resource',
              resource: {
                uri: args.resourceUri!,
                mimeType: 'text/plain',
                text: 'Embedded resource content for testing.',
              },
            },
          },
          { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
        ],
      };
    case 'test_prompt_with_image':
      return {
        messages: [
          { role: 'user', content: { type: 'image', data: RED_PIXEL_PNG, mimeType: 'image/png' } },
          { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
        ],
      };
    default:
      return { messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }] };
  }
}

/** Completion candidates per prompt argument and per template variable. */
const COMPLETIONS: Record<string, string[]> = {
  'prompt:test_prompt_with_arguments:arg1': ['paris', 'park', 'party', 'test-value-1', 'test-value-2'],
  'prompt:test_prompt_with_arguments:arg2': ['world', 'word', 'test-value-3'],
  [`resource:${TEMPLATE.uriTemplate}:id`]: ['1', '2', '3', '42', '123'],
};

function createSession(): Server {
  const state: SessionState = { logLevel: undefined, subscriptions: new Set() };
  const server = new Server(SERVER_INFO, {
    capabilities: {
      tools: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
      prompts: { listChanged: true },
      logging: {},
      completions: {},
    },
    instructions: 'A server for the MCP conformance suite: every tool, resource and prompt is named test_* or test://.',
  });

  server.setRequestHandler(SetLevelRequestSchema, async (request) => {
    state.logLevel = request.params.level;
    return {};
  });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS.map((t) => t.tool) }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const entry = TOOLS_BY_NAME.get(request.params.name);
    if (!entry) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    return entry.run(request.params.arguments ?? {}, extra, state, server);
  });

  server.setRequestHandler(ListResourcesRequestSchema, async () => ({
    resources: RESOURCES.map(({ uri, name, description, mimeType }) => ({ uri, name, description, mimeType })),
  }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: [TEMPLATE] }));
  server.setRequestHandler(ReadResourceRequestSchema, async (request) => readResource(request.params.uri));
  server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    readResource(request.params.uri); // refuses a resource that does not exist
    state.subscriptions.add(request.params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    state.subscriptions.delete(request.params.uri);
    return {};
  });

  server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, async (request) =>
    getPrompt(request.params.name, request.params.arguments ?? {}),
  );

  server.setRequestHandler(CompleteRequestSchema, async (request) => {
    const { ref, argument } = request.params;
    const key = ref.type === 'ref/prompt' ? `prompt:${ref.name}` : `resource:${ref.uri}`;
    if (ref.type === 'ref/prompt' && !PROMPTS.some((p) => p.name === ref.name))
      throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${ref.name}`);
    const values = (COMPLETIONS[`${key}:${argument.name}`] ?? []).filter((v) => v.startsWith(argument.value));
    return { completion: { values: values.slice(0, 100), total: values.length, hasMore: values.length > 100 } };
  });
  return server;
}

// ---------------------------------------------------------------------------------------------------------------
// Streamable HTTP: one SDK transport per session, found by its Mcp-Session-Id.

/** The SSE `retry` the priming event of each stream announces, in milliseconds. */
const RETRY_MS = 500;
/** Events a session keeps for resumption (each stream's last ones); older ones cannot be replayed. */
const EVENTS_KEPT = 256;
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The events of one session, so a client that lost a stream resumes it with Last-Event-ID. */
class SessionEvents implements EventStore {
  private readonly events = new Map<string, { streamId: string; message: JSONRPCMessage }>();
  private next = 0;

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const eventId = `${streamId}.${++this.next}`;
    this.events.set(eventId, { streamId, message });
    if (this.events.size > EVENTS_KEPT) this.events.delete(this.events.keys().next().value!);
    return eventId;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.events.get(eventId)?.streamId;
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const last = this.events.get(lastEventId);
    if (!last) return '';
    let after = false;
    for (const [eventId, event] of this.events) {
      if (eventId === lastEventId) after = true;
      // A stream's priming event holds no message: it only gave the client an id to resume from.
      else if (after && event.streamId === last.streamId && 'jsonrpc' in event.message)
        await send(eventId, event.message);
    }
    return last.streamId;
  }
}

interface HttpSession {
  transport: StreamableHTTPServerTransport;
  /** The protocol revision agreed at initialize. */
  protocolVersion: string;
  lastSeen: number;
}

interface HttpConfig {
  host: string;
  port: number;
  path: string;
  /** Host names (beyond loopback) that Host and Origin headers may name; see `rebindingRefusal`. */
  allowedHosts: string[];
  idleMs: number;
  maxSessions: number;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * DNS rebinding protection: a page on another site must not reach this server through a name that resolves to
 * it. On loopback (or with ALLOWED_HOSTS set) the Host header must name an allowed host; an Origin header, when
 * present, always must. Bound to every interface without ALLOWED_HOSTS (in a container, whose address its host
 * picks) the Host header is not known in advance, and the Origin check stays: browsers send it with every POST,
 * so no page can open a session.
 */
function rebindingRefusal(req: IncomingMessage, config: HttpConfig): string | undefined {
  const allowed = (hostname: string) =>
    LOOPBACK_NAMES.has(hostname.toLowerCase()) || config.allowedHosts.includes(hostname.toLowerCase());
  const hostname = (value: string) => {
    try {
      return new URL(value).hostname;
    } catch {
      return '';
    }
  };
  if (LOOPBACK_NAMES.has(config.host) || config.host === '::1' || config.allowedHosts.length > 0) {
    const host = req.headers.host;
    if (!host || !allowed(hostname(`http://${host}`))) return `Invalid Host header: ${host ?? '(none)'}`;
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !allowed(hostname(origin))) return `Invalid Origin header: ${origin}`;
  return undefined;
}

function sendJsonRpcError(res: ServerResponse, status: number, code: number, message: string, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

/** Replaces a request header where the SDK's transport reads it (it builds its Request from `rawHeaders`). */
function setHeader(req: IncomingMessage, name: string, value: string) {
  req.headers[name] = value;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === name) req.rawHeaders[i + 1] = value;
  }
}

/**
 * The body, or undefined when it is larger than MAX_BODY_BYTES. The rest of a large body is read and dropped
 * rather than cut off, so the client gets the 413 instead of a reset connection (Node's request timeout
 * bounds how long that may take).
 */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return size <= MAX_BODY_BYTES ? Buffer.concat(chunks) : undefined;
}

function startHttp(config: HttpConfig) {
  // Insertion order is recency: a request moves its session to the end, the first one is the least recent.
  const sessions = new Map<string, HttpSession>();

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== config.path) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: `Not found: the MCP endpoint is ${config.path}` }));
    }
    const refusal = rebindingRefusal(req, config);
    if (refusal) return sendJsonRpcError(res, 403, -32000, `Forbidden: ${refusal}`);
    if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE')
      return sendJsonRpcError(res, 405, -32000, 'Method not allowed', { allow: 'GET, POST, DELETE' });

    let body: unknown;
    if (req.method === 'POST') {
      const raw = await readBody(req);
      if (!raw) return sendJsonRpcError(res, 413, -32000, `Request body larger than ${MAX_BODY_BYTES} bytes`);
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return sendJsonRpcError(res, 400, -32700, 'Parse error: the body is not JSON');
      }
    }

    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = sessions.get(sessionId);
      if (!session) return sendJsonRpcError(res, 404, -32001, 'Session not found');
      sessions.delete(sessionId);
      sessions.set(sessionId, session);
      session.lastSeen = Date.now();
      // Streams follow the revision agreed at initialize: a request whose header names an older one does not
      // lose resumability (the SDK sends priming events only to 2025-11-25 and later).
      const header = req.headers['mcp-protocol-version'];
      if (
        typeof header === 'string' &&
        SUPPORTED_PROTOCOL_VERSIONS.includes(header) &&
        header < session.protocolVersion
      )
        setHeader(req, 'mcp-protocol-version', session.protocolVersion);
      return session.transport.handleRequest(req, res, body);
    }

    const messages = Array.isArray(body) ? (body as unknown[]) : [body];
    const initialize = messages.find(isInitializeRequest);
    if (req.method !== 'POST' || !initialize)
      return sendJsonRpcError(res, 400, -32000, 'Bad Request: no Mcp-Session-Id header; send initialize first');

    while (sessions.size >= config.maxSessions) {
      const [oldest, session] = sessions.entries().next().value!;
      sessions.delete(oldest);
      await session.transport.close();
    }
    const requested = initialize.params.protocolVersion;
    const session: HttpSession = {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION,
      lastSeen: Date.now(),
      transport: new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: new SessionEvents(),
        retryInterval: RETRY_MS,
        onsessioninitialized: (id) => void sessions.set(id, session),
        // The one line per session end an operator (and mcp-host's tests) can count; ids stay out of logs.
        onsessionclosed: () => console.log('conformance-mcp: a session ended by the client (DELETE)'),
      }),
    };
    // Set before connect: the SDK's Server chains its own close handler after this one.
    session.transport.onclose = () => {
      if (session.transport.sessionId) sessions.delete(session.transport.sessionId);
    };
    await createSession().connect(session.transport);
    await session.transport.handleRequest(req, res, body);
  }

  const http = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      console.error('conformance-mcp: request failed:', err);
      if (!res.headersSent) sendJsonRpcError(res, 500, -32603, 'Internal error');
      else res.end();
    });
  });
  const sweep = setInterval(
    () => {
      const cutoff = Date.now() - config.idleMs;
      for (const session of [...sessions.values()]) {
        if (session.lastSeen < cutoff) void session.transport.close();
      }
    },
    Math.min(config.idleMs, 60_000),
  );
  sweep.unref();

  http.listen(config.port, config.host, () => {
    const address = http.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    console.log(`conformance-mcp listening on http://${host}:${port}${config.path}`);
  });

  return async function stop() {
    clearInterval(sweep);
    http.close();
    await Promise.all([...sessions.values()].map((s) => s.transport.close()));
    http.closeAllConnections();
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration from the environment, and the two modes.

function integer(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`conformance-mcp: ${name} must be an integer from ${min} to ${max} (got "${raw}")`);
    process.exit(2);
  }
  return value;
}

async function main() {
  if (process.argv.includes('--stdio') || process.env.MCP_TRANSPORT === 'stdio') {
    // stdout carries the protocol: nothing else may be written to it.
    await createSession().connect(new StdioServerTransport());
    console.error('conformance-mcp on stdio');
    return;
  }
  const path = process.env.MCP_PATH || '/mcp';
  if (!path.startsWith('/')) {
    console.error(`conformance-mcp: MCP_PATH must start with "/" (got "${path}")`);
    process.exit(2);
  }
  const stop = startHttp({
    host: process.env.HOST || '127.0.0.1',
    port: integer('PORT', 8080, 0, 65535),
    path,
    allowedHosts: (process.env.ALLOWED_HOSTS ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
    idleMs: integer('SESSION_IDLE_SECONDS', 1800, 1, 86_400) * 1000,
    maxSessions: integer('MAX_SESSIONS', 1000, 1, 100_000),
  });
  // As a container's first process Node gets no default signal handling: stop on SIGTERM as on Ctrl-C.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void stop().then(() => process.exit(0));
    });
  }
}

await main();
