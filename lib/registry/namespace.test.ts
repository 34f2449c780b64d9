import { describe, expect, it } from 'vitest';
import { imagePlace, lendsCredentials, mayNameImage, ownerRegistry } from './namespace.js';

const REGISTRY = 'http://127.0.0.1:5000/mcp';

describe('owner namespaces of the registry', () => {
  it("extends the registry by the owner's namespace", () => {
    expect(ownerRegistry(REGISTRY, 7)).toBe('http://127.0.0.1:5000/mcp/owner-7');
    expect(ownerRegistry('https://r.example.com/', 7)).toBe('https://r.example.com/owner-7');
  });

  it('places an image: an owner namespace, the platform, or outside', () => {
    expect(imagePlace('127.0.0.1:5000/mcp/owner-7/mcp-custom-3:latest', REGISTRY)).toEqual({
      kind: 'owner',
      ownerId: 7,
    });
    expect(imagePlace(`127.0.0.1:5000/mcp/owner-7/mcp-custom-3@sha256:${'a'.repeat(64)}`, REGISTRY)).toEqual({
      kind: 'owner',
      ownerId: 7,
    });
    // However loopback is spelled, it is the same registry.
    expect(imagePlace('localhost:5000/mcp/owner-7/x:1', REGISTRY)).toEqual({ kind: 'owner', ownerId: 7 });
    // The platform's path outside every namespace (images pushed before namespaces), and local builds.
    expect(imagePlace('127.0.0.1:5000/mcp/mcp-custom-7:latest', REGISTRY)).toEqual({ kind: 'platform' });
    expect(imagePlace('127.0.0.1:5000/mcp/owner-x/y:1', REGISTRY)).toEqual({ kind: 'platform' });
    expect(imagePlace('mcp-custom-7', REGISTRY)).toEqual({ kind: 'platform' });
    expect(imagePlace('mcp-custom-7-linux_amd64:latest', undefined)).toEqual({ kind: 'platform' });
    // The registry's other paths, other ports and other registries are no one's namespace here.
    expect(imagePlace('127.0.0.1:5000/mcp-base/busybox:1', REGISTRY)).toEqual({ kind: 'outside' });
    expect(imagePlace('127.0.0.1:5001/mcp/owner-7/x:1', REGISTRY)).toEqual({ kind: 'outside' });
    expect(imagePlace('ghcr.io/example/router:1', REGISTRY)).toEqual({ kind: 'outside' });
    expect(imagePlace('127.0.0.1:5000/mcp/owner-7/x:1', undefined)).toEqual({ kind: 'outside' });
  });

  it("lets an owner name their own namespace and outside images, never another's or the platform's", () => {
    expect(mayNameImage('127.0.0.1:5000/mcp/owner-7/mcp-custom-3:latest', REGISTRY, 7)).toBe(true);
    expect(mayNameImage('127.0.0.1:5000/mcp/owner-7/mcp-custom-3:latest', REGISTRY, 8)).toBe(false);
    expect(mayNameImage('127.0.0.1:5000/mcp/owner-70/mcp-custom-3:latest', REGISTRY, 7)).toBe(false);
    expect(mayNameImage('127.0.0.1:5000/mcp/mcp-custom-3:latest', REGISTRY, 7)).toBe(false);
    expect(mayNameImage('mcp-custom-3', REGISTRY, 7)).toBe(false);
    expect(mayNameImage('ghcr.io/example/router:1', REGISTRY, 7)).toBe(true);
  });

  it("lends the platform's credentials only for the owner's own namespace (and to the platform itself)", () => {
    const own = '127.0.0.1:5000/mcp/owner-7/mcp-custom-3:latest';
    expect(lendsCredentials(own, REGISTRY, { ownerId: 7 })).toBe(true);
    expect(lendsCredentials(own, REGISTRY, { ownerId: 8 })).toBe(false);
    expect(lendsCredentials('127.0.0.1:5000/mcp/mcp-custom-3:latest', REGISTRY, { ownerId: 7 })).toBe(false);
    expect(lendsCredentials('127.0.0.1:5000/mcp-base/busybox:1', REGISTRY, { ownerId: 7 })).toBe(false);
    expect(lendsCredentials('127.0.0.1:5000/mcp-base/busybox:1', REGISTRY, 'platform')).toBe(true);
    expect(lendsCredentials('ghcr.io/example/router:1', REGISTRY, 'platform')).toBe(false);
  });
});
