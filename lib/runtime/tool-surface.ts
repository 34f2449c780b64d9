// A server's tool surface — what its tools/list offers: names, descriptions, input schemas — as a
// digest that does not depend on order or key order, and the difference between two surfaces in
// words an operator reads (`added tool shout; changed tool echo: description`). Pure: the probe
// activity, the certification's evaluation and tests share it.
import { createHash } from 'node:crypto';

export interface SurfaceTool {
  name: string;
  description: string | null;
  input_schema: unknown;
}

/** JSON with object keys sorted at every depth, so equal values always serialise the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The tools in name order, each reduced to what the surface is made of. */
export function normalizeSurface(tools: readonly SurfaceTool[]): SurfaceTool[] {
  return [...tools]
    .map((t) => ({ name: t.name, description: t.description ?? null, input_schema: t.input_schema ?? null }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function surfaceDigest(tools: readonly SurfaceTool[]): string {
  return `sha256:${createHash('sha256')
    .update(canonical(normalizeSurface(tools)))
    .digest('hex')}`;
}

/** What changed from `certified` to `now`; empty when the surfaces are the same. */
export function surfaceDifference(certified: readonly SurfaceTool[], now: readonly SurfaceTool[]): string[] {
  const before = new Map(normalizeSurface(certified).map((t) => [t.name, t]));
  const after = new Map(normalizeSurface(now).map((t) => [t.name, t]));
  const out: string[] = [];
  for (const name of after.keys()) if (!before.has(name)) out.push(`added tool ${name}`);
  for (const name of before.keys()) if (!after.has(name)) out.push(`removed tool ${name}`);
  for (const [name, t] of after) {
    const was = before.get(name);
    if (!was) continue;
    const parts = [
      was.description !== t.description && 'description',
      canonical(was.input_schema) !== canonical(t.input_schema) && 'input schema',
    ].filter(Boolean);
    if (parts.length > 0) out.push(`changed tool ${name}: ${parts.join(', ')}`);
  }
  return out;
}
