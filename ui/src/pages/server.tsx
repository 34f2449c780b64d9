// One server: status history with reasons, runtime and endpoint, live logs, policy decisions with
// their notes, the gates it waits on in words, client config, builds, tools and a tool console.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ApiError, call, client, token, type Schemas, type ServerEvent } from '../api';
import {
  CopyButton,
  Digest,
  ErrorDisplay,
  Section,
  Status,
  TemporalLink,
  When,
  useSession,
  useStreamLines,
  workflowId,
  sourceLabel,
} from '../ui';

const INTENTS = [
  ['start', 'Start'],
  ['stop', 'Stop'],
  ['redeploy', 'Redeploy'],
  ['builds', 'Build now'],
] as const;

function Actions({ id }: { id: number }) {
  const qc = useQueryClient();
  const act = useMutation({
    mutationFn: async (intent: (typeof INTENTS)[number][0] | 'delete') => {
      const params = { params: { path: { id: String(id) } } };
      if (intent === 'delete') return call(client.DELETE('/api/servers/{id}', params));
      if (intent === 'start') return call(client.POST('/api/servers/{id}/start', params));
      if (intent === 'stop') return call(client.POST('/api/servers/{id}/stop', params));
      if (intent === 'redeploy') return call(client.POST('/api/servers/{id}/redeploy', params));
      return call(client.POST('/api/servers/{id}/builds', params));
    },
    onSuccess: () => qc.invalidateQueries({ queryKey: ['server', id] }),
  });
  return (
    <div className="actions" role="group" aria-label="Server actions">
      {INTENTS.map(([intent, label]) => (
        <button key={intent} type="button" onClick={() => act.mutate(intent)} disabled={act.isPending}>
          {label}
        </button>
      ))}
      <button
        type="button"
        className="danger"
        onClick={() => window.confirm('Delete this server?') && act.mutate('delete')}
        disabled={act.isPending}
      >
        Delete
      </button>
      <ErrorDisplay error={act.error} />
    </div>
  );
}

type Gate = Schemas['ServerGates']['gates'][number];

const CERTIFICATION_REASON: Record<Extract<Gate, { kind: 'certification' }>['state'], string> = {
  certified: 'passed and is valid',
  missing: 'no certification on record',
  pending: 'pending: not evaluated yet',
  failed: 'failed',
  expired: 'its validity window has ended',
  stale: 'due for its refresh',
  'missing-manifest': 'no build of this server has a manifest digest yet',
  'missing-tier': 'the artifact has no tier yet, so no certification applies',
};

function CertificationGate({
  gate,
  digest,
}: {
  gate: Extract<Gate, { kind: 'certification' }>;
  digest: string | null;
}) {
  const c = gate.certification;
  return (
    <>
      Certification <strong>{gate.requirement ?? '(any required)'}</strong> at tier <strong>{gate.tier ?? '—'}</strong>{' '}
      of artifact <Digest value={digest} />
      {gate.required_by.length
        ? `, required by track ${gate.required_by.join(', ')}`
        : ', on record though no track requires it'}
      {c ? (
        <>
          {' '}
          — <a href={`#/certifications/${c.id}`}>certification {c.id}</a> <Status value={c.status} />
          {c.valid_until ? (
            <>
              , valid until <When at={c.valid_until} />
            </>
          ) : null}{' '}
          <TemporalLink workflowId={c.workflow_id} />
        </>
      ) : null}
      <br />
      <span className="gate-reason">
        {gate.met ? 'Met' : 'Not met'}: {CERTIFICATION_REASON[gate.state]}
      </span>
    </>
  );
}

function promotionReason(gate: Extract<Gate, { kind: 'promotion' }>): string {
  const p = gate.promotion;
  switch (gate.state) {
    case 'active':
      return p && p.stage !== gate.track.launch_stage
        ? `active at ${p.stage}, past the launch stage ${gate.track.launch_stage}`
        : `active at ${gate.track.launch_stage}`;
    case 'not-active':
      return `promotion ${p?.id ?? ''} is ${p?.status ?? 'not active'} at ${gate.track.launch_stage}, not yet active`;
    case 'missing':
      return `no promotion of this artifact to ${gate.track.launch_stage} yet`;
    case 'missing-manifest':
      return 'no build of this server has a manifest digest yet';
  }
}

