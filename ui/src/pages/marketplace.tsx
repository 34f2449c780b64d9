// The marketplace: artifacts with tier, health, platforms and promotion lineage; filters, search and
// keyset paging (the API's X-Next-Cursor).
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { ApiError, client } from '../api';
import { Digest, ErrorDisplay, Section, Status, When, Table } from '../ui';

export function MarketplacePage() {
  const [filters, setFilters] = useState({ q: '', tier: '', status: '', server_type: '' });
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const page = useQuery({
    queryKey: ['marketplace', filters, cursor],
    queryFn: async () => {
      const query = Object.fromEntries(Object.entries({ ...filters, cursor }).filter(([, v]) => v));
      const { data, error, response } = await client.GET('/api/marketplace', {
        params: { query: { ...query, limit: '20' } },
      });
      if (!response.ok) {
        const e = error as { error?: { code: string; message: string } } | undefined;
        throw new ApiError(
          response.status,
          e?.error?.code ?? 'http_error',
          e?.error?.message ?? `HTTP ${response.status}`,
        );
      }
      return { entries: data ?? [], next: response.headers.get('x-next-cursor') };
    },
  });
  const set = (k: keyof typeof filters) => (e: { target: { value: string } }) => {
    setCursors([]);
    setFilters({ ...filters, [k]: e.target.value });
  };
  return (
    <>
      <h1>Marketplace</h1>
      <div className="filters" role="search">
        <label>
          Search <input type="search" value={filters.q} onChange={set('q')} />
        </label>
        <label>
          Tier <input value={filters.tier} onChange={set('tier')} />
        </label>
        <label>
          Status <input value={filters.status} onChange={set('status')} />
        </label>
        <label>
          Type <input value={filters.server_type} onChange={set('server_type')} />
        </label>
      </div>
      <ErrorDisplay error={page.error} />
      <Section title="Artifacts">
        <Table label="Catalog" columns={['Server', 'Tier', 'Health', 'Platforms', 'Digest', 'Lineage', 'Built']}>
          {(page.data?.entries ?? []).map((e) => (
            <tr key={e.run_id}>
              <td>
                <a href={`#/servers/${e.server_id}`}>{e.server_name}</a>{' '}
                <a href={`#/builds/${e.run_id}`}>build {e.run_id}</a>
              </td>
              <td>{e.tier}</td>
              <td>
                <Status value={e.health.overall} /> {e.health.issues.join('; ')}
              </td>
              <td>{e.platforms.map((p) => p.platform).join(', ')}</td>
              <td>
                <Digest value={e.manifest_digest} />
              </td>
              <td>
                {e.promotion_history.length
                  ? e.promotion_history.map((p) => p && `${p.track_name}: ${p.stage} (${p.status})`).join(' → ')
                  : 'not promoted'}
              </td>
              <td>
                <When at={e.last_built_at} />
              </td>
            </tr>
          ))}
        </Table>
      </Section>
      <nav aria-label="Pages" className="pager">
        <button type="button" disabled={!cursors.length} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <button
          type="button"
          disabled={!page.data?.next}
          onClick={() => page.data?.next && setCursors([...cursors, page.data.next])}
        >
          Next page
        </button>
      </nav>
    </>
  );
}
