// Servers: the list with live status (the servers SSE stream patches the cached list), filters, and
// the create form (from every source the API takes: git, image, npm, PyPI, Go, server.json).
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, call, client, followStream, type Schemas, type ServerEvent } from '../api';
// The API's own list (lib/server-status.ts is dependency-free, shared by every layer).
import { SERVER_STATUSES } from '../../../lib/server-status';
import { ErrorDisplay, Section, Status, When, useSession, Table, sourceLabel } from '../ui';

type Server = Schemas['Server'];

export function useLiveServers(serverId?: number) {
  const qc = useQueryClient();
  useEffect(() => {
    const abort = new AbortController();
    const path = `/api/servers/stream${serverId ? `?server_id=${serverId}` : ''}`;
    followStream(
      path,
      (event, data) => {
        const e = data as ServerEvent;
        if (event === 'deleted') {
          qc.setQueryData<Server[]>(['servers'], (list) => list?.filter((s) => s.id !== e.id));
          return;
        }
        // Changed settings leave the status as it is: read the server again, and list the event.
        if (event === 'settings') {
          void qc.invalidateQueries({ queryKey: ['servers'] });
          void qc.invalidateQueries({ queryKey: ['server', e.id] });
          qc.setQueryData<ServerEvent[]>(['server-events', e.id], (list) => [...(list ?? []), e]);
          return;
        }
        const patch = (s: Server) =>
          s.id === e.id ? { ...s, status: e.status as Server['status'], status_reason: e.reason } : s;
        const list = qc.getQueryData<Server[]>(['servers']);
        // A server this list has not seen yet (created elsewhere): read the list again.
        if (list && !list.some((s) => s.id === e.id)) void qc.invalidateQueries({ queryKey: ['servers'] });
        else qc.setQueryData<Server[]>(['servers'], (l) => l?.map(patch));
        qc.setQueryData<Server>(['server', e.id], (s) => (s ? patch(s) : s));
        qc.setQueryData<ServerEvent[]>(['server-events', e.id], (list) => [...(list ?? []), e]);
      },
      abort.signal,
    ).catch(() => undefined);
    return () => abort.abort();
  }, [qc, serverId]);
}

type SourceKind = Schemas['CreateServer']['source']['type'];

/** Every source the API takes (CreateServer's variants): a new variant fails to type-check here. */
const SOURCE_KINDS: Record<SourceKind, string> = {
  git: 'Git repository',
  image: 'Container image',
  npm: 'npm package',
  pypi: 'PyPI package',
  go: 'Go module',
  registry: 'server.json (MCP registry)',
};

const EMPTY = {
  name: '',
  server_type: 'mcp',
  transport: '',
  repository: '',
  branch: 'main',
  directory: '',
  image: '',
  package: '',
  version: '',
  module: '',
  args: '',
  env: '',
  server_json: '',
  package_index: '',
};
type Fields = typeof EMPTY;

/** A field the form checks before sending (the API checks everything else and names its field). */
class FormError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

const lines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

function packageExtras(form: Fields) {
  const args = lines(form.args);
  const env: Record<string, string> = {};
  for (const line of lines(form.env)) {
    const cut = line.indexOf('=');
    if (cut <= 0) throw new FormError('source.env', `"${line}" is not KEY=value`);
    env[line.slice(0, cut)] = line.slice(cut + 1);
  }
  return { ...(args.length ? { args } : {}), ...(Object.keys(env).length ? { env } : {}) };
}

function sourceOf(kind: SourceKind, form: Fields): Schemas['CreateServer']['source'] {
  switch (kind) {
    case 'git':
      return {
        type: 'git',
        repository: form.repository,
        branch: form.branch,
        ...(form.directory ? { directory: form.directory } : {}),
      };
    case 'image':
      return { type: 'image', image: form.image };
    case 'npm':
      return { type: 'npm', package: form.package, version: form.version || 'latest', ...packageExtras(form) };
    case 'pypi':
      return { type: 'pypi', package: form.package, version: form.version, ...packageExtras(form) };
    case 'go':
      return { type: 'go', module: form.module, version: form.version || 'latest', ...packageExtras(form) };
    case 'registry': {
      let server: unknown;
      try {
        server = JSON.parse(form.server_json);
      } catch (err) {
        throw new FormError('source.server', `not JSON (${(err as Error).message})`);
      }
      const index = form.package_index === '' ? undefined : Number(form.package_index);
      return {
        type: 'registry',
        server: server as Schemas['ServerJson'],
        ...(index === undefined ? {} : { package: index }),
      };
    }
  }
}

