// One dockerode client from DOCKER_HOST (unix:///path or tcp://host:port); the local socket otherwise.
import Docker from 'dockerode';

export function createDocker(dockerHost: string | undefined): Docker {
  if (!dockerHost) return new Docker({ socketPath: '/var/run/docker.sock' });
  const url = new URL(dockerHost);
  if (url.protocol === 'unix:') return new Docker({ socketPath: url.pathname });
  if (url.protocol === 'tcp:' || url.protocol === 'http:')
    return new Docker({ host: url.hostname, port: Number(url.port || 2375) });
  throw new Error(`DOCKER_HOST must be unix:// or tcp://, got ${url.protocol}`);
}

/** Reads a daemon JSON-lines stream (build, push), calling `onMessage` per object; resolves at its end. */
export function readJsonStream(stream: NodeJS.ReadableStream, onMessage: (msg: DaemonMessage) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const take = (line: string) => {
      if (!line.trim()) return;
      try {
        onMessage(JSON.parse(line) as DaemonMessage);
      } catch (err) {
        if (err instanceof SyntaxError) onMessage({ stream: line });
        else throw err;
      }
    };
    stream.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      try {
        while ((nl = buffer.indexOf('\n')) >= 0) {
          take(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
        }
      } catch (err) {
        reject(err);
      }
    });
    stream.once('end', () => {
      try {
        take(buffer);
        resolve();
      } catch (err) {
        reject(err);
      }
    });
    stream.once('error', reject);
  });
}

export interface DaemonMessage {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: { ID?: string; Digest?: string; Tag?: string; Size?: number };
}
