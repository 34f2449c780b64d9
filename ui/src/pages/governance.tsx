// Governance: workflow definitions, starting a run, the run list (refreshed while open), and a run's
// steps (with step and status actions) and its audit log, live from the run's stream.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { call, client, type Schemas } from '../api';
import { Digest, ErrorDisplay, Section, Status, Table, TemporalLink, When, useSession, useStreamLines } from '../ui';

const RUNS_PAGE = 25;

/** Runs newest first, a page at a time (keyset on the run id); the open page refreshes itself. */
function RunList() {
  const [pages, setPages] = useState<(number | undefined)[]>([undefined]);
  const before = pages[pages.length - 1];
  const runs = useQuery({
    queryKey: ['gov-runs', before],
    queryFn: () =>
      call(
        client.GET('/api/governance/runs', {
          params: { query: { limit: String(RUNS_PAGE), ...(before ? { before: String(before) } : {}) } },
        }),
      ),
    refetchInterval: 5_000,
  });
  const rows = runs.data ?? [];
  return (
    <Section title="Runs">
      <ErrorDisplay error={runs.error} />
      <Table label="Run list" columns={['Run', 'Workflow', 'Status', 'Steps', 'Target', 'Started']}>
        {rows.map((r) => (
          <tr key={r.id} data-run={r.id}>
            <td>
              <a href={`#/governance/runs/${r.id}`}>Run {r.id}</a>
            </td>
            <td>{r.workflow_name}</td>
            <td>
              <Status value={r.status} />
            </td>
            <td>
              <ol className="steps" aria-label={`Steps of run ${r.id}`}>
                {r.steps.map((s) => (
                  <li key={s.position}>
                    {s.action} <Status value={s.status} />
                  </li>
                ))}
              </ol>
            </td>
            <td>
              tier {r.target_tier}
              {r.promotion_stage ? `, stage ${r.promotion_stage}` : ''} <Digest value={r.target_manifest_digest} />
            </td>
            <td>
              <When at={r.created_at} /> <TemporalLink workflowId={r.temporal_workflow_id} />
            </td>
          </tr>
        ))}
      </Table>
      {runs.isSuccess && rows.length === 0 ? <p>No runs{before ? ' before these' : ''}.</p> : null}
      <div className="pager">
        {pages.length > 1 ? (
          <button type="button" onClick={() => setPages(pages.slice(0, -1))}>
            Newer runs
          </button>
        ) : null}
        {rows.length === RUNS_PAGE ? (
          <button type="button" onClick={() => setPages([...pages, rows[rows.length - 1]!.id])}>
            Older runs
          </button>
        ) : null}
      </div>
    </Section>
  );
}

export function GovernancePage() {
  const { canMutate } = useSession();
  const workflows = useQuery({
    queryKey: ['gov-workflows'],
    queryFn: () => call(client.GET('/api/governance/workflows')),
  });
  const [runId, setRunId] = useState('');
  const start = useMutation({
    mutationFn: (id: number) =>
      call(
        client.POST('/api/governance/workflows/{id}/runs', {
          params: { path: { id: String(id) } },
          body: { notes: [] },
        }),
      ),
    onSuccess: (run) => (window.location.hash = `#/governance/runs/${run.id}`),
  });
  const open = (e: FormEvent) => {
    e.preventDefault();
    if (runId) window.location.hash = `#/governance/runs/${Number(runId)}`;
  };
  return (
    <>
      <h1>Governance</h1>
      <form onSubmit={open} className="filters" aria-label="Open a run">
        <label>
          Run id <input inputMode="numeric" pattern="[0-9]+" value={runId} onChange={(e) => setRunId(e.target.value)} />
        </label>
        <button type="submit">Open run</button>
      </form>
      <Section title="Workflows">
        <ErrorDisplay error={workflows.error ?? start.error} />
        <ul>
          {(workflows.data ?? []).map((w) => (
            <li key={w.id}>
              <strong>{w.name}</strong> ({w.workflow_type}, tier {w.tier}): {w.steps.length} steps{' '}
              {canMutate ? (
                <button type="button" onClick={() => start.mutate(w.id)}>
                  Start a run of {w.name}
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      </Section>
      <RunList />
    </>
  );
}

const STEP_ACTIONS = [
  ['in_progress', 'Start step'],
  ['completed', 'Complete step'],
  ['failed', 'Fail step'],
] as const;

export function RunPage({ id }: { id: number }) {
  const { canMutate } = useSession();
  const qc = useQueryClient();
  const [note, setNote] = useState('');
  const run = useQuery({
    queryKey: ['gov-run', id],
    queryFn: () => call(client.GET('/api/governance/runs/{id}', { params: { path: { id: String(id) } } })),
  });
  const live = useStreamLines(`/api/governance/runs/${id}/stream`, (event, data) => {
    void qc.invalidateQueries({ queryKey: ['gov-run', id] });
    return { event, data };
  });
  const step = useMutation({
    mutationFn: (v: { position: number; status: Schemas['GovernanceStepChange']['status'] }) =>
      call(
        client.POST('/api/governance/runs/{id}/steps/{position}', {
          params: { path: { id: String(id), position: String(v.position) } },
          body: note ? { status: v.status, note } : { status: v.status },
        }),
      ),
    onSuccess: (detail) => qc.setQueryData(['gov-run', id], detail),
  });
  const r = run.data;
  if (run.error) return <ErrorDisplay error={run.error} />;
  if (!r) return <p className="loading">Loading…</p>;
  return (
    <>
      <h1>
        Governance run {r.id} <Status value={r.status} />
      </h1>
      <p>
        Tier {r.target_tier}
        {r.promotion_stage ? `, promotion stage ${r.promotion_stage}` : ''}{' '}
        <TemporalLink workflowId={r.temporal_workflow_id} />
      </p>
      {canMutate ? (
        <label>
          Note for the next action <input value={note} onChange={(e) => setNote(e.target.value)} />
        </label>
      ) : null}
      <ErrorDisplay error={step.error} />
      <Section title="Steps">
        <ol className="steps">
          {r.steps.map((s) => (
            <li key={s.id} data-step={s.position}>
              <strong>{s.action}</strong> <Status value={s.status} /> {s.error ?? ''}
              {canMutate
                ? STEP_ACTIONS.map(([status, label]) => (
                    <button key={status} type="button" onClick={() => step.mutate({ position: s.position, status })}>
                      {label} {s.position}
                    </button>
                  ))
                : null}
            </li>
          ))}
        </ol>
      </Section>
      <Section title="Audit log">
        <ErrorDisplay error={live.error} />
        <ol className="audit">
          {r.audit_log.map((a) => (
            <li key={a.id}>
              <When at={a.created_at} /> <code>{a.event_type}</code> by {a.actor_id ?? 'the platform'}{' '}
              <code>{JSON.stringify(a.details)}</code>
            </li>
          ))}
        </ol>
      </Section>
    </>
  );
}
