// Certifications with their evidence (status, validity window, notes) and the Temporal workflow.
import { useQuery } from '@tanstack/react-query';
import { call, client } from '../api';
import { Digest, ErrorDisplay, Section, Status, TemporalLink, When } from '../ui';

export function CertificationsPage() {
  const list = useQuery({ queryKey: ['certifications'], queryFn: () => call(client.GET('/api/evaluations')) });
  return (
    <>
      <h1>Certifications</h1>
      <ErrorDisplay error={list.error} />
      <Section title="All certifications">
        <ul>
          {(list.data ?? []).map((c) => (
            <li key={c.id}>
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
