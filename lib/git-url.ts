// Which git remotes mcp-host will clone. Local paths, file://, ext:: transports and anything that
// git could read as a command-line option are refused: they turn a build into a local-file read
// or a command execution on the build host. Credentials are never part of a URL (it is stored, logged,
// shown and carried in workflow inputs): a private source names a secret in `source.credentials`.

const ALLOWED_SCHEMES = ['https:', 'http:', 'ssh:', 'git:'];
const SCP_LIKE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!\/\/)[A-Za-z0-9._~/-]+$/;

export function gitUrlProblem(url: string): string | undefined {
  if (url.length > 2048) return 'is longer than 2048 characters';
  if (/[\s\0-\x1f\x7f]/.test(url)) return 'must not contain whitespace or control characters';
  if (url.startsWith('-')) return 'must not start with "-"';
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(url)) return 'must not use a git remote helper ("<transport>::")';
  if (SCP_LIKE.test(url)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an https://, http://, ssh:// or git:// URL, or user@host:path';
  }
  if (!ALLOWED_SCHEMES.includes(parsed.protocol)) return `uses the unsupported scheme "${parsed.protocol}"`;
  if (!parsed.hostname) return 'must name a host';
  if (parsed.hostname.startsWith('-')) return 'must not have a host starting with "-"';
  // ssh:// names the login user (git@); any other user name, and any password, is a credential.
  if (parsed.password || (parsed.username && parsed.protocol !== 'ssh:'))
    return 'must not embed credentials; name a secret in source.credentials instead';
  return undefined;
}
