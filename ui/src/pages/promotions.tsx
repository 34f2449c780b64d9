// Promotions: tracks with their stages, and the promotion history with approve / roll back.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { call, client } from '../api';
import { Digest, ErrorDisplay, Section, Status, TemporalLink, When, useSession, Table } from '../ui';

export function PromotionsPage() {
  const { canMutate } = useSession();
  const qc = useQueryClient();
  const tracks = useQuery({ queryKey: ['tracks'], queryFn: () => call(client.GET('/api/promotions/tracks')) });
  const history = useQuery({ queryKey: ['promotions'], queryFn: () => call(client.GET('/api/promotions/history')) });
  const decide = useMutation({
    mutationFn: ({ id, action }: { id: number; action: 'approve' | 'rollback' }) =>
      action === 'approve'
        ? call(
            client.POST('/api/promotions/{id}/approve', {
              params: { path: { id: String(id) } },
              body: { note: 'approved in the console' },
            }),
          )
        : call(
            client.POST('/api/promotions/{id}/rollback', {
              params: { path: { id: String(id) } },
              body: { note: 'rolled back in the console' },
            }),
          ),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['promotions'] }),
  });
  return (
    <>
      <h1>Promotions</h1>
      <Section title="Tracks">
        <ErrorDisplay error={tracks.error} />
        <ul>
          {(tracks.data ?? []).map((t) => (
            <li key={t.id}>
              <strong>{t.name}</strong> (tier {t.tier}): {t.stages.join(' → ')}
              {t.launch_stage ? `; launches from ${t.launch_stage}` : ''}
              {t.required_certifications.length ? `; needs ${t.required_certifications.join(', ')}` : ''}
              {t.require_distinct_approver ? '; approver must differ from the scheduler' : ''}
            </li>
          ))}
        </ul>
      </Section>
      <Section title="History">
        <ErrorDisplay error={history.error ?? decide.error} />
        <Table columns={['Id', 'Track', 'Stage', 'Status', 'Artifact', 'Scheduled', 'Actions']}>
          {(history.data ?? []).map((p) => (
            <tr key={p.id} data-promotion={p.id}>
              <td>{p.id}</td>
              <td>{p.track_name}</td>
              <td>{p.stage}</td>
              <td>
                <Status value={p.status} /> {p.notes.join('; ')}
              </td>
              <td>
                <Digest value={p.manifest_digest} />
              </td>
              <td>
                <When at={p.scheduled_at} /> <TemporalLink workflowId={p.temporal_workflow_id} />
              </td>
              <td>
                {canMutate ? (
                  <>
                    <button type="button" onClick={() => decide.mutate({ id: p.id, action: 'approve' })}>
                      Approve {p.id}
                    </button>
                    <button type="button" onClick={() => decide.mutate({ id: p.id, action: 'rollback' })}>
                      Roll back {p.id}
                    </button>
                  </>
                ) : null}
              </td>
            </tr>
          ))}
        </Table>
      </Section>
    </>
  );
}