/** The error's message when it names this field (or a part of it: `source.env.KEY` is the env field's). */
function errorFor(error: unknown, field: string): string | null {
  const named = error instanceof ApiError || error instanceof FormError ? error.field : undefined;
  if (!named || (named !== field && !named.startsWith(`${field}.`))) return null;
  return (error as Error).message;
}

/** One labelled input with the error the API (or the form) gave for its field, announced with it. */
function Field({
  label,
  field,
  error,
  hint,
  children,
}: {
  label: string;
  field: string;
  error: unknown;
  hint?: string;
  children: (props: { id: string; 'aria-invalid'?: true; 'aria-describedby'?: string }) => ReactNode;
}) {
  const id = `create-${field.replace(/\W+/g, '-')}`;
  const message = errorFor(error, field);
  const described = [hint ? `${id}-hint` : '', message ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div className={`field${message ? ' invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children({
        id,
        ...(message ? { 'aria-invalid': true as const } : {}),
        ...(described ? { 'aria-describedby': described } : {}),
      })}
      {hint ? (
        <small id={`${id}-hint`} className="hint">
          {hint}
        </small>
      ) : null}
      {message ? (
        <small id={`${id}-error`} className="field-error">
          {message}
        </small>
      ) : null}
    </div>
  );
}

function CreateServer() {
  const qc = useQueryClient();
  const [kind, setKind] = useState<SourceKind>('git');
  const [form, setForm] = useState(EMPTY);
  const [start, setStart] = useState(true);
  const formRef = useRef<HTMLFormElement>(null);
  const create = useMutation({
    mutationFn: () =>
      call(
        client.POST('/api/servers', {
          body: {
            name: form.name,
            server_type: form.server_type,
            source: sourceOf(kind, form),
            ...(form.transport ? { transport: form.transport as Schemas['ServerTransport'] } : {}),
            start,
          } as Schemas['CreateServer'],
        }),
      ),
    onSuccess: (server) => {
      void qc.invalidateQueries({ queryKey: ['servers'] });
      window.location.hash = `#/servers/${server.id}`;
    },
  });
  // A refused field takes the focus, so a keyboard user lands where the message is.
  useEffect(() => {
    formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [create.error]);
  const set = (k: keyof Fields) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  const err = create.error;
  const text = (k: keyof Fields, props: object, required = false) => (
    <input {...props} name={k} required={required} value={form[k]} onChange={set(k)} />
  );
  const packageFields = (
    <>
      <Field
        label="Arguments, one per line"
        field="source.args"
        error={err}
        hint="Passed to the package's command after its own entry point."
      >
        {(p) => <textarea {...p} name="args" rows={2} value={form.args} onChange={set('args')} />}
      </Field>
      <Field
        label="Environment, one KEY=value per line"
        field="source.env"
        error={err}
        hint="Plain settings only: secrets are refused here (they would be part of the image)."
      >
        {(p) => <textarea {...p} name="env" rows={2} value={form.env} onChange={set('env')} />}
      </Field>
    </>
  );
  return (
    <form ref={formRef} onSubmit={submit} className="card create-server" aria-label="Create a server" noValidate>
      <fieldset className="kinds">
        <legend>Source</legend>
        {(Object.keys(SOURCE_KINDS) as SourceKind[]).map((k) => (
          <label key={k}>
            <input type="radio" name="kind" value={k} checked={kind === k} onChange={() => setKind(k)} />{' '}
            {SOURCE_KINDS[k]}
          </label>
        ))}
      </fieldset>
      <Field label="Name" field="name" error={err}>
        {(p) => text('name', p, true)}
      </Field>
      <Field label="Type" field="server_type" error={err} hint="Its governance tier: tracks of this type gate it.">
        {(p) => text('server_type', p, true)}
      </Field>
      {kind === 'git' ? (
        <>
          <Field label="Repository" field="source.repository" error={err} hint="An https://, ssh:// or git:// URL.">
            {(p) => text('repository', p, true)}
          </Field>
          <Field label="Branch" field="source.branch" error={err}>
            {(p) => text('branch', p, true)}
          </Field>
          <Field label="Build directory (optional)" field="source.directory" error={err}>
            {(p) => text('directory', p)}
          </Field>
        </>
      ) : null}
      {kind === 'image' ? (
        <Field label="Image" field="source.image" error={err} hint="A reference such as ghcr.io/owner/server:1.2.">
          {(p) => text('image', p, true)}
        </Field>
      ) : null}
      {kind === 'npm' || kind === 'pypi' ? (
        <>
          <Field
            label="Package"
            field="source.package"
            error={err}
            hint={kind === 'npm' ? 'Such as @modelcontextprotocol/server-memory.' : 'Such as mcp-server-fetch.'}
          >
            {(p) => text('package', p, true)}
          </Field>
          <Field
            label={kind === 'npm' ? 'Version (optional)' : 'Version'}
            field="source.version"
            error={err}
            hint={kind === 'npm' ? 'An exact version or a dist-tag; latest when empty.' : 'An exact version (PEP 440).'}
          >
            {(p) => text('version', p, kind === 'pypi')}
          </Field>
          {packageFields}
        </>
      ) : null}
      {kind === 'go' ? (
        <>
          <Field
            label="Go package path"
            field="source.module"
            error={err}
            hint="Such as github.com/owner/repo/cmd/server."
          >
            {(p) => text('module', p, true)}
          </Field>
          <Field
            label="Version (optional)"
            field="source.version"
            error={err}
            hint="Such as v1.2.3; latest when empty."
          >
            {(p) => text('version', p)}
          </Field>
          {packageFields}
        </>
      ) : null}
      {kind === 'registry' ? (
        <>
          <Field
            label="server.json"
            field="source.server"
            error={err}
            hint="The document as the official MCP registry publishes it."
          >
            {(p) => (
              <textarea
                {...p}
                name="server_json"
                required
                rows={6}
                spellCheck={false}
                value={form.server_json}
                onChange={set('server_json')}
              />
            )}
          </Field>
          <Field
            label="Package to host (optional)"
            field="source.package"
            error={err}
            hint="Its index in server.packages; the first npm, PyPI or OCI one when empty."
          >
            {(p) => text('package_index', { ...p, inputMode: 'numeric' })}
          </Field>
        </>
      ) : null}
      <Field label="Transport" field="transport" error={err}>
        {(p) => (
          <select {...p} name="transport" value={form.transport} onChange={set('transport')}>
            <option value="">as the source declares</option>
            <option value="stdio">stdio</option>
            <option value="streamable-http">Streamable HTTP</option>
          </select>
        )}
      </Field>
      <label className="check">
        <input type="checkbox" checked={start} onChange={(e) => setStart(e.target.checked)} /> Start it now
      </label>
      <button type="submit" disabled={create.isPending}>
        Create server
      </button>
      <ErrorDisplay error={err} />
    </form>
  );
}

