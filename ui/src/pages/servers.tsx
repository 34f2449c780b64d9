// Servers: the list with live status (the servers SSE stream patches the cached list), filters, and
// the create form (from a git repository or an image).
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, type FormEvent } from 'react';
import { call, client, followStream, type Schemas, type ServerEvent } from '../api';
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

function CreateServer() {
  const qc = useQueryClient();
  const [kind, setKind] = useState<'git' | 'image'>('git');
  const [form, setForm] = useState({ name: '', server_type: 'mcp', repository: '', branch: 'main', image: '' });
  const create = useMutation({
    mutationFn: () =>
      call(
        client.POST('/api/servers', {
          body: {
            name: form.name,
            server_type: form.server_type,
            source:
              kind === 'git'
                ? { type: 'git', repository: form.repository, branch: form.branch }
                : { type: 'image', image: form.image },
          } as Schemas['CreateServer'],
        }),
      ),
    onSuccess: (server) => {
      void qc.invalidateQueries({ queryKey: ['servers'] });
      window.location.hash = `#/servers/${server.id}`;
    },
  });
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <form onSubmit={submit} className="card" aria-label="Create a server">
      <fieldset>
        <legend>Source</legend>
        <label>
          <input type="radio" name="kind" checked={kind === 'git'} onChange={() => setKind('git')} /> Git repository
        </label>
        <label>
          <input type="radio" name="kind" checked={kind === 'image'} onChange={() => setKind('image')} /> Image
        </label>
      </fieldset>
      <label>
        Name <input name="name" required value={form.name} onChange={set('name')} />
      </label>
      <label>
        Type <input name="server_type" required value={form.server_type} onChange={set('server_type')} />
      </label>
      {kind === 'git' ? (
        <>
          <label>
            Repository <input name="repository" required value={form.repository} onChange={set('repository')} />
          </label>
          <label>
            Branch <input name="branch" required value={form.branch} onChange={set('branch')} />
          </label>
        </>
      ) : (
        <label>
          Image <input name="image" required value={form.image} onChange={set('image')} />
        </label>
      )}
      <button type="submit" disabled={create.isPending}>
        Create server
      </button>
      <ErrorDisplay error={create.error} />
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
        <Table columns={['Name', 'Type', 'Status', 'Reason', 'Source', 'Updated']}>
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
