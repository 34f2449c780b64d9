// Errors dockerd reports in-band (in a push or build stream) that are the network's fault between the
// daemon and a registry — a reset or closed connection, a timeout, a registry down or restarting —
// e.g. `Put "http://…/manifests/latest": read: connection reset by peer`, or the same on the `Get
// …/v2/` of a base-image pull. Worth another attempt, unlike a registry that refuses an image or a
// Dockerfile step that fails.
const TRANSPORT_FAILURES = [
  /connection reset|connection refused|broken pipe|\bEOF\b|use of closed network connection/i,
  // Go's client, when the registry closed a kept-alive connection as the request went out on it.
  /server closed idle connection/i,
  /i\/o timeout|TLS handshake timeout|timeout awaiting response headers|context deadline exceeded/i,
  /network is unreachable|no route to host|received unexpected HTTP status: 5\d\d/i,
];

/** A step whose command failed is the Dockerfile's fault, whatever its command line says. */
const STEP_FAILED = /returned a non-zero code/i;

export function isTransportFailure(message: string): boolean {
  return !STEP_FAILED.test(message) && TRANSPORT_FAILURES.some((pattern) => pattern.test(message));
}
