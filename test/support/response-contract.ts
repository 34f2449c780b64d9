// Every JSON response an integration test receives is checked against the route's declared
// response schema — the same zod declarations that generate /openapi.json — so the document cannot
// drift from what the API really answers. Used by test/support/http.ts on every call.
import type { z } from 'zod';
import { createDocumentApp } from '../../api/document-app.js';
import { ErrorBody } from '../../lib/schemas/common.js';

interface DeclaredRoute {
  method: string;
  path: string;
  pattern: RegExp;
  params: number;
  responses: Record<string, { content?: Record<string, { schema?: z.ZodType }> }>;
}

let routes: DeclaredRoute[] | undefined;

function declaredRoutes(): DeclaredRoute[] {
  if (routes) return routes;
  const app = createDocumentApp();
  routes = app.openAPIRegistry.definitions.flatMap((def) => {
    if (def.type !== 'route') return [];
    const { method, path, responses } = def.route;
    const pattern = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    return [
      {
        method: method.toUpperCase(),
        path,
        pattern,
        params: (path.match(/\{/g) ?? []).length,
        responses: responses as DeclaredRoute['responses'],
      },
    ];
  });
  return routes;
}

/** The problem with this response, or undefined when it matches its declaration. */
export function contractViolation(
  method: string,
  url: string,
  status: number,
  contentType: string | null,
  body: unknown,
): string | undefined {
  if (!contentType?.includes('application/json') || body === undefined) return undefined;
  const path = new URL(url).pathname;
  // The literal route wins over a parameterised one (`/promotions/history` over `/promotions/{id}`).
  const route = declaredRoutes()
    .filter((r) => r.method === method.toUpperCase() && r.pattern.test(path))
    .sort((a, b) => a.params - b.params)[0];
  if (!route) return undefined; // not an API route (e.g. /healthz), or a 404 for an unknown path
  const declared = route.responses[String(status)];
  if (status >= 400) {
    // Errors share one shape; statuses the platform answers on any route need no declaration.
    const parsed = ErrorBody.safeParse(body);
    return parsed.success
      ? undefined
      : `${method} ${route.path} ${status}: not the error shape: ${parsed.error.issues[0]?.message}`;
  }
  if (!declared) return `${method} ${route.path} answered ${status}, which its declaration does not list`;
  const schema = declared.content?.['application/json']?.schema;
  if (!schema) return undefined;
  const parsed = schema.safeParse(body);
  if (parsed.success) return undefined;
  const issue = parsed.error.issues[0]!;
  return `${method} ${route.path} ${status}: body does not match the declared schema at ${issue.path.join('.') || '(root)'}: ${issue.message}`;
}
