// MCP's stdio transport over `docker attach`: a stdio server runs as a container with an open
// stdin; mcp-host attaches, writes JSON-RPC lines to its stdin and reads them from its stdout.
import { PassThrough, type Duplex } from 'node:stream';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type Docker from 'dockerode';

export class DockerAttachTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private stream: Duplex | undefined;
  private readonly buffer = new ReadBuffer();

  constructor(
    private readonly docker: Docker,
    private readonly containerName: string,
  ) {}

  async start(): Promise<void> {
    const stream = (await this.docker.getContainer(this.containerName).attach({
      stream: true,
      stdin: true,
      stdout: true,
      stderr: true,
      hijack: true,
    })) as unknown as Duplex;
    this.stream = stream;
    // Without a TTY, docker multiplexes stdout and stderr: protocol messages come on stdout only.
    const stdout = new PassThrough();
    this.docker.modem.demuxStream(stream, stdout, new PassThrough());
    stdout.on('data', (chunk: Buffer) => {
      this.buffer.append(chunk);
      for (;;) {
        let message: JSONRPCMessage | null;
        try {
          message = this.buffer.readMessage();
        } catch (err) {
          this.onerror?.(err as Error);
          continue;
        }
        if (message === null) break;
        this.onmessage?.(message);
      }
    });
    stream.on('error', (err) => this.onerror?.(err));
    stream.on('close', () => this.onclose?.());
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (!this.stream) throw new Error('not attached');
    this.stream.write(serializeMessage(message));
  }

  /** Detaches; the container (and its stdin) stays as it was. */
  async close(): Promise<void> {
    this.stream?.destroy();
    this.stream = undefined;
    this.buffer.clear();
  }
}
