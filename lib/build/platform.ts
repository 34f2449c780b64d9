// Platform names as image tags and local image names spell them.

/** `linux/arm64/v8` → `linux_arm64_v8`, as image tags and local names use it. */
export function platformSlug(platform: string): string {
  return platform.replace(/[/:\\]/g, '_');
}
