import { describe, expect, it } from 'vitest';
import { isTransportFailure } from './transport-failure.js';

describe('isTransportFailure: what dockerd reports in-band that another attempt may cure', () => {
  it.each([
    // A base-image pull while the registry refused connections.
    'Get "http://127.0.0.1:36723/v2/": read tcp 127.0.0.1:33298->127.0.0.1:36723: read: connection reset by peer',
    'Put "http://127.0.0.1:5000/v2/app/manifests/latest": read: connection reset by peer',
    'Get "https://registry.example/v2/": dial tcp 10.0.0.9:443: connect: connection refused',
    'Get "https://registry.example/v2/": net/http: TLS handshake timeout',
    'Head "https://registry.example/v2/app/blobs/sha256:ab": EOF',
    'received unexpected HTTP status: 503 Service Unavailable',
    // The registry went down while the daemon held a kept-alive connection to it.
    'Get "http://127.0.0.1:44675/v2/": http: server closed idle connection',
  ])('retries: %s', (message) => expect(isTransportFailure(message)).toBe(true));

  it.each([
    // A Dockerfile step that failed, even one whose own command line names a network error.
    "The command '/bin/sh -c wget -O- http://x || echo connection refused' returned a non-zero code: 1",
    'manifest for example/app:missing not found: manifest unknown',
    'unauthorized: authentication required',
    'denied: requested access to the resource is denied',
    'received unexpected HTTP status: 404 Not Found',
  ])('does not: %s', (message) => expect(isTransportFailure(message)).toBe(false));
});
