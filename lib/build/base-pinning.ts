// Pins each FROM image to the digest of its manifest for one platform before a build.
// Why: the classic builder resolves FROM through the daemon's local tag, which concurrent builds
// for different platforms re-point under each other (an arm64 build can end up FROM the amd64
// image). A digest reference is per-platform and immutable, so parallel builds cannot collide.

export interface FromLine {
  /** Index into the Dockerfile's lines. */
  line: number;
  image: string;
  /**
   * The stage's own `--platform=`, its `$VAR`s expanded from `args` (a build stage run on the build
   * platform, `--platform=$BUILDPLATFORM`, while the target is another); absent: the target's.
   */
  platform?: string;
}

const FROM = /^(\s*FROM\s+)((?:--[a-z-]+=\S+\s+)*)(\S+)(.*)$/i;

/** `$NAME` and `${NAME}` of `text` replaced from `args`; undefined when one has no value there. */
function expand(text: string, args: Readonly<Record<string, string>>): string | undefined {
  let unknown = false;
  const out = text.replace(
    /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_all, a?: string, b?: string) => {
      const value = args[(a ?? b)!];
      if (value === undefined) unknown = true;
      return value ?? '';
    },
  );
  return unknown ? undefined : out;
}

/**
 * FROM lines naming an image (not `scratch`, not an earlier stage, not already pinned, no build args).
 * `args` are the platform build arguments (BUILDPLATFORM, TARGETPLATFORM) a `--platform=` may name.
 */
export function fromImages(dockerfile: string, args: Readonly<Record<string, string>> = {}): FromLine[] {
  const stages = new Set<string>();
  const found: FromLine[] = [];
  dockerfile.split('\n').forEach((text, line) => {
    const m = FROM.exec(text);
    if (!m) return;
    const image = m[3]!;
    const alias = /\s+AS\s+(\S+)/i.exec(m[4] ?? '')?.[1];
    const pinnable =
      image.toLowerCase() !== 'scratch' &&
      !stages.has(image.toLowerCase()) &&
      !image.includes('@') &&
      !image.includes('$');
    const flag = /--platform=(\S+)/.exec(m[2] ?? '')?.[1];
    const platform = flag === undefined ? undefined : expand(flag, args);
    if (pinnable) found.push({ line, image, ...(platform && { platform }) });
    if (alias) stages.add(alias.toLowerCase());
  });
  return found;
}

/**
 * The Dockerfile with FROM images replaced by their pinned references, keyed by the FROM's line (one
 * image may be the base of stages of different platforms, each pinned for its own).
 */
export function pinFromImages(dockerfile: string, pinned: ReadonlyMap<number, string>): string {
  const lines = dockerfile.split('\n');
  for (const { line } of fromImages(dockerfile)) {
    const ref = pinned.get(line);
    if (!ref) continue;
    lines[line] = lines[line]!.replace(
      FROM,
      (_all, head: string, flags: string, _img: string, rest: string) => `${head}${flags}${ref}${rest}`,
    );
  }
  return lines.join('\n');
}

/** Splits `host[:port]/path/name[:tag]` into registry host, repository and tag (Docker Hub rules). */
export function splitImage(image: string): { host: string; repository: string; tag: string } {
  const slash = image.indexOf('/');
  const first = slash < 0 ? '' : image.slice(0, slash);
  const hasHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const host = hasHost ? first : 'docker.io';
  let rest = hasHost ? image.slice(slash + 1) : image;
  const colon = rest.lastIndexOf(':');
  let tag = 'latest';
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const repository = host === 'docker.io' && !rest.includes('/') ? `library/${rest}` : rest;
  return { host, repository, tag };
}
