// mcpctl servers connect (the block to paste into an MCP client), servers tools and servers call:
// the last two speak MCP to the server through the gateway (`<url>/mcp/<id>`), as any client would.
import type { Command } from 'commander';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpClientName, type ClientConfig } from '../../lib/schemas/client-config.js';
import { clientFrom, type ApiClient } from '../client.js';
import { CliError } from '../handle-error.js';
import { plain, printJson, show, withJson } from '../output.js';
import { checkOption, Id, parseJsonOption } from '../validate.js';

/** What the gateway's refusals mean for someone at a terminal. */
function gatewayFailure(err: unknown, serverId: number): Error {
  if (err instanceof StreamableHTTPError) {
    const reason = /"message"\s*:\s*"([^"]+)"/.exec(err.message)?.[1];
    const why =
      err.code === 401
        ? 'the gateway refused the token'
        : err.code === 404
          ? `server ${serverId} not found (or not yours)`
          : err.code === 503
            ? `server ${serverId} is not running`
            : `the gateway answered HTTP ${err.code}`;
    return new CliError(reason ? `${why}: ${reason}` : why);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** Runs `fn` with an MCP session to the server through the gateway, closed afterwards. */
async function withSession<T>(api: ApiClient, serverId: number, fn: (client: Client) => Promise<T>): Promise<T> {
  const { baseUrl, token, timeoutMs } = api.config;
  const client = new Client({ name: 'mcpctl', version: '0.1.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp/${serverId}`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  try {
    await client.connect(transport, { timeout: timeoutMs });
    return await fn(client);
  } catch (err) {
    throw gatewayFailure(err, serverId);
  } finally {
    await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  }
}

export function addGatewayClientCommands(servers: Command): void {
  servers
    .command('connect')
    .description('the configuration an MCP client needs to reach the server through the gateway')
    .argument('<id>', 'server id')
    .option('--client <client>', 'only the block for claude, cursor or vscode')
    .action(async (id: string, opts: { client?: string }, cmd: Command) => {
      const serverId = checkOption('ID', Id, id);
      const only = checkOption('--client', McpClientName.optional(), opts.client);
      const query = only ? `?client=${only}` : '';
      const config = await clientFrom(cmd).get<ClientConfig>(`/api/servers/${serverId}/client-config${query}`);
      if (only) {
        const block = config.clients[only]!;
        process.stderr.write(`# paste into ${block.file} (replace <YOUR_TOKEN> with an mcp-host token)\n`);
        if (block.note) process.stderr.write(`# ${block.note}\n`);
        printJson(block.config);
        return;
      }
      printJson(config);
    });

  withJson(servers.command('tools').description("the server's tools, listed through the gateway"))
    .argument('<id>', 'server id')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const serverId = checkOption('ID', Id, id);
      const tools = await withSession(clientFrom(cmd), serverId, async (client) => (await client.listTools()).tools);
      show(opts.json, tools, (list) => [
        ['name', 'description'],
        list.map((t) => [t.name, t.description === undefined ? null : plain(t.description)]),
      ]);
    });

  withJson(servers.command('call').description('call one of the server’s tools through the gateway'))
    .argument('<id>', 'server id')
    .argument('<tool>', 'tool name')
    .option('--args <json>', 'the arguments, as a JSON object', '{}')
    .action(async (id: string, tool: string, opts: { args: string; json?: boolean }, cmd: Command) => {
      const serverId = checkOption('ID', Id, id);
      const args = parseJsonOption('--args', opts.args);
      if (typeof args !== 'object' || args === null || Array.isArray(args)) {
        throw new CliError('--args: must be a JSON object, such as \'{"text":"hi"}\'');
      }
      const result = await withSession(clientFrom(cmd), serverId, (client) =>
        client.callTool({ name: tool, arguments: args as Record<string, unknown> }),
      );
      if (opts.json) printJson(result);
      else {
        for (const item of (result.content ?? []) as { type: string; text?: string }[]) {
          process.stdout.write(item.type === 'text' ? `${item.text ?? ''}\n` : `${JSON.stringify(item)}\n`);
        }
      }
      if (result.isError) process.exitCode = 1;
    });
}
