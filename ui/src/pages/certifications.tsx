// Certifications with their evidence (status, validity window, notes) and the Temporal workflow, and
// the form that records one: a manual verdict, or an automatic evaluation against expected tools.
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
} from '../ui';

const EMPTY = {
  run: '',
  tier: '',
  policy_requirement: '',
  mode: 'manual' as 'manual' | 'evaluate',
  status: 'pass' as NonNullable<Schemas['CertificationSubmit']['status']>,
  expected_tools: '',
  valid_until: '',
  refresh_cadence_seconds: '',
  governance_notes: '',
  evidence: '',
};

/** The form's body for the API, or the sentence that says which field is wrong. */
function bodyOf(form: typeof EMPTY): Schemas['CertificationSubmit'] | string {
  let evidence: unknown;
  if (form.evidence.trim()) {
    try {
      evidence = JSON.parse(form.evidence);
    } catch {
      return 'Evidence must be JSON (an object such as {"report": "…"}).';
    }
  }
  return {
    tier: form.tier.trim(),
    policy_requirement: form.policy_requirement.trim(),
    evaluate: form.mode === 'evaluate',
    ...(form.mode === 'evaluate'
      ? { expected_tools: form.expected_tools.split(/[\s,]+/).filter(Boolean) }
      : { status: form.status }),
    // datetime-local has no zone: it is the browser's local time, sent as an instant.
    ...(form.valid_until ? { valid_until: new Date(form.valid_until).toISOString() } : {}),
    ...(form.refresh_cadence_seconds ? { refresh_cadence_seconds: Number(form.refresh_cadence_seconds) } : {}),
    ...(form.governance_notes.trim() ? { governance_notes: form.governance_notes.trim() } : {}),
    ...(evidence === undefined ? {} : { evidence }),
  };
}

function CertifyForm() {
  const qc = useQueryClient();
  const [form, setForm] = useState(EMPTY);
  const [invalid, setInvalid] = useState('');
  const submit = useMutation({
    mutationFn: ({ run, body }: { run: number; body: Schemas['CertificationSubmit'] }) =>
      call(client.POST('/api/artifacts/{id}/evaluations', { params: { path: { id: String(run) } }, body })),
    onSuccess: () => {
      setForm(EMPTY);
      void qc.invalidateQueries({ queryKey: ['certifications'] });
    },
  });
  const set = (k: keyof typeof EMPTY) => (e: { target: { value: string } }) =>
    setForm({ ...form, [k]: e.target.value });
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const body = bodyOf(form);
    setInvalid(typeof body === 'string' ? body : '');
    if (typeof body !== 'string') submit.mutate({ run: Number(form.run), body });
  };
  return (
    <form onSubmit={onSubmit} className="card" aria-label="Certify a build">
      <label>
        Build run id <input required inputMode="numeric" pattern="[0-9]+" value={form.run} onChange={set('run')} />
      </label>
      <label>
        Tier <input required value={form.tier} onChange={set('tier')} placeholder="gold:Router" />
      </label>
      <label>
        Requirement <input required value={form.policy_requirement} onChange={set('policy_requirement')} />
      </label>
      <fieldset>
        <legend>Verdict</legend>
        <label>
          <input
            type="radio"
            name="mode"
            checked={form.mode === 'manual'}
            onChange={() => setForm({ ...form, mode: 'manual' })}
          />{' '}
          Record a verdict
        </label>
        <label>
          <input
            type="radio"
            name="mode"
            checked={form.mode === 'evaluate'}
            onChange={() => setForm({ ...form, mode: 'evaluate' })}
          />{' '}
          Evaluate automatically (launch, list tools, compare)
        </label>
        {form.mode === 'manual' ? (
          <label>
            Status{' '}
            <select value={form.status} onChange={set('status')}>
              <option>pass</option>
              <option>fail</option>
              <option>pending</option>
            </select>
          </label>
        ) : (
          <label>
            Expected tools <input required value={form.expected_tools} onChange={set('expected_tools')} />
          </label>
        )}
      </fieldset>
      <label>
        Valid until <input type="datetime-local" value={form.valid_until} onChange={set('valid_until')} />
      </label>
      <label>
        Refresh every (seconds){' '}
        <input
          inputMode="numeric"
          pattern="[1-9][0-9]*"
          value={form.refresh_cadence_seconds}
          onChange={set('refresh_cadence_seconds')}
        />
      </label>
      <label>
        Notes <input value={form.governance_notes} onChange={set('governance_notes')} />
      </label>
      <label>
        Evidence (JSON) <textarea rows={3} value={form.evidence} onChange={set('evidence')} />
      </label>
      <button type="submit" disabled={submit.isPending}>
        Certify
      </button>
      <ErrorDisplay error={invalid || submit.error} />
    </form>
  );
}

export function CertificationsPage({ focus }: { focus?: number }) {
  const { canMutate } = useSession();
  const list = useQuery({ queryKey: ['certifications'], queryFn: () => call(client.GET('/api/evaluations')) });
  useFocusedItem(focus === undefined ? null : `certification-${focus}`, list.isSuccess);
  return (
    <>
      <h1>Certifications</h1>
      {canMutate ? (
        <details className="create">
          <summary>Certify a build</summary>
          <CertifyForm />
        </details>
      ) : null}
      <ErrorDisplay error={list.error} />
      <Section title="All certifications">
        <ul>
          {(list.data ?? []).map((c) => (
            <li key={c.id} data-certification={c.id} {...focusProps(`certification-${c.id}`, c.id === focus)}>
              <strong>{c.policy_requirement}</strong> tier {c.tier} <Status value={c.status} /> for{' '}
              <a href={`#/builds/${c.build_artifact_run_id}`}>build {c.build_artifact_run_id}</a>{' '}
              <Digest value={c.manifest_digest} />, valid <When at={c.valid_from} /> – <When at={c.valid_until} />{' '}
              {c.governance_notes ?? ''} <TemporalLink workflowId={c.workflow_id} />
            </li>
          ))}
        </ul>
      </Section>
    </>
  );
}
