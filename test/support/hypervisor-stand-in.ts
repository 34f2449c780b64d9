// Starts test/support/hypervisor-stand-in.mjs as a separate process and drives it over HTTP.
import { generateKeyPairSync } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rawPublicKeyBase64 } from '../../lib/vm/attestation.js';
import { DATA_DIR } from '../../scripts/stack/paths.js';
import { freePort, portOpen, spawnManaged, waitUntil, type ManagedProcess } from '../../scripts/stack/process.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'hypervisor-stand-in.mjs');

export interface StandInBehaviour {
  measurement?: string;
  evidenceAgeSeconds?: number;
  selfSigned?: boolean;
  omitEvidence?: boolean;
  isolationTier?: string;
  failProvision?: { status: number; count: number };
  logLines?: string[];
  /** The endpoint every instance reports. */
  endpoint?: string;
  /** Every running instance fails now; with afterStartMs, each again that long after every later start. */
  die?: { reason: string; afterStartMs?: number };
}

export interface StandInRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorized: boolean;
  userAgent: string | null;
  idempotencyKey: string | null;
  body: unknown;
}

export interface HypervisorStandIn {
  url: string;
  token: string;
  /** Base64 raw public key of the key the stand-in signs reports with: configure it as a trust root. */
  trustRoot: string;
  process: ManagedProcess;
  /** Replaces the whole behaviour (omitted fields back to their defaults). */
  setBehaviour(behaviour: StandInBehaviour): Promise<void>;
  requests(): Promise<StandInRequest[]>;
  stop(): Promise<void>;
}

export async function startHypervisorStandIn(opts: { name?: string; token?: string } = {}): Promise<HypervisorStandIn> {
  const keys = generateKeyPairSync('ed25519');
  const port = await freePort();
  const token = opts.token ?? `hv-token-${port}-${Date.now()}`;
  const proc = spawnManaged('hypervisor-stand-in', process.execPath, [SCRIPT], {
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      HV_TOKEN: token,
      HV_SIGNING_KEY: keys.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    },
    logFile: join(DATA_DIR, 'test-logs', `${opts.name ?? 'hypervisor-stand-in'}.log`),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil('hypervisor stand-in', () => portOpen(port), { timeoutMs: 15_000, proc });

  const control = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(url + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`stand-in ${method} ${path}: ${res.status} ${await res.text()}`);
    return res.status === 204 ? undefined : res.json();
  };

  return {
    url,
    token,
    trustRoot: rawPublicKeyBase64(keys.publicKey),
    process: proc,
    setBehaviour: async (behaviour) => void (await control('PUT', '/_stand-in/behaviour', behaviour)),
    requests: async () => (await control('GET', '/_stand-in/requests')) as StandInRequest[],
    stop: () => proc.stop(5_000),
  };
}
