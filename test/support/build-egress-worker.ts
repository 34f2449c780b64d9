// The worker's side of a build in compose, run inside a container by build-egress-compose.int: the
// project's build egress in container mode (BUILD_EGRESS_CONTAINER) opens a build network, joins this
// container to it and serves the proxy there; a Dockerfile whose RUN steps probe what they reach is
// built on it through the daemon's API, as the build activity does. Its output is read from the
// container's log: `log:` lines of the build log, `build:` lines of the build's own output, then
// `result:ok` or `result:error <message>`.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import tar from 'tar-fs';
import { createBuildEgress } from '../../activities/docker/build-egress.js';

const input = JSON.parse(process.env.EGRESS_INPUT ?? '{}') as {
  container: string;
  network: string;
  /** The worker's other network (compose's default): its address there is one a build must not reach. */
  controlNetwork: string;
  allowed: string[];
  canaryImage: string;
  dockerfile: string;
  buildArgs: Record<string, string>;
  /** A port this process listens on at every address, as any listener of the worker's would. */
  otherPort: number;
};

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const other = createServer((s) => s.end('other\n')).listen(input.otherPort, '0.0.0.0');
const log = { line: (text: string) => console.log(`log:${text}`), flush: async () => {} };

async function main(): Promise<void> {
  const egress = createBuildEgress(docker, input.allowed, input.canaryImage, input.container);
  const net = await egress.open(input.network, log);
  try {
    const gateway = (await docker.getNetwork(input.network).inspect()).IPAM?.Config?.[0]?.Gateway as string;
    const self = (await docker.getContainer(input.container).inspect()).NetworkSettings.Networks;
    const dir = mkdtempSync(join(tmpdir(), 'ctx-'));
    writeFileSync(join(dir, 'Dockerfile'), input.dockerfile);
    const context = tar.pack(dir);
    const stream = await docker.buildImage(context as unknown as NodeJS.ReadableStream, {
      t: 'egress-compose-probe',
      networkmode: net.networkMode,
      buildargs: {
        ...net.buildArgs,
        ...input.buildArgs,
        GATEWAY: gateway,
        WORKER_CONTROL_IP: self[input.controlNetwork]?.IPAddress ?? '',
      },
      rm: true,
      forcerm: true,
    });
    let failure: string | undefined;
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (err) => (err ? reject(err) : resolve()),
        (msg: { stream?: string; error?: string }) => {
          if (msg.error) failure = msg.error;
          for (const line of (msg.stream ?? '').split('\n')) if (line.trim()) console.log(`build:${line}`);
        },
      );
    });
    if (failure) throw new Error(failure);
    console.log(`log:summary ${net.summary()}`);
  } finally {
    await net.close();
  }
}

main()
  .then(
    () => console.log('result:ok'),
    (err: Error) => console.log(`result:error ${err.message}`),
  )
  .finally(() => other.close());
