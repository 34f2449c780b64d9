// Pins each FROM image to the digest of its manifest for one platform before a build.
// Why: the classic builder resolves FROM through the daemon's local tag, which concurrent builds
// for different platforms re-point under each other (an arm64 build can end up FROM the amd64
// image). A digest reference is per-platform and immutable, so parallel builds cannot collide.

export interface FromLine {
  /** Index into the Dockerfile's lines. */
  line: number;
  image: string;
  /** The stage's own `--platform=` (a build stage run natively while the target is another). */
  platform?: string;
}

const FROM = /^(\s*FROM\s+)((?:--[a-z-]+=\S+\s+)*)(\S+)(.*)$/i;

/** FROM lines naming an image (not `scratch`, not an earlier stage, not already pinned, no build args). */
export function fromImages(dockerfile: string): FromLine[] {
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
    const platform = /--platform=(\S+)/.exec(m[2] ?? '')?.[1];
    if (pinnable) found.push({ line, image, ...(platform && !platform.includes('$') && { platform }) });
    if (alias) stages.add(alias.toLowerCase());
  });
  return found;
}

/** The Dockerfile with the given FROM images replaced by their pinned references. */
export function pinFromImages(dockerfile: string, pinned: ReadonlyMap<string, string>): string {
  const lines = dockerfile.split('\n');
  for (const { line, image } of fromImages(dockerfile)) {
    const ref = pinned.get(image);
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
