// Shared pieces of the console: the session (who is signed in, what their role lets them do), the
// error display every page uses, and small presentational helpers.
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { ApiError, followStream, type Schemas } from './api';

export interface Session {
  me: Schemas['User'];
  /** Operators and admins change things; a viewer only reads, so no mutating action is shown. */
  canMutate: boolean;
  isAdmin: boolean;
  signOut: () => void;
  config: ConsoleConfig;
}

export interface ConsoleConfig {
  /** The Temporal Web UI, when the installation says where it is. */
  temporal_ui: string | null;
  namespace: string;
  /** This installation's workflow-id prefix ('' for bare ids), as lib/workflow-ids.ts builds them. */
  installation: string;
}

export const SessionContext = createContext<Session | null>(null);
export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('no session');
  return s;
}

/** The one place errors are shown: a live region screen readers announce, with the API's code. */
export function ErrorDisplay({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : null;
  return (
    <div role="alert" className="error" data-testid="error">
      <strong>{e ? `${e.status} ${e.code}` : 'Error'}</strong>: {error instanceof Error ? error.message : String(error)}
      {e?.field ? <span> (field: {e.field})</span> : null}
    </div>
  );
}

export function Status({ value }: { value: string | null | undefined }) {
  return <span className={`status status-${value ?? 'none'}`}>{value ?? '—'}</span>;
}

export function When({ at }: { at: string | null | undefined }) {
  if (!at) return <>—</>;
  return <time dateTime={at}>{new Date(at).toLocaleString()}</time>;
}

export function Digest({ value }: { value: string | null | undefined }) {
  if (!value) return <>—</>;
  return (
    <code title={value} className="digest">
      {value.length > 23 ? `${value.slice(0, 19)}…${value.slice(-4)}` : value}
    </code>
  );
}

/** A link to a workflow's page in the Temporal Web UI (shown when the installation says where it is). */
export function TemporalLink({ workflowId }: { workflowId: string | null | undefined }) {
  const { config } = useSession();
  if (!workflowId || !config.temporal_ui) return null;
  const href = `${config.temporal_ui}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return (
    <a href={href} target="_blank" rel="noreferrer" className="temporal">
      Workflow {workflowId} in Temporal
    </a>
  );
}

/**
 * The item a link points at (`#/promotions/7` → the element `promotion-7`): once it is listed, it is
 * scrolled to and takes the focus, so a keyboard or screen-reader user starts there.
 */
export function useFocusedItem(domId: string | null, listed: boolean) {
  useEffect(() => {
    if (!domId || !listed) return;
    const el = document.getElementById(domId);
    el?.scrollIntoView({ block: 'center' });
    el?.focus();
  }, [domId, listed]);
}

/** The attributes of a listed item that a link may point at. */
export function focusProps(domId: string, focused: boolean) {
  return {
    id: domId,
    ...(focused ? { tabIndex: -1, 'aria-current': 'true' as const, className: 'focused' } : {}),
  };
}

export function workflowId(config: ConsoleConfig, kind: string, id: number | string): string {
  return `${config.installation ? `${config.installation}/` : ''}${kind}/${id}`;
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  const id = `section-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section aria-labelledby={id}>
      <div className="section-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

/**
 * A table that scrolls sideways on a phone instead of squeezing its columns or widening the page; the
 * scrolling box is a named region a keyboard can reach, so its hidden columns are reachable too.
 */
export function Table({ label, columns, children }: { label: string; columns: string[]; children: ReactNode }) {
  return (
    <div className="table-wrap" role="region" aria-label={label} tabIndex={0}>
      <table>
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(
          () => setDone(true),
          () => setDone(false),
        );
      }}
    >
      {done ? 'Copied' : label}
    </button>
  );
}

/** Lines of a live stream, kept in order, the newest last. */
export function useStreamLines<T>(path: string | null, pick: (event: string, data: unknown) => T | undefined) {
  const [lines, setLines] = useState<T[]>([]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!path) return;
    setLines([]);
    const abort = new AbortController();
    followStream(
      path,
      (event, data) => {
        const line = pick(event, data);
        if (line !== undefined) setLines((prev) => [...prev.slice(-1999), line]);
      },
      abort.signal,
    ).catch(setError);
    return () => abort.abort();
    // pick is a pure function of the event; the stream restarts only when the path changes.
  }, [path]);
  return { lines, error };
}

/** A server's source in one line, whichever kind it is (the API's union, so a new kind fails to type-check here). */
export function sourceLabel(source: Schemas['Server']['source']): string {
  switch (source.type) {
    case 'git':
      return `${source.repository} @ ${source.branch}${source.directory ? ` / ${source.directory}` : ''}`;
    case 'image':
      return source.image;
    case 'go':
      return `go ${source.module}@${source.version}`;
    default:
      return `${source.type} ${source.package}@${source.version}`;
  }
}
