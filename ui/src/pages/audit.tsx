// The gateway audit: every JSON-RPC request that reached /mcp, newest first, then live.
import { useQuery } from '@tanstack/react-query';
import { call, client, type Schemas } from '../api';
import { ErrorDisplay, Section, When, useStreamLines, Table } from '../ui';

function Row({ a }: { a: Schemas['GatewayAuditEntry'] }) {
  return (
    <tr>
      <td>
        <When at={a.at} />
      </td>
      <td>{a.server_id ? <a href={`#/servers/${a.server_id}`}>{a.server_id}</a> : '—'}</td>
      <td>
        <code>{a.method}</code> {a.name ?? ''}
      </td>
      <td>{a.outcome}</td>
      <td>{a.http_status}</td>
      <td>{a.duration_ms.toFixed(1)} ms</td>
      <td>{a.subject ?? a.user_id ?? '—'}</td>
    </tr>
  );
}

export function AuditPage() {
  const page = useQuery({
    queryKey: ['gateway-audit'],
    queryFn: () => call(client.GET('/api/gateway/audit', { params: { query: { limit: '100' } } })),
  });
  const live = useStreamLines('/api/gateway/audit/stream', (event, data) =>
    event === 'audit' ? (data as Schemas['GatewayAuditEntry']) : undefined,
  );
  const seen = new Set(live.lines.map((a) => a.id));
  const rows = [...live.lines.slice().reverse(), ...(page.data ?? []).filter((a) => !seen.has(a.id))];
  return (
    <>
      <h1>Gateway audit</h1>
      <ErrorDisplay error={page.error ?? live.error} />
      <Section title="Requests">
        <Table label="Gateway calls" columns={['At', 'Server', 'Method', 'Outcome', 'HTTP', 'Duration', 'Caller']}>
          {rows.map((a) => (
            <Row key={a.id} a={a} />
          ))}
        </Table>
      </Section>
    </>
  );
}
