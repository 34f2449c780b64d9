// Platform names as image tags and local image names spell them.

/** `linux/arm64/v8` → `linux_arm64_v8`, as image tags and local names use it. */
export function platformSlug(platform: string): string {
  return platform.replace(/[/:\\]/g, '_');
}

/** The platform arguments BuildKit sets by itself, in the global scope (usable in every FROM). */
export const AUTOMATIC_PLATFORM_ARGS = [
  'BUILDPLATFORM',
  'BUILDOS',
  'BUILDARCH',
  'BUILDVARIANT',
  'TARGETPLATFORM',
  'TARGETOS',
  'TARGETARCH',
  'TARGETVARIANT',
] as const;

const FROM_LINE = /^\s*FROM\s/i;
const ARG_LINE = /^\s*ARG\s+(.*)$/i;
const VARIABLE = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/**
 * A Dockerfile whose FROM lines name BuildKit's automatic platform arguments (`FROM
 * --platform=$BUILDPLATFORM …`) without declaring them before the first FROM gets an `ARG` line for
 * them there: the classic builder expands only declared global arguments in FROM (the build passes
 * their values), so a Dockerfile written for BuildKit builds the same here. Only when one is missing,
 * and nothing else changes: the new line goes right before the first FROM, after parser directives.
 */
export function declarePlatformArgs(dockerfile: string): string;
export function declarePlatformArgs(dockerfile: string | undefined): string | undefined;
export function declarePlatformArgs(dockerfile: string | undefined): string | undefined {
  if (dockerfile === undefined) return undefined;
  const lines = dockerfile.split('\n');
  const first = lines.findIndex((l) => FROM_LINE.test(l));
  if (first < 0) return dockerfile;
  const declared = new Set<string>();
  for (const line of lines.slice(0, first)) {
    const m = ARG_LINE.exec(line);
    for (const word of m?.[1]?.split(/\s+/) ?? []) declared.add(word.split('=')[0]!);
  }
  const used = new Set<string>();
  for (const line of lines.filter((l) => FROM_LINE.test(l)))
    for (const m of line.matchAll(VARIABLE)) used.add((m[1] ?? m[2])!);
  const missing = AUTOMATIC_PLATFORM_ARGS.filter((a) => used.has(a) && !declared.has(a));
  if (missing.length === 0) return dockerfile;
  lines.splice(first, 0, `ARG ${missing.join(' ')}`);
  return lines.join('\n');
}