function PromotionGate({ gate, digest }: { gate: Extract<Gate, { kind: 'promotion' }>; digest: string | null }) {
  const p = gate.promotion;
  return (
    <>
      Promotion on track <strong>{gate.track.name}</strong> to stage <strong>{gate.track.launch_stage}</strong> of
      artifact <Digest value={digest} />
      {p ? (
        <>
          {' '}
          — <a href={`#/promotions/${p.id}`}>promotion {p.id}</a> at {p.stage} <Status value={p.status} />{' '}
          <TemporalLink workflowId={p.workflow_id} />
          {p.governance_run_id !== null ? (
            <>
              {' '}
              governed by <a href={`#/governance/runs/${p.governance_run_id}`}>run {p.governance_run_id}</a>{' '}
              <TemporalLink workflowId={p.governance_workflow_id} />
            </>
          ) : null}
        </>
      ) : null}
      <br />
      <span className="gate-reason">
        {gate.met ? 'Met' : 'Not met'}: {promotionReason(gate)}
      </span>
    </>
  );
}

/** What a launch waits on: each gate named, met or not and why, and what the decision itself lacks. */
function Gates({
  gates,
  latest,
}: {
  gates: Schemas['ServerGates'] | undefined;
  latest: Schemas['PolicyDecision'] | undefined;
}) {
  const others: string[] = [];
  if (latest && !latest.capabilities_satisfied)
    others.push(`capabilities: ${latest.capability_requirements.join(', ')}`);
  // A built source's launch waits on a build only while it has no usable one (the decision's notes say so).
  const build = latest?.notes.find((n) => n === 'artifact:none' || n.startsWith('artifact:unusable:'));
  if (latest?.requires_build && build)
    others.push(build === 'artifact:none' ? 'a build of its source' : `a build that succeeds (${build})`);
  if (!gates) return <p>{latest ? 'Reading the gates…' : 'No policy decision yet.'}</p>;
  if (gates.gates.length === 0 && others.length === 0)
    return (
      <p>
        No certification or promotion gate governs this server
        {latest ? (latest.launchable ? '; launchable.' : '; not launchable, see the decision notes.') : '.'}
      </p>
    );
  const waiting = gates.gates.filter((g) => !g.met).length + others.length;
  return (
    <>
      <p>
        {waiting ? `Waits on ${waiting} of ${gates.gates.length + others.length}` : 'Every gate is met'}; judged{' '}
        <When at={gates.judged_at} />.
      </p>
      <ul className="gates" aria-label="Gates">
        {gates.gates.map((g) => (
          <li
            key={g.kind === 'promotion' ? `promotion-${g.track.id}` : `certification-${g.requirement ?? ''}`}
            className={g.met ? 'gate-met' : 'gate-unmet'}
            data-gate={g.kind}
            data-met={g.met}
          >
            <span className="gate-mark" aria-hidden="true">
              {g.met ? '✓' : '✗'}
            </span>
            <div>
              {g.kind === 'certification' ? (
                <CertificationGate gate={g} digest={gates.manifest_digest} />
              ) : (
                <PromotionGate gate={g} digest={gates.manifest_digest} />
              )}
            </div>
          </li>
        ))}
        {others.map((o) => (
          <li key={o} className="gate-unmet" data-gate="decision" data-met={false}>
            <span className="gate-mark" aria-hidden="true">
              ✗
            </span>
            <div>Waits on {o}</div>
          </li>
        ))}
      </ul>
    </>
  );
}

