// When the control plane runs in containers (docker-compose.yml), the gateway and the worker are not
// on the Docker host, whose address on a server's bridge is how npm start reaches servers: with
// DOCKER_ATTACH_CONTAINERS they are joined to each server's network instead. Here, on the private
// dockerd of the stack with the host's tenant network policy loaded, a stand-in gateway container
// (on a control-plane network of its own, with a stand-in Postgres there) is joined to two servers'
// networks made by the project's code: it reaches both servers, while neither server reaches the
// other, the stand-in Postgres or the gateway's address on the control-plane network; the canary
// still passes with its listener in a container on the host's network; the network goes, with the
// gateway still joined to it, when the server does.
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSandboxNetworks, type SandboxNetworks } from '../../activities/runtime/sandbox-network.js';
import { readJsonStream } from '../../lib/docker.js';
import { parseEnvironment } from '../../lib/env.js';
import { installSandboxPolicy } from '../../scripts/stack/docker.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, startBuildStack, type BuildStack } from '../support/build-stack.js';

const GATEWAY = 'at-gateway';
const POSTGRES = 'at-postgres';
const CONTROL_NETWORK = 'at-control';

let stack: BuildStack;
let docker: Docker;
let networks: SandboxNetworks;
let image: string;

/** Runs `script` in a running container; its output. */
async function shell(container: string, script: string): Promise<string> {
  const exec = await docker.getContainer(container).exec({
    Cmd: ['sh', '-c', script],
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({});
  const chunks: Buffer[] = [];
  const out = new PassThrough();
  docker.modem.demuxStream(stream, out, out);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  out.end();
  for await (const chunk of out) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `reached` when a TCP connection to host:port opens from inside `container`, else `blocked`. */
const connectFrom = async (container: string, target: string) =>
  (
    await shell(
      container,
      `if echo | timeout 3 nc -w 2 ${target.replace(':', ' ')} >/dev/null 2>&1; then echo reached; else echo blocked; fi`,
    )
  ).trim();

/** A container of the base image answering `hello` on `port` (every connection), unprivileged like a server. */
async function listener(name: string, network: string, port: number): Promise<void> {
  await docker
    .getContainer(name)
    .remove({ force: true })
    .catch(() => {});
  const container = await docker.createContainer({
    name,
    Image: image,
    Entrypoint: ['sh', '-c', `exec nc -ll -p ${port} -e echo hello`],
    Cmd: [],
    User: '65534:65534',
    Labels: { 'mcp-host.managed': 'true' },
    HostConfig: { NetworkMode: network, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'] },
  });
  await container.start();
}

const addressOn = async (container: string, network: string) =>
  (await docker.getContainer(container).inspect()).NetworkSettings.Networks[network]?.IPAddress;

beforeAll(async () => {
  stack = await startBuildStack('attach');
  docker = stack.docker;
  image = stack.base.reference;
  const pull = (await docker.pull(image, {
    authconfig: { username: REGISTRY_USER, password: REGISTRY_PASSWORD, serveraddress: stack.registryHost },
  })) as NodeJS.ReadableStream;
  await readJsonStream(pull, () => {});
  // The control plane's own network (compose's default), where the stand-in gateway and Postgres live.
  await docker.createNetwork({
    Name: CONTROL_NETWORK,
    Driver: 'bridge',
    Options: { 'com.docker.network.bridge.name': `atc-${process.pid % 100_000}` },
  });
  await listener(POSTGRES, CONTROL_NETWORK, 5432);
  await listener(GATEWAY, CONTROL_NETWORK, 3000);
  const env = parseEnvironment({ DOCKER_CANARY_IMAGE: image, DOCKER_ATTACH_CONTAINERS: GATEWAY });
  networks = createSandboxNetworks(`attach-${process.pid}`, env, docker, async () => {});
}, 300_000);
afterAll(async () => {
  // The control network's bridge is not one the stack removes when its dockerd stops: remove it here.
  for (const name of [GATEWAY, POSTGRES])
    await docker
      ?.getContainer(name)
      .remove({ force: true })
      .catch(() => {});
  await docker
    ?.getNetwork(CONTROL_NETWORK)
    .remove()
    .catch(() => {});
  await stack?.stop();
});

describe('control-plane containers joined to servers’ networks (DOCKER_ATTACH_CONTAINERS)', () => {
  const a = 'mcp-server-901';
  const b = 'mcp-server-902';
  // The policy's tables are shared by every stack on the machine, and a stack that starts from an older
  // checkout loads its own copy (without the rule for joined containers): load this one again right
  // before each test and each check of what joined containers reach.
  beforeEach(() => installSandboxPolicy());

  it('passes the canary with its listener on the host’s network', async () => {
    await networks.verify();
    // Nothing of the canary is left: its network, its probe, its listener.
    const left = await docker.listContainers({ all: true, filters: { label: ['mcp-host.canary=true'] } });
    expect(left).toEqual([]);
  }, 120_000);

  it('joins the gateway to each server’s network, which reaches both servers; no server reaches the other or the control plane', async () => {
    await networks.ensure(a, 'none', {});
    await networks.ensure(b, 'internet', {});
    await Promise.all([listener(a, a, 8080), listener(b, b, 8080)]);
    const [ipA, ipB, postgres, gatewayControl] = await Promise.all([
      addressOn(a, a),
      addressOn(b, b),
      addressOn(POSTGRES, CONTROL_NETWORK),
      addressOn(GATEWAY, CONTROL_NETWORK),
    ]);
    expect(await addressOn(GATEWAY, a)).toBeTruthy();
    expect(await addressOn(GATEWAY, b)).toBeTruthy();
    expect(await addressOn(POSTGRES, a)).toBeUndefined(); // never joined

    // The gateway reaches both servers at the addresses their launches record.
    installSandboxPolicy();
    for (const ip of [ipA, ipB]) expect((await shell(GATEWAY, `nc -w 3 ${ip} 8080 </dev/null`)).trim()).toBe('hello');
    // What the policy cannot tell apart on one bridge: the joined container's own port at its address on
    // the server's network is open to the server (in compose the worker listens on nothing, the API
    // serves its token-checked surface there), which is why Postgres and Temporal are never joined.
    expect(await connectFrom(b, `${await addressOn(GATEWAY, b)}:3000`)).toBe('reached');

    // What is blocked is there: the control-plane network answers the gateway.
    expect(await connectFrom(GATEWAY, `${postgres}:5432`)).toBe('reached');
    for (const [self, other] of [
      [a, ipB],
      [b, ipA],
    ] as const) {
      expect(await connectFrom(self, '127.0.0.1:8080'), `${self} reaches itself`).toBe('reached');
      for (const target of [`${other}:8080`, `${postgres}:5432`, `${gatewayControl}:3000`, '169.254.169.254:80'])
        expect(await connectFrom(self, target), `${self} → ${target}`).toBe('blocked');
    }
  }, 120_000);

  it('joins a gateway made again since to the existing network at the next ensure', async () => {
    await docker.getNetwork(a).disconnect({ Container: GATEWAY, Force: true });
    expect(await addressOn(GATEWAY, a)).toBeUndefined();
    const ipA = await addressOn(a, a);
    // Not joined, the gateway is on another bridge: the server is out of its reach, as in compose before.
    expect(await connectFrom(GATEWAY, `${ipA}:8080`)).toBe('blocked');
    await networks.ensure(a, 'none', {});
    installSandboxPolicy();
    expect((await shell(GATEWAY, `nc -w 3 ${ipA} 8080 </dev/null`)).trim()).toBe('hello');
  }, 60_000);

  it('removes the network with the gateway still joined, and the gateway leaves it', async () => {
    for (const name of [a, b]) {
      await docker.getContainer(name).remove({ force: true });
      await networks.remove(name);
      await expect(docker.getNetwork(name).inspect()).rejects.toMatchObject({ statusCode: 404 });
    }
    const joined = Object.keys((await docker.getContainer(GATEWAY).inspect()).NetworkSettings.Networks);
    expect(joined).toEqual([CONTROL_NETWORK]);
  }, 60_000);
});
