// Promotions: tracks with their stages (and the form that creates one), and the promotion history
// with approve / roll back.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { call, client, type Schemas } from '../api';
import { Digest, ErrorDisplay, Section, Status, TemporalLink, When, useSession, Table } from '../ui';

/** A comma- or space-separated field as a list, empty entries dropped. */
const list = (text: string) => text.split(/[\s,]+/).filter(Boolean);

const EMPTY_TRACK = {
  name: '',
  tier: '',
  stages: 'candidate, staging, production',
  description: '',
  workflow_id: '',
  launch_stage: '',
  required_certifications: '',
  require_distinct_approver: false,
  allow_drift: false,
};

function CreateTrackForm() {
  const qc = useQueryClient();
  const [form, setForm] = useState(EMPTY_TRACK);
  const workflows = useQuery({
    queryKey: ['gov-workflows'],
    queryFn: () => call(client.GET('/api/governance/workflows')),
  });
  const create = useMutation({
    mutationFn: (body: Schemas['CreateTrack']) => call(client.POST('/api/promotions/tracks', { body })),
    onSuccess: () => {
      setForm(EMPTY_TRACK);
      void qc.invalidateQueries({ queryKey: ['tracks'] });
    },
  });
  const text = (k: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm({ ...form, [k]: e.target.value });
  const flag = (k: keyof typeof form) => (e: { target: { checked: boolean } }) =>
    setForm({ ...form, [k]: e.target.checked });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    // Empty optional fields are left out, so the API's defaults apply.
    create.mutate({
      name: form.name.trim(),
      tier: form.tier.trim(),
      stages: list(form.stages),
      ...(form.description.trim() ? { description: form.description.trim() } : {}),
      ...(form.workflow_id ? { workflow_id: Number(form.workflow_id) } : {}),
      ...(form.launch_stage.trim() ? { launch_stage: form.launch_stage.trim() } : {}),
      ...(form.required_certifications.trim() ? { required_certifications: list(form.required_certifications) } : {}),
      require_distinct_approver: form.require_distinct_approver,
      allow_drift: form.allow_drift,
    });
  };
  const stages = list(form.stages);
  return (
    <form onSubmit={submit} className="card" aria-label="Create a track">
      <label>
        Name <input required value={form.name} onChange={text('name')} />
      </label>
      <label>
        Tier <input required value={form.tier} onChange={text('tier')} placeholder="Router or gold:Router" />
      </label>
      <label>
        Stages, in order <input required value={form.stages} onChange={text('stages')} />
      </label>
      <label>
        Description <input value={form.description} onChange={text('description')} />
      </label>
      <label>
        Governance workflow each promotion runs{' '}
        <select value={form.workflow_id} onChange={text('workflow_id')}>
          <option value="">none</option>
          {(workflows.data ?? []).map((w) => (
            <option key={w.id} value={w.id}>
              {w.name} ({w.tier})
            </option>
          ))}
        </select>
      </label>
      <label>
        Launch gate: stage a server needs{' '}
        <select value={form.launch_stage} onChange={text('launch_stage')}>
          <option value="">no gate</option>
          {stages.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </label>
      <label>
        Required certifications{' '}
        <input value={form.required_certifications} onChange={text('required_certifications')} />
      </label>
      <label>
        <input type="checkbox" checked={form.require_distinct_approver} onChange={flag('require_distinct_approver')} />{' '}
        Approver must differ from the scheduler
      </label>
      <label>
        <input type="checkbox" checked={form.allow_drift} onChange={flag('allow_drift')} /> Allow drifted tools
      </label>
      <button type="submit" disabled={create.isPending}>
        Create track
      </button>
      <ErrorDisplay error={create.error ?? workflows.error} />
    </form>
  );
}

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
        {canMutate ? (
          <details className="create">
            <summary>Create a track</summary>
            <CreateTrackForm />
          </details>
        ) : null}
        <ErrorDisplay error={tracks.error} />
        <ul>
          {(tracks.data ?? []).map((t) => (
            <li key={t.id} data-track={t.name}>
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
