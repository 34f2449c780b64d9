import { describe, expect, it } from 'vitest';
import { classifyArtifact, type ArtifactFacts } from './artifact-health.js';

const base: ArtifactFacts = {
  status: 'succeeded',
  credential_health_status: 'healthy',
  multi_arch: false,
  server_type: 'Router',
  platforms: [],
};

describe('artifact health and tier', () => {
  const statuses = ['succeeded', 'SUCCESS', 'completed', 'failed', 'running', 'cancelled'];
  const credentials = ['healthy', 'ok', 'passing', 'unknown', 'expiring_soon', 'expired'];
  const platformHealth = [[], ['healthy'], ['healthy', 'expired'], ['unknown', 'expiring_soon']];

  // Every combination of the health inputs, checked against the rules written out independently.
  for (const status of statuses) {
    for (const credential of credentials) {
      for (const plats of platformHealth) {
        for (const multi of [false, true]) {
          const facts: ArtifactFacts = {
            ...base,
            status,
            credential_health_status: credential,
            multi_arch: multi,
            platforms: plats.map((h, i) => ({ platform: `linux/arch${i}`, credential_health_status: h })),
          };
          it(`${status} / ${credential} / [${plats.join(',')}] / multi=${multi}`, () => {
            const buildBad = !['succeeded', 'success', 'completed'].includes(status.toLowerCase());
            const credBad = ['expiring_soon', 'expired'].includes(credential);
            const badPlatforms = plats.filter((p) => ['expiring_soon', 'expired'].includes(p)).length;
            const result = classifyArtifact(facts);
            expect(result.issues.length).toBe(Number(buildBad) + Number(credBad) + badPlatforms);
            const overall = result.issues.length === 0 ? 'healthy' : buildBad ? 'blocked' : 'degraded';
            expect(result.overall).toBe(overall);
            const tier = overall === 'healthy' ? (multi ? 'gold' : 'silver') : multi ? 'watchlist-multi' : 'watchlist';
            expect(result.tier).toBe(`${tier}:Router`);
          });
        }
      }
    }
  }

  it('names issues the way dashboards match them', () => {
    const result = classifyArtifact({
      ...base,
      status: 'failed',
      credential_health_status: 'expired',
      platforms: [
        { platform: 'linux/arm64', credential_health_status: 'expiring_soon' },
        { platform: 'linux/amd64', credential_health_status: 'healthy' },
      ],
    });
    expect(result.issues).toEqual(['build_status:failed', 'credential:expired', 'platform:linux/arm64:expiring_soon']);
  });

  it('keeps the server type as written in the tier', () => {
    expect(classifyArtifact({ ...base, server_type: 'PDF Parser', multi_arch: true }).tier).toBe('gold:PDF Parser');
  });
});