export function ServersPage() {
  const { canMutate } = useSession();
  const [status, setStatus] = useState('');
  const [text, setText] = useState('');
  const servers = useQuery({
    queryKey: ['servers'],
    queryFn: () => call(client.GET('/api/servers', { params: { query: { limit: '500' } } })),
  });
  useLiveServers();
  const shown = (servers.data ?? []).filter(
    (s) =>
      (!status || s.status === status) &&
      (!text || `${s.name} ${s.server_type}`.toLowerCase().includes(text.toLowerCase())),
  );
  return (
    <>
      <h1>Servers</h1>
      {canMutate ? (
        <details className="create">
          <summary>Create a server</summary>
          <CreateServer />
        </details>
      ) : null}
      <Section title="All servers">
        <div className="filters" role="search">
          <label>
            Status{' '}
            <select value={status} onChange={(e) => setStatus(e.target.value)}>
              <option value="">any</option>
              {SERVER_STATUSES.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
          <label>
            Search <input type="search" value={text} onChange={(e) => setText(e.target.value)} />
          </label>
        </div>
        <ErrorDisplay error={servers.error} />
        <Table label="Server list" columns={['Name', 'Type', 'Status', 'Reason', 'Source', 'Updated']}>
          {shown.map((s) => (
            <tr key={s.id} data-server={s.id}>
              <td>
                <a href={`#/servers/${s.id}`}>{s.name}</a>
              </td>
              <td>{s.server_type}</td>
              <td>
                <Status value={s.status} />
              </td>
              <td>{s.status_reason ?? ''}</td>
              <td>{sourceLabel(s.source)}</td>
              <td>
                <When at={s.updated_at} />
              </td>
            </tr>
          ))}
        </Table>
        {servers.isSuccess && shown.length === 0 ? <p>No servers match.</p> : null}
      </Section>
    </>
  );
}
