// The detail keys each registry event must carry. Pure: the
// API validates operator-posted metrics with it, and tests check emitted events against it.

const PUSH_KEYS = ['attempt', 'retry_limit', 'registry_endpoint', 'platform'];

export function requiredDetailKeys(eventType: string): string[] | undefined {
  if (eventType.startsWith('push_')) {
    return [
      ...PUSH_KEYS,
      ...(eventType === 'push_failed' ? ['error_kind', 'auth_expired'] : []),
      ...(eventType === 'push_retry' ? ['reason'] : []),
    ];
  }
  if (eventType.startsWith('tag_')) return ['registry_endpoint', 'tag', 'platform'];
  if (eventType === 'manifest_published') return ['registry_endpoint', 'tag', 'digest', 'architectures'];
  return undefined;
}

/** The first missing key as a field path (`details` or `details.<key>`), or undefined when valid. */
export function missingDetail(eventType: string, details: unknown): string | undefined {
  const keys = requiredDetailKeys(eventType);
  if (!keys) return undefined;
  if (details === null || typeof details !== 'object' || Array.isArray(details)) return 'details';
  return keys.find((k) => !(k in details))?.replace(/^/, 'details.');
}
