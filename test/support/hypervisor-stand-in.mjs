// A stand-in for the hypervisor control plane, run as its own process (plain node:http, no
// dependencies) by test/support/hypervisor-stand-in.ts. State is in memory.
//
// Environment:
//   PORT                 port to listen on (127.0.0.1)
//   HV_TOKEN             bearer token every request must carry (unset: no auth)
//   HV_SIGNING_KEY       base64 PKCS#8 DER Ed25519 private key that signs attestation reports
//                        (the test configures the matching public key as a trust root)
//
// Behaviour (PUT /_stand-in/behaviour, JSON; every field optional, omitted fields reset to default):
//   measurement          the report's measurement (default "expected-measurement")
//   evidenceAgeSeconds   how old the report's timestamp is (default 1; negative: in the future)
//   selfSigned           sign with a key of the stand-in's own and embed its public key in the quote
//   omitEvidence         answer provisioning without an `attestation`
//   isolationTier        the isolation tier answered (default "coco")
//   failProvision        {status, count}: the next `count` provisioning requests answer `status`
//   logLines             the log of every instance (default ["alpha", "line-one", "line-two"])
//   endpoint             the endpoint GET /instances/<id> reports for every instance (default none)
//   die                  {reason, afterStartMs?}: every running instance fails now with `reason`
//                        as its exit_reason; with afterStartMs, so does every instance that many ms
//                        after each later start (one that always dies). Without it, a start brings
//                        a failed instance back to running.
//
// GET /_stand-in/requests lists what was asked: [{method, path, query, authorized, userAgent,
// idempotencyKey, body}] (the token itself is never recorded).
import { createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { createServer } from 'node:http';

const token = process.env.HV_TOKEN || undefined;
const signingKey = process.env.HV_SIGNING_KEY
  ? createPrivateKey({ key: Buffer.from(process.env.HV_SIGNING_KEY, 'base64'), format: 'der', type: 'pkcs8' })
  : undefined;
const ownKeys = generateKeyPairSync('ed25519');
const SPKI_PREFIX_LENGTH = 12;
const ownPublicKey = ownKeys.publicKey
  .export({ format: 'der', type: 'spki' })
  .subarray(SPKI_PREFIX_LENGTH)
  .toString('base64');

const DEFAULTS = {
  measurement: 'expected-measurement',
  evidenceAgeSeconds: 1,
  selfSigned: false,
  omitEvidence: false,
  isolationTier: 'coco',
  failProvision: null,
  logLines: ['alpha', 'line-one', 'line-two'],
};
let behaviour = { ...DEFAULTS };
let failuresLeft = 0;

function fail(instance, reason) {
  instance.state = 'failed';
  instance.exitReason = reason;
}

/** A start; an instance that always dies fails again `afterStartMs` later, unless started or stopped since. */
function start(instance) {
  instance.state = 'running';
  instance.exitReason = null;
  const starts = ++instance.starts;
  const die = behaviour.die;
  if (die?.afterStartMs !== undefined) {
    setTimeout(() => {
      if (instance.starts === starts && instance.state === 'running') fail(instance, die.reason);
    }, die.afterStartMs);
  }
}

/** id → {id, serverId, image, state: provisioning|running|stopped|failed, exitReason, starts} */
const instances = new Map();
/** Idempotency-Key → instance id */
const byKey = new Map();
const requests = [];

/** Sorted keys, no whitespace: must match lib/vm/attestation.ts canonicalJson. */
function canonicalJson(value) {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

function evidenceFor(instance, nonce) {
  if (behaviour.omitEvidence) return undefined;
  const report = {
    measurement: behaviour.measurement,
    timestamp: new Date(Date.now() - behaviour.evidenceAgeSeconds * 1000).toISOString(),
    instance_id: instance.id,
    server_id: instance.serverId,
    image: instance.image,
  };
  if (nonce !== undefined) report.nonce = nonce;
  const key = behaviour.selfSigned ? ownKeys.privateKey : signingKey;
  if (!key) throw new Error('HV_SIGNING_KEY is not set');
  const quote = { report, signature: sign(null, Buffer.from(canonicalJson(report)), key).toString('base64') };
  if (behaviour.selfSigned) quote.public_key = ownPublicKey;
  return { format: 'ed25519-canonical-json', quote };
}

function send(res, status, body, type = 'application/json') {
  const text = body === undefined ? '' : type === 'application/json' ? JSON.stringify(body) : body;
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const body = ['POST', 'PUT'].includes(req.method ?? '') ? await readJson(req) : undefined;

    if (url.pathname === '/_stand-in/requests' && req.method === 'GET') return send(res, 200, requests);
    if (url.pathname === '/_stand-in/behaviour' && req.method === 'PUT') {
      behaviour = { ...DEFAULTS, ...body };
      failuresLeft = behaviour.failProvision?.count ?? 0;
      if (behaviour.die) {
        for (const instance of instances.values())
          if (instance.state === 'running') fail(instance, behaviour.die.reason);
      }
      return send(res, 204);
    }

    const authorized = !token || req.headers.authorization === `Bearer ${token}`;
    requests.push({
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorized,
      userAgent: req.headers['user-agent'] ?? null,
      idempotencyKey: req.headers['idempotency-key'] ?? null,
      body: body ?? null,
    });
    if (!authorized) return send(res, 401, { error: 'unauthorized' });

    if (url.pathname === '/instances' && req.method === 'POST') {
      if (failuresLeft > 0) {
        failuresLeft--;
        return send(res, behaviour.failProvision.status, 'no capacity for new instances', 'text/plain');
      }
      if (!body || typeof body.server_id !== 'number' || typeof body.image !== 'string')
        return send(res, 400, { error: 'server_id and image are required' });
      const key = req.headers['idempotency-key'];
      let instance = key && byKey.has(key) ? instances.get(byKey.get(key)) : undefined;
      if (!instance) {
        instance = {
          id: `vm-${randomUUID().slice(0, 8)}`,
          serverId: body.server_id,
          image: body.image,
          state: 'provisioning',
          exitReason: null,
          starts: 0,
        };
        instances.set(instance.id, instance);
        if (key) byKey.set(key, instance.id);
      }
      const attestation = evidenceFor(instance, body.config?.attestation?.nonce);
      return send(res, 201, {
        instance_id: instance.id,
        isolation_tier: behaviour.isolationTier,
        image: instance.image,
        ...(attestation ? { attestation } : {}),
      });
    }

    const match = /^\/instances\/([^/]+)(\/start|\/stop|\/logs|\/logs\/stream)?$/.exec(url.pathname);
    const instance = match ? instances.get(decodeURIComponent(match[1])) : undefined;
    if (!match || !instance) return send(res, 404, { error: 'no such instance' });
    const action = `${req.method} ${match[2] ?? ''}`;
    switch (action) {
      case 'GET ':
        return send(res, 200, {
          instance_id: instance.id,
          state: instance.state,
          ...(behaviour.endpoint ? { endpoint: behaviour.endpoint } : {}),
          ...(instance.exitReason ? { exit_reason: instance.exitReason } : {}),
        });
      case 'POST /start':
        start(instance);
        return send(res, 200, { instance_id: instance.id, state: instance.state });
      case 'POST /stop':
        instance.state = 'stopped';
        return send(res, 200, { instance_id: instance.id, state: instance.state });
      case 'DELETE ':
        instances.delete(instance.id);
        for (const [k, id] of byKey) if (id === instance.id) byKey.delete(k);
        return send(res, 204);
      case 'GET /logs': {
        const tail = Number(url.searchParams.get('tail') ?? '100');
        return send(res, 200, `${behaviour.logLines.slice(-tail).join('\n')}\n`, 'text/plain');
      }
      case 'GET /logs/stream': {
        if (instance.state !== 'running') return send(res, 204);
        res.writeHead(200, { 'content-type': 'text/plain' });
        const text = behaviour.logLines.join('\n'); // the last line without its newline: a partial line
        for (let i = 0; i < text.length; i += 4) res.write(text.slice(i, i + 4));
        return res.end();
      }
      default:
        return send(res, 405, { error: `${req.method} not allowed here` });
    }
  } catch (err) {
    return send(res, 500, { error: String(err?.message ?? err) });
  }
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ listening: server.address().port })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
