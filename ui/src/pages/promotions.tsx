// Promotions: tracks with their stages (and the form that creates one), and the promotion history
// with approve / roll back.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { call, client, type Schemas } from '../api';
import {
  Digest,
  ErrorDisplay,
  Section,
  Status,
  TemporalLink,
  When,
  focusProps,
  useFocusedItem,
  useSession,
  Table,
} from '../ui';

/** A comma- or space-separated field as a list, empty entries dropped. */
const list = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** The API's ceiling for one stage's soak: a week. */
const MAX_SOAK_SECONDS = 7 * 86_400;

/** A soak map as the tracks list shows it: `staging 600 s, production 3600 s`. */
const soakText = (soak: Record<string, number>, stages: readonly string[]) =>
  stages
    .filter((s) => soak[s] !== undefined)
    .map((s) => `${s} ${soak[s]} s`)
    .join(', ');

/** How a promotion's soak end time reads next to its soak state. */
const SOAK_END_WORD: Record<Schemas['PromotionRecord']['soak_state'] & string, string> = {
  soaking: 'until',
  passed: 'ended',
  failed: 'was due',
  cancelled: 'was due',
};

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
  /** Stage → seconds as typed; only the stages still listed, with a value, are sent. */
  soak_seconds: {} as Record<string, string>,
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
  const text = (k: Exclude<keyof typeof form, 'soak_seconds'>) => (e: { target: { value: string } }) =>
    setForm({ ...form, [k]: e.target.value });
  const flag = (k: Exclude<keyof typeof form, 'soak_seconds'>) => (e: { target: { checked: boolean } }) =>
    setForm({ ...form, [k]: e.target.checked });
  const soakInput = (stage: string) => (e: { target: { value: string } }) =>
    setForm({ ...form, soak_seconds: { ...form.soak_seconds, [stage]: e.target.value } });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const soak = Object.fromEntries(
      list(form.stages)
        .map((s) => s.toLowerCase())
        .filter((s) => form.soak_seconds[s]?.trim())
        .map((s) => [s, Number(form.soak_seconds[s])]),
    );
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
      ...(Object.keys(soak).length ? { soak_seconds: soak } : {}),
    });
  };
  // Lower-cased as the API stores them, so a soak typed for a stage keys the stored name.
  const stages = list(form.stages).map((s) => s.toLowerCase());
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
      <fieldset>
        <legend>Soak per stage, in seconds (optional; a promotion active there is watched that long)</legend>
        {stages.map((s) => (
          <label key={s}>
            Soak at {s}, seconds{' '}
            <input
              type="number"
              inputMode="numeric"
              min={1}
              max={MAX_SOAK_SECONDS}
              step={1}
              value={form.soak_seconds[s] ?? ''}
              onChange={soakInput(s)}
            />
          </label>
        ))}
      </fieldset>
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

export function PromotionsPage({ focus }: { focus?: number }) {
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
  useFocusedItem(focus === undefined ? null : `promotion-${focus}`, history.isSuccess);
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
              {Object.keys(t.soak_seconds).length ? `; soaks ${soakText(t.soak_seconds, t.stages)}` : ''}
            </li>
          ))}
        </ul>
      </Section>
      <Section title="History">
        <ErrorDisplay error={history.error ?? decide.error} />
        <Table
          label="Promotion history"
          columns={['Id', 'Track', 'Stage', 'Status', 'Soak', 'Artifact', 'Scheduled', 'Actions']}
        >
          {(history.data ?? []).map((p) => (
            <tr key={p.id} data-promotion={p.id} {...focusProps(`promotion-${p.id}`, p.id === focus)}>
              <td>{p.id}</td>
              <td>{p.track_name}</td>
              <td>{p.stage}</td>
              <td>
                <Status value={p.status} /> {p.notes.join('; ')}
                {p.rollback_reason ? <p className="rollback-reason">Rolled back: {p.rollback_reason}</p> : null}
              </td>
              <td>
                {p.soak_state ? (
                  <>
                    <Status value={p.soak_state} />{' '}
                    {p.soak_ends_at ? (
                      <>
                        {SOAK_END_WORD[p.soak_state]} <When at={p.soak_ends_at} />
                      </>
                    ) : null}
                  </>
                ) : (
                  '—'
                )}
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
