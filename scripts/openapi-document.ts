// Writes the API's OpenAPI document to a file without a running stack: the document is generated from
// the route declarations alone (api/document-app.ts).
// Used by `npm run lint:openapi` (Redocly's lint) and the console's typed client (ui/, npm run ui:client).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createDocumentApp } from '../api/document-app.js';

export async function openApiDocument(): Promise<unknown> {
  const res = await createDocumentApp().request('/openapi.json');
  if (res.status !== 200) throw new Error(`/openapi.json answered ${res.status}`);
  return res.json();
}

if (import.meta.filename === resolve(process.argv[1] ?? '')) {
  const out = resolve(process.argv[2] ?? '.data/openapi.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(await openApiDocument(), null, 2)}\n`);
  process.stdout.write(`${out}\n`);
}
