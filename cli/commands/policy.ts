// mcpctl policy: vm (a server's VM attestation posture) and decisions (its runtime policy decisions).
import { Command } from 'commander';
import type { VmPosture } from '../../lib/vm/schemas.js';
import { clientFrom } from '../client.js';
import { formatTable, printJson, withJson, type Cell } from '../output.js';
import { checkOption, Id } from '../validate.js';
import { Limit } from './builds.js';

/** A decision as GET /api/servers/{id}/decisions answers it (newest first). */
export interface PolicyDecisionView {
  id: number;
  decided_at: string;
  backend: string;
  candidate_backend: string;
  image: string | null;
  executor_name: string | null;
  capabilities_satisfied: boolean;
  evaluation_required: boolean;
  governance_required: boolean;
  launchable: boolean;
  tier: string | null;
  health_overall: string | null;
  notes: string[];
}

export const NO_VM_INSTANCES = 'No VM instances recorded for this server';

export const vmTable = (posture: VmPosture): [string[], Cell[][]] => [
  ['instance', 'status', 'tier', 'updated', 'active'],
  posture.instances.map((i) => [
    i.instance_id,
    i.attestation_status,
    i.isolation_tier,
    i.updated_at,
    i.instance_id === posture.active_instance_id ? 'yes' : 'no',
  ]),
];

/** The whole `policy vm` text: the table, then the posture and active instance lines. */
export function vmText(posture: VmPosture): string {
  if (posture.instances.length === 0) return NO_VM_INSTANCES;
  const lines = [formatTable(...vmTable(posture)), ''];
  if (posture.latest_status) {
    lines.push(
      `Latest posture: ${posture.latest_status}${posture.last_updated_at ? ` (updated ${posture.last_updated_at})` : ''}`,
    );
  }
  if (posture.active_instance_id) lines.push(`Active instance: ${posture.active_instance_id}`);
  return lines.join('\n');
}

/** `candidate->backend` when the policy moved the server, else the backend. */
export const backendCell = (d: Pick<PolicyDecisionView, 'backend' | 'candidate_backend'>) =>
  d.candidate_backend && d.candidate_backend !== d.backend ? `${d.candidate_backend}->${d.backend}` : d.backend;

/** The first three notes, then how many more there are: "a; b; c (+4 more)". */
export function notesCell(notes: readonly string[]): string {
  const shown = notes.slice(0, 3).join('; ');
  return notes.length > 3 ? `${shown} (+${notes.length - 3} more)` : shown;
}

export const decisionsTable = (decisions: PolicyDecisionView[]): [string[], Cell[][]] => [
  ['id', 'decided', 'backend', 'launchable', 'image', 'notes'],
  decisions.map((d) => [d.id, d.decided_at, backendCell(d), d.launchable ? 'yes' : 'no', d.image, notesCell(d.notes)]),
];

export function policyCommand(): Command {
  const policy = new Command('policy').description('runtime policy: VM attestation posture and launch decisions');

  withJson(
    policy
      .command('vm')
      .description("a server's VM attestation posture: recent instances, latest status, active instance"),
  )
    .argument('<server_id>', 'server id')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const serverId = checkOption('SERVER_ID', Id, id);
      const posture = await clientFrom(cmd).get<VmPosture>(`/api/servers/${serverId}/vm`);
      if (opts.json) return printJson(posture);
      process.stdout.write(`${vmText(posture)}\n`);
    });

  withJson(policy.command('decisions').description("a server's runtime policy decisions, newest first"))
    .argument('<server_id>', 'server id')
    .option('--limit <n>', 'at most this many decisions (1-1000)')
    .action(async (id: string, opts: { limit?: string; json?: boolean }, cmd: Command) => {
      const serverId = checkOption('SERVER_ID', Id, id);
      const limit = checkOption('--limit', Limit, opts.limit);
      const query = limit === undefined ? '' : `?limit=${limit}`;
      const decisions = await clientFrom(cmd).get<PolicyDecisionView[]>(`/api/servers/${serverId}/decisions${query}`);
      if (opts.json) return printJson(decisions);
      process.stdout.write(`${formatTable(...decisionsTable(decisions))}\n`);
    });

  return policy;
}