function ToolConsole({ id, tools }: { id: number; tools: { name: string }[] }) {
  const [tool, setTool] = useState(tools[0]?.name ?? '');
  const [args, setArgs] = useState('{}');
  const [exchange, setExchange] = useState<{ dir: string; body: unknown }[]>([]);
  const [error, setError] = useState<unknown>(null);
  const run = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const log: { dir: string; body: unknown }[] = [];
    let session: string | null = null;
    const rpc = async (body: object) => {
      log.push({ dir: '→', body });
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${token.get() ?? ''}`,
      };
      if (session) headers['mcp-session-id'] = session;
      const res = await fetch(`/mcp/${id}`, { method: 'POST', headers, body: JSON.stringify(body) });
      session = res.headers.get('mcp-session-id') ?? session;
      const text = await res.text();
      if (!('id' in body)) return;
      const json = res.headers.get('content-type')?.includes('text/event-stream')
        ? JSON.parse(
            text
              .split('\n')
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5))
              .join('\n') || 'null',
          )
        : text
          ? JSON.parse(text)
          : { status: res.status };
      log.push({ dir: `← ${res.status}`, body: json });
    };
    try {
      const parsed: unknown = JSON.parse(args);
      await rpc({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'mcp-host-console', version: '0.1.0' },
        },
      });
      await rpc({ jsonrpc: '2.0', method: 'notifications/initialized' });
      await rpc({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: tool, arguments: parsed } });
    } catch (err) {
      setError(err);
    }
    setExchange(log);
  };
  return (
    <form onSubmit={run} aria-label="Tool console" className="card">
      <label>
        Tool{' '}
        <select value={tool} onChange={(e) => setTool(e.target.value)}>
          {tools.map((t) => (
            <option key={t.name}>{t.name}</option>
          ))}
        </select>
      </label>
      <label>
        Arguments (JSON) <textarea rows={3} value={args} onChange={(e) => setArgs(e.target.value)} />
      </label>
      <button type="submit">Call through the gateway</button>
      <ErrorDisplay error={error} />
      <ol className="exchange" aria-label="JSON-RPC exchange">
        {exchange.map((m, i) => (
          <li key={i}>
            <span className="dir">{m.dir}</span>
            <pre>{JSON.stringify(m.body, null, 2)}</pre>
          </li>
        ))}
      </ol>
    </form>
  );
}

export function ServerPage({ id }: { id: number }) {
  const { canMutate, config } = useSession();
  const qc = useQueryClient();
  const path = { params: { path: { id: String(id) } } };
  const server = useQuery({ queryKey: ['server', id], queryFn: () => call(client.GET('/api/servers/{id}', path)) });
  const decisions = useQuery({
    queryKey: ['decisions', id],
    queryFn: () => call(client.GET('/api/servers/{id}/decisions', path)),
  });
  const gates = useQuery({
    queryKey: ['gates', id],
    queryFn: () => call(client.GET('/api/servers/{id}/gates', path)),
    // A certification or promotion moves on without a server event: look again while one is unmet.
    refetchInterval: (q) => (q.state.data?.gates.some((g) => !g.met) ? 5000 : false),
  });
  const builds = useQuery({
    queryKey: ['builds', id],
    queryFn: () => call(client.GET('/api/servers/{id}/builds', path)),
  });
  const clientConfig = useQuery({
    queryKey: ['client-config', id],
    queryFn: () => call(client.GET('/api/servers/{id}/client-config', path)),
  });
  const manifest = useQuery({
    queryKey: ['manifest', id],
    retry: false,
    queryFn: () => call(client.GET('/api/servers/{id}/manifest', path)),
  });
  const history = useStreamLines(`/api/servers/stream?server_id=${id}&last_event_id=0`, (event, data) => {
    // Each status change refreshes the rows that follow from it.
    void qc.invalidateQueries({ queryKey: ['server', id] });
    void qc.invalidateQueries({ queryKey: ['builds', id] });
    void qc.invalidateQueries({ queryKey: ['decisions', id] });
    void qc.invalidateQueries({ queryKey: ['gates', id] });
    // The tools come from the running server: a server that starts after the page opened shows them.
    void qc.invalidateQueries({ queryKey: ['manifest', id] });
    return event === 'deleted' ? undefined : (data as ServerEvent);
  });
  const logs = useStreamLines(server.data ? `/api/servers/${id}/logs/stream?tail=200` : null, (event, data) =>
    event === 'log' ? (typeof data === 'string' ? data : JSON.stringify(data)) : undefined,
  );
  const s = server.data;
  const latest = decisions.data?.[0];
  if (server.error) return <ErrorDisplay error={server.error} />;
  if (!s) return <p className="loading">Loading…</p>;
  return (
    <>
      <h1>
        {s.name} <Status value={s.status} />
      </h1>
      <p>
        {s.status_reason ?? ''} <TemporalLink workflowId={workflowId(config, 'server', id)} />
      </p>
      {canMutate ? <Actions id={id} /> : null}
      <div className="grid">
        <Section title="Runtime and endpoint">
          <dl>
            <dt>Source</dt>
            <dd>{sourceLabel(s.source)}</dd>
            <dt>Runs on</dt>
            <dd>{latest ? `${latest.backend}${latest.executor_name ? ` (${latest.executor_name})` : ''}` : '—'}</dd>
            <dt>Image</dt>
            <dd>{latest?.image ?? '—'}</dd>
            <dt>Endpoint</dt>
            <dd>{clientConfig.data ? <code>{clientConfig.data.url}</code> : '—'}</dd>
          </dl>
        </Section>
        <Section title="Gates">
          <ErrorDisplay error={gates.error} />
          <Gates gates={gates.data} latest={latest} />
        </Section>
      </div>
      <Section title="Status history">
        <ErrorDisplay error={history.error} />
        <ol className="history">
          {history.lines.map((e) => (
            <li key={e.event_id}>
              <When at={e.at} /> {e.previous_status ?? '—'} → <Status value={e.status} />{' '}
              {e.reason ? `— ${e.reason}` : ''}
            </li>
          ))}
        </ol>
      </Section>
      <Section title="Builds">
        <ErrorDisplay error={builds.error} />
        <ul>
          {(builds.data ?? []).map((b) => (
            <li key={b.id}>
              <a href={`#/builds/${b.id}`}>Build {b.id}</a> <Status value={b.status} /> <When at={b.started_at} />{' '}
              <Digest value={b.manifest_digest} /> {b.platforms.map((p) => p.platform).join(', ')}
            </li>
          ))}
        </ul>
      </Section>
      <Section title="Policy decisions">
        <ErrorDisplay error={decisions.error} />
        <ol className="decisions">
          {(decisions.data ?? []).map((d) => (
            <li key={d.id}>
              <When at={d.decided_at} /> <strong>{d.backend}</strong> (candidate {d.candidate_backend}), policy{' '}
              {d.policy_version}, {d.launchable ? 'launchable' : 'not launchable'}
              <ul>
                {d.notes.map((n, i) => (
                  <li key={i}>{n}</li>
                ))}
              </ul>
            </li>
          ))}
        </ol>
      </Section>
      <Section title="Live logs">
        {logs.error instanceof ApiError && logs.error.status === 409 ? (
          // A server never launched has no workload to read: that is a state, not an error.
          <p>No live logs: the server has not been launched yet.</p>
        ) : (
          <ErrorDisplay error={logs.error} />
        )}
        <pre className="log" role="log" aria-live="off" tabIndex={0} aria-label="Server output">
          {logs.lines.join('\n')}
        </pre>
      </Section>
      <Section
        title="Client config"
        actions={
          clientConfig.data ? (
            <CopyButton
              text={JSON.stringify({ mcpServers: clientConfig.data.mcpServers }, null, 2)}
              label="Copy client config"
            />
          ) : null
        }
      >
        <ErrorDisplay error={clientConfig.error} />
        {clientConfig.data ? <pre>{JSON.stringify({ mcpServers: clientConfig.data.mcpServers }, null, 2)}</pre> : null}
      </Section>
      <Section title="Tools">
        {manifest.data ? (
          <>
            <ul>
              {manifest.data.tools.map((t) => (
                <li key={t.name}>
                  <code>{t.name}</code> {t.description ?? ''}
                </li>
              ))}
            </ul>
            {manifest.data.tools.length ? <ToolConsole id={id} tools={manifest.data.tools} /> : null}
          </>
        ) : (
          <p>No manifest yet: the server reports its tools at its first health check.</p>
        )}
      </Section>
    </>
  );
}
