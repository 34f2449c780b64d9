// The remote codec endpoint (Temporal's codec-server protocol): the Temporal Web UI and `temporal
// workflow show --codec-endpoint <api>/codec` send the encrypted payloads of a history here and get them
// back decoded, for an operator or an admin. The key never leaves the API. Browsers reach it from the Web
// UI's origins only (TEMPORAL_UI_ORIGINS), with the token in a cookie set by /codec/session, since the UI
// sends no Authorization header of ours.
import { z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { setCookie } from 'hono/cookie';
import { cors } from 'hono/cors';
import { ApiError } from '../../lib/errors.js';
import { payloadFromJson, payloadToJson } from '../../lib/secrets/payload-codec.js';
import { authenticate, requireRole } from '../auth.js';
import type { ApiDeps } from '../context.js';
import { errorBody } from '../errors.js';
import {
  commonErrors,
  createRouter,
  json,
  jsonBody,
  tooLargeError,
  defineRoute,
  headersTooLargeError,
} from '../openapi.js';

const tags = ['codec'];
export const CODEC_COOKIE = 'mcp_host_codec';
/** A history page's payloads; Temporal caps one payload at 2 MiB, the UI sends an event's at a time. */
const MAX_CODEC_BODY = 8 * 1024 * 1024;
const COOKIE_MAX_AGE_S = 8 * 3600;

const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const CodecPayloads = z
  .object({
    payloads: z
      .array(z.object({ metadata: z.record(z.string(), Base64).optional(), data: Base64.optional() }))
      .max(10_000),
  })
  .openapi('CodecPayloads');

const LOGIN_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mcp-host codec sign-in</title></head>
<body style="font:14px system-ui,sans-serif;max-width:40rem;margin:3rem auto">
<h1>Decode Temporal histories</h1>
<p>Paste an operator's or an admin's API token. It is kept in an HttpOnly cookie for this API's
<code>/codec</code> only, for eight hours. Then, in the Temporal Web UI's codec server settings, use
<code id="endpoint"></code> and turn on "Include cross-origin credentials". Open the Web UI on the
same host name as this page (127.0.0.1 or localhost, not one of each), or the browser keeps the cookie back.</p>
<form id="f"><input id="t" type="password" size="50" autocomplete="off" placeholder="mcph_…"> <button>Sign in</button></form>
<p id="r"></p>
<script>
document.getElementById('endpoint').textContent = location.origin + '/codec';
document.getElementById('f').onsubmit = async (e) => {
  e.preventDefault();
  const res = await fetch('/codec/session', { method: 'POST', headers: { authorization: 'Bearer ' + document.getElementById('t').value } });
  document.getElementById('r').textContent = res.ok ? 'Signed in.' : (await res.json()).error.message;
};
</script></body></html>`;

export function codecRoutes({ sql, env, codec }: ApiDeps) {
  const router = createRouter();
  router.use(
    '*',
    cors({
      origin: env.TEMPORAL_UI_ORIGINS,
      allowMethods: ['POST', 'OPTIONS'],
      allowHeaders: ['content-type', 'authorization', 'x-namespace'],
      credentials: true,
      maxAge: 600,
    }),
  );
  router.use(
    '*',
    bodyLimit({
      maxSize: MAX_CODEC_BODY,
      onError: (c) => c.json(errorBody('payload_too_large', `request body exceeds ${MAX_CODEC_BODY} bytes`), 413),
    }),
  );
  const operator = authenticate(sql, { cookie: CODEC_COOKIE });
  router.use('/decode', operator);
  router.use('/encode', operator);
  router.use('/session', authenticate(sql));

  const transform = (direction: 'decode' | 'encode') =>
    defineRoute({
      method: 'post',
      path: `/${direction}`,
      operationId: direction === 'decode' ? 'codecDecode' : 'codecEncode',
      tags,
      summary:
        direction === 'decode'
          ? 'Decode Temporal payloads (for the Web UI and the CLI); operators and admins'
          : 'Encode Temporal payloads (input the Web UI or the CLI sends to a workflow); operators and admins',
      security: [{ bearer: [] }],
      request: { body: jsonBody(CodecPayloads) },
      responses: { 200: json(CodecPayloads, 'The payloads, in order'), ...commonErrors, ...tooLargeError },
    });

  return router
    .openapi(transform('decode'), async (c) => {
      requireRole(c.get('caller'), 'admin', 'operator');
      const { payloads } = c.req.valid('json');
      const decoded = await codec.decode(payloads.map(payloadFromJson)).catch((err: unknown) => {
        throw new ApiError(422, 'undecodable_payload', (err as Error).message, 'payloads');
      });
      return c.json({ payloads: decoded.map(payloadToJson) }, 200);
    })
    .openapi(transform('encode'), async (c) => {
      requireRole(c.get('caller'), 'admin', 'operator');
      const { payloads } = c.req.valid('json');
      const encoded = await codec.encode(payloads.map(payloadFromJson));
      return c.json({ payloads: encoded.map(payloadToJson) }, 200);
    })
    .openapi(
      defineRoute({
        method: 'post',
        path: '/session',
        operationId: 'codecSession',
        tags,
        summary: "Keep the caller's token in a cookie for /codec, so the Temporal Web UI can decode with it",
        security: [{ bearer: [] }],
        responses: { 204: { description: 'Cookie set' }, ...commonErrors },
      }),
      (c) => {
        requireRole(c.get('caller'), 'admin', 'operator');
        const token = c.req.header('authorization')!.slice('Bearer '.length);
        setCookie(c, CODEC_COOKIE, token, {
          httpOnly: true,
          // The Web UI is another port of the same host: same site, so a strict cookie still goes.
          sameSite: 'Strict',
          path: '/codec',
          secure: new URL(c.req.url).protocol === 'https:',
          maxAge: COOKIE_MAX_AGE_S,
        });
        return c.body(null, 204);
      },
    )
    .openapi(
      defineRoute({
        method: 'get',
        path: '/login',
        operationId: 'codecLoginPage',
        tags,
        summary: 'A page where an operator signs in the browser for the codec endpoint',
        // The sign-in page itself needs no token: it is where the token is typed.
        security: [],
        responses: {
          200: { content: { 'text/html': { schema: z.string() } }, description: 'The page' },
          ...headersTooLargeError,
        },
      }),
      (c) => c.html(LOGIN_HTML),
    );
}
