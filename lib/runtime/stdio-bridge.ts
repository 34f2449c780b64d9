// A stdio MCP server is hosted behind the stdio bridge (tools/stdio-bridge): the bridge is the
// container's entrypoint, runs the image's own command as a child per MCP session, and answers
// Streamable HTTP on PORT at /mcp. Every hosted server then speaks HTTP on its own network, and the
// gateway and the health probe need no container runtime to reach it. Pure: shared by the Docker
// executor and the Kubernetes pod spec.

/** Where the bridge binary is mounted in a container: outside the image's own paths, read-only. */
export const BRIDGE_DIR = '/.mcp-host';
export const BRIDGE_BINARY = `${BRIDGE_DIR}/stdio-bridge`;
/** The path the bridge serves MCP at. */
export const BRIDGE_MCP_PATH = '/mcp';
/** The port a bridged server answers on when its image names none. */
export const BRIDGE_DEFAULT_PORT = 8080;

/** The architectures the bridge is built for, as Go and OCI name them. */
export type BridgeArch = 'amd64' | 'arm64';

/** A platform's architecture as the bridge's (Docker says x86_64/aarch64, OCI amd64/arm64); undefined when none is built. */
export function bridgeArch(architecture: string): BridgeArch | undefined {
  if (architecture === 'x86_64' || architecture === 'amd64') return 'amd64';
  if (architecture === 'aarch64' || architecture === 'arm64') return 'arm64';
  return undefined;
}

/**
 * The command line of a bridged container: the bridge, then the image's ENTRYPOINT and CMD as the
 * runtime would have joined them. Null when the image declares no command at all.
 */
export function bridgedCommand(entrypoint: readonly string[] | null, cmd: readonly string[] | null): string[] | null {
  const own = [...(entrypoint ?? []), ...(cmd ?? [])];
  return own.length === 0 ? null : [BRIDGE_BINARY, '--', ...own];
}

/** The bridge's settings, as environment entries. */
export const bridgeEnvironment = (maxSessions: number): [string, string][] => [
  ['MCP_BRIDGE_MAX_SESSIONS', String(maxSessions)],
  ['MCP_BRIDGE_PATH', BRIDGE_MCP_PATH],
];
