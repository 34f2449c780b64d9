// The automatic evaluation behind a certification: launch the certified artifact (pinned by its
// digest) in a throw-away container, run the MCP handshake and tools/list, compare the tools with
// the expected ones, and record pass or fail with the evidence — once per evaluation key.
import { setTimeout as delay } from 'node:timers/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type Docker from 'dockerode';
import type { Sql } from '../../lib/db.js';
import type { Env } from '../../lib/env.js';
import { ErrorType } from '../../lib/errors.js';
import { evaluationSubject, recordEvaluation } from '../../lib/ledger/certifications.js';
import { pinToDigest } from '../../lib/registry/reference.js';
import type { CredentialManager } from '../registry/credentials.js';
import { containerState, dockerWorkloads, imagePuller, runMcpContainer } from '../runtime/docker.js';
import { createSandboxNetworks } from '../runtime/sandbox-network.js';
import { createDockerBridge } from '../runtime/stdio-bridge.js';
import { readManifest, type McpManifest } from '../runtime/health.js';
import { normalizeSurface, surfaceDigest } from '../../lib/runtime/tool-surface.js';

/** How long a fresh container may take to answer before the evaluation calls it a failure. */
const ANSWER_WITHIN_MS = 30_000;

export interface EvaluationOutcome {
  status: 'pass' | 'fail' | 'gone';
  ownerId: number;
}

/** Pure: the verdict of a tool list against the expected one (names, order-insensitive). */
export function compareTools(expected: readonly string[], actual: readonly string[]) {
  const want = new Set(expected);
  const have = new Set(actual);
  const missing = [...want].filter((t) => !have.has(t)).sort();
  const unexpected = [...have].filter((t) => !want.has(t)).sort();
  return { pass: missing.length === 0 && unexpected.length === 0, missing, unexpected };
}

export function createEvaluationActivities(
  sql: Sql,
  env: Env,
  docker: Docker,
  credentials: CredentialManager,
  installation: string,
) {
  const ensureImage = imagePuller(docker, env, credentials);
  const { removeContainer } = dockerWorkloads(docker);
  const networks = createSandboxNetworks(installation, env, docker, (image) => ensureImage(image, 'platform'));
  const bridge = createDockerBridge(docker, env);

  /** Asks the container for its manifest until it answers, or the time is up. */
  async function probe(launched: { workload: string; endpoint: string | null }): Promise<McpManifest> {
    const deadline = Date.now() + ANSWER_WITHIN_MS;
    for (;;) {
      Context.current().heartbeat();
      try {
        if (!launched.endpoint) throw new Error(`container ${launched.workload} has no endpoint`);
        return await readManifest(launched.endpoint);
      } catch (err) {
        const state = containerState(launched.workload, await docker.getContainer(launched.workload).inspect());
        if (state.state === 'exited') throw new Error(`${state.reason} before answering`);
        if (Date.now() > deadline) throw err;
        await delay(500);
      }
    }
  }

  return {
    async evaluateCertification({
      certificationId,
      key,
    }: {
      certificationId: number;
      key: string;
    }): Promise<EvaluationOutcome> {
      const c = await evaluationSubject(sql, certificationId);
      if (!c) return { status: 'gone', ownerId: 0 };
      if (c.evidence_source?.evaluation_key === key)
        return { status: c.status as 'pass' | 'fail', ownerId: c.owner_id }; // recorded by an earlier attempt
      if (c.expected_tools === null)
        throw ApplicationFailure.nonRetryable(
          `certification ${certificationId} is manual: nothing to evaluate`,
          ErrorType.CertificationManual,
        );

      // The artifact itself: the registry image pinned by the certified digest.
      const image = c.registry_image ? pinToDigest(c.registry_image, c.manifest_digest) : `${c.local_image}:latest`;
      const name = `mcp-eval-${certificationId}`;
      let evidence: Record<string, unknown>;
      let pass = false;
      try {
        const labels = await ensureImage(image, { ownerId: c.owner_id });
        const launched = await runMcpContainer(docker, env, {
          name,
          image,
          labels,
          config: {},
          useGpu: false,
          extraLabels: { 'mcp-host.certification-id': String(certificationId) },
          networks,
          bridge,
        });
        const manifest = await probe(launched);
        const actual = manifest.tools.map((t) => t.name);
        const verdict = compareTools(c.expected_tools, actual);
        pass = verdict.pass;
        evidence = {
          kind: 'mcp-tools',
          image,
          server: { name: manifest.name, version: manifest.version, protocol_version: manifest.protocol_version },
          expected_tools: [...c.expected_tools].sort(),
          actual_tools: [...actual].sort(),
          missing: verdict.missing,
          unexpected: verdict.unexpected,
          // The certified tool surface: the supervisor's probes compare what the server offers with it (drift).
          surface: normalizeSurface(manifest.tools),
          surface_digest: surfaceDigest(manifest.tools),
          checked_at: manifest.checked_at,
        };
      } catch (err) {
        if (err instanceof ApplicationFailure) throw err;
        evidence = { kind: 'mcp-tools', image, error: (err as Error).message, checked_at: new Date().toISOString() };
      } finally {
        await removeContainer(name);
        await networks.remove(name);
      }

      await recordEvaluation(sql, c, {
        certificationId,
        workflowId: Context.current().info.workflowExecution!.workflowId,
        key,
        pass,
        evidence,
      });
      return { status: pass ? 'pass' : 'fail', ownerId: c.owner_id };
    },
  };
}
