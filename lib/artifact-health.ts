// Health and tier of a build artifact: one vocabulary for the marketplace catalog and the
// policy engine. Pure, so both derive the same answer from the same ledger rows.

export type HealthOverall = 'healthy' | 'degraded' | 'blocked';

export interface ArtifactFacts {
  status: string;
  credential_health_status: string;
  multi_arch: boolean;
  server_type: string;
  platforms: readonly { platform: string; credential_health_status: string }[];
}

export interface ArtifactHealth {
  overall: HealthOverall;
  issues: string[];
}

const BUILD_OK = new Set(['succeeded', 'success', 'completed']);
const CREDENTIAL_OK = new Set(['healthy', 'ok', 'success', 'succeeded', 'passing']);

/**
 * `unknown` credentials are not an issue: it is what a registry without configured credentials
 * reports (the daemon may hold its own), and counting it would mark every such artifact degraded.
 */
function credentialIssue(status: string): boolean {
  const s = status.toLowerCase();
  return !CREDENTIAL_OK.has(s) && s !== 'unknown';
}

export function deriveHealth(facts: ArtifactFacts): ArtifactHealth {
  const issues: string[] = [];
  if (!BUILD_OK.has(facts.status.toLowerCase())) issues.push(`build_status:${facts.status}`);
  if (credentialIssue(facts.credential_health_status)) issues.push(`credential:${facts.credential_health_status}`);
  for (const p of [...facts.platforms].sort((a, b) => a.platform.localeCompare(b.platform))) {
    if (credentialIssue(p.credential_health_status))
      issues.push(`platform:${p.platform}:${p.credential_health_status}`);
  }
  const overall: HealthOverall =
    issues.length === 0 ? 'healthy' : issues.some((i) => i.startsWith('build_status:')) ? 'blocked' : 'degraded';
  return { overall, issues };
}

export function deriveTier(overall: HealthOverall, multiArch: boolean, serverType: string): string {
  if (overall === 'healthy') return `${multiArch ? 'gold' : 'silver'}:${serverType}`;
  return `${multiArch ? 'watchlist-multi' : 'watchlist'}:${serverType}`;
}

export function classifyArtifact(facts: ArtifactFacts): ArtifactHealth & { tier: string } {
  const health = deriveHealth(facts);
  return { ...health, tier: deriveTier(health.overall, facts.multi_arch, facts.server_type) };
}

/** The one lower-cased text the catalog's `q` searches: name, tag, digest, images, repository. */
export function catalogSearchText(fields: {
  serverName: string | null | undefined;
  manifestTag: string | null;
  manifestDigest: string | null;
  registryImage: string | null;
  localImage: string | null | undefined;
  sourceRepo: string | null | undefined;
}): string {
  return [
    fields.serverName,
    fields.manifestTag,
    fields.manifestDigest,
    fields.registryImage,
    fields.localImage,
    fields.sourceRepo,
  ]
    .filter(Boolean)
    .join(' ')
    .toLowerCase();
}
