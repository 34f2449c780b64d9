// One build run: live log per platform (a column each), the manifest list and platform digests, the
// ledger row, and the telemetry events of this run (retries, credential refreshes and rotations).
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { call, client, type Schemas } from '../api';
import { Digest, ErrorDisplay, Section, Status, TemporalLink, When, useStreamLines, Table } from '../ui';

export function BuildPage({ id }: { id: number }) {
  const qc = useQueryClient();
  const run = useQuery({
    queryKey: ['build', id],
    queryFn: () => call(client.GET('/api/builds/{id}', { params: { path: { id: String(id) } } })),
  });
  const serverId = run.data?.server_id;
  const metrics = useQuery({
    queryKey: ['metrics', serverId],
    enabled: serverId !== undefined,
    queryFn: () =>
      call(
        client.GET('/api/servers/{id}/metrics', {
          params: { path: { id: String(serverId) }, query: { limit: '200' } },
        }),
      ),
  });
  const log = useStreamLines(`/api/builds/${id}/logs/stream`, (event, data) => {
    if (event !== 'log') return undefined;
    return data as Schemas['BuildLogLine'];
  });
  // The stream ends when the build does: the row then holds its digests.
  if (run.data?.status === 'running' && log.lines.length % 25 === 1)
    void qc.invalidateQueries({ queryKey: ['build', id] });
  const r = run.data;
  if (run.error) return <ErrorDisplay error={run.error} />;
  if (!r) return <p className="loading">Loading…</p>;
  const platforms = [
    ...new Set([...r.platforms.map((p) => p.platform), ...log.lines.map((l) => l.platform ?? 'build')]),
  ];
  return (
    <>
      <h1>
        Build {r.id} <Status value={r.status} />
      </h1>
      <p>
        <a href={`#/servers/${r.server_id}`}>Server {r.server_id}</a> <TemporalLink workflowId={r.workflow_id} />
      </p>
      {r.failure_reason ? <p className="error">{r.failure_reason}</p> : null}
      <Section title="Live log">
        <ErrorDisplay error={log.error} />
        <div className="columns">
          {platforms.map((p) => (
            <div key={p} className="column">
              <h3>{p}</h3>
              <pre
                className="log"
                role="log"
                aria-live="off"
                tabIndex={0}
                aria-label={`Build log for ${p}`}
                data-platform={p}
              >
                {log.lines
                  .filter((l) => (l.platform ?? 'build') === p)
                  .map((l) => l.line)
                  .join('\n')}
              </pre>
            </div>
          ))}
        </div>
      </Section>
      <Section title="Manifest list and platforms">
        <dl>
          <dt>Manifest</dt>
          <dd>
            {r.registry_image ?? r.local_image}
            {r.manifest_tag ? `:${r.manifest_tag}` : ''} <Digest value={r.manifest_digest} />
          </dd>
        </dl>
        <Table label="Platform images" columns={['Platform', 'Digest', 'Size', 'Credentials']}>
          {r.platforms.map((p) => (
            <tr key={p.platform}>
              <td>{p.platform}</td>
              <td>
                <Digest value={p.digest} />
              </td>
              <td>{p.size ?? '—'}</td>
              <td>{p.credential_health_status}</td>
            </tr>
          ))}
        </Table>
      </Section>
      <Section title="Ledger row">
        <dl className="ledger">
          {Object.entries(r)
            .filter(([k]) => k !== 'platforms')
            .map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{v === null ? '—' : String(v)}</dd>
              </div>
            ))}
        </dl>
      </Section>
      <Section title="Telemetry">
        <ErrorDisplay error={metrics.error} />
        <ul>
          {(metrics.data ?? [])
            .filter((m) => m.run_id === id)
            .map((m) => (
              <li key={m.id}>
                <When at={m.timestamp} /> <code>{m.event_type}</code> <code>{JSON.stringify(m.details)}</code>
              </li>
            ))}
        </ul>
      </Section>
    </>
  );
}
