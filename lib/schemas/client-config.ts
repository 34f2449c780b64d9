// What `GET /api/servers/:id/client-config` answers: how an MCP client reaches a server through the
// gateway, and the block each common client's configuration file takes.
import { z } from '@hono/zod-openapi';

export const MCP_CLIENTS = ['claude', 'cursor', 'vscode'] as const;
export const McpClientName = z.enum(MCP_CLIENTS);
export type McpClientName = z.infer<typeof McpClientName>;

/** Where a token goes in the blocks: the caller pastes their own (tokens are shown once, never again). */
export const TOKEN_PLACEHOLDER = '<YOUR_TOKEN>';

export const ClientConfigQuery = z.object({
  client: McpClientName.optional().openapi({ description: 'Only this client’s block' }),
});

const Headers = z.record(z.string(), z.string());

export const ClientBlock = z.object({
  /** The file the block belongs in. */
  file: z.string(),
  config: z.record(z.string(), z.unknown()),
  note: z.string().optional(),
});

export const ClientConfig = z
  .object({
    server_id: z.number().int(),
    name: z.string().openapi({ description: 'The key the blocks name the server by' }),
    url: z.string().openapi({ example: 'https://mcp.example.com/mcp/3' }),
    transport: z.literal('streamable-http'),
    headers: Headers,
    mcpServers: z.record(
      z.string(),
      z.object({ type: z.literal('streamable-http'), url: z.string(), headers: Headers }),
    ),
    clients: z
      .partialRecord(McpClientName, ClientBlock)
      .openapi({ description: 'Blocks for claude, cursor and vscode' }),
  })
  .openapi('ClientConfig');
export type ClientConfig = z.infer<typeof ClientConfig>;

/** The blocks for a server reached at `url`; `key` names it in the clients' files. */
export function clientConfig(serverId: number, key: string, url: string, only?: McpClientName): ClientConfig {
  const headers = { Authorization: `Bearer ${TOKEN_PLACEHOLDER}` };
  const blocks: Record<McpClientName, z.infer<typeof ClientBlock>> = {
    // Claude Desktop's file starts local processes only: mcp-remote bridges it to a remote server.
    claude: {
      file: 'claude_desktop_config.json',
      config: {
        mcpServers: {
          [key]: {
            command: 'npx',
            args: ['-y', 'mcp-remote', url, '--header', 'Authorization:${MCP_HOST_AUTH}'],
            env: { MCP_HOST_AUTH: `Bearer ${TOKEN_PLACEHOLDER}` },
          },
        },
      },
      note: 'Claude Code takes the mcpServers block instead (claude mcp add-json, or .mcp.json).',
    },
    cursor: { file: '~/.cursor/mcp.json', config: { mcpServers: { [key]: { url, headers } } } },
    // VS Code asks for the token once and keeps it in its secret storage.
    vscode: {
      file: '.vscode/mcp.json',
      config: {
        inputs: [{ type: 'promptString', id: 'mcp-host-token', description: 'mcp-host token', password: true }],
        servers: { [key]: { type: 'http', url, headers: { Authorization: 'Bearer ${input:mcp-host-token}' } } },
      },
    },
  };
  const clients: ClientConfig['clients'] = only ? { [only]: blocks[only] } : blocks;
  return {
    server_id: serverId,
    name: key,
    url,
    transport: 'streamable-http',
    headers,
    mcpServers: { [key]: { type: 'streamable-http', url, headers } },
    clients,
  };
}
