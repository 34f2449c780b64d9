import { describe, expect, it } from 'vitest';
import { fromImages, pinFromImages, splitImage } from './base-pinning.js';

describe('FROM pinning', () => {
  const dockerfile = [
    'FROM --platform=$BUILDPLATFORM 127.0.0.1:5000/base/busybox:1 AS build',
    'RUN make',
    'FROM build AS test',
    'from node:20-alpine',
    'FROM scratch',
    'FROM registry.example.com/x@sha256:' + 'a'.repeat(64),
    'FROM ${BASE}',
    'COPY --from=build /out /out',
  ].join('\n');

  it('finds only FROM images that can be pinned', () => {
    expect(fromImages(dockerfile).map((f) => f.image)).toEqual(['127.0.0.1:5000/base/busybox:1', 'node:20-alpine']);
  });

  it("reads a stage's --platform with its build arguments expanded, and leaves an unknown one to the target", () => {
    expect(fromImages(dockerfile, { BUILDPLATFORM: 'linux/amd64' }).map((f) => f.platform)).toEqual([
      'linux/amd64',
      undefined,
    ]);
    expect(fromImages(dockerfile).map((f) => f.platform)).toEqual([undefined, undefined]);
    expect(fromImages('FROM --platform=${BUILDOS}/arm64 a', { BUILDOS: 'linux' })[0]?.platform).toBe('linux/arm64');
  });

  it('pins each FROM for its own stage, also one image based on for two platforms', () => {
    const twice = 'FROM --platform=$BUILDPLATFORM node:22 AS build\nFROM node:22';
    expect(
      pinFromImages(
        twice,
        new Map([
          [0, 'node@sha256:1'],
          [1, 'node@sha256:2'],
        ]),
      ),
    ).toBe('FROM --platform=$BUILDPLATFORM node@sha256:1 AS build\nFROM node@sha256:2');
  });

  it('replaces them with the pinned reference and keeps flags, aliases and everything else', () => {
    const pinned = pinFromImages(
      dockerfile,
      new Map([
        [0, '127.0.0.1:5000/base/busybox@sha256:' + 'b'.repeat(64)],
        [3, 'node@sha256:' + 'c'.repeat(64)],
      ]),
    ).split('\n');
    expect(pinned[0]).toBe(
      `FROM --platform=$BUILDPLATFORM 127.0.0.1:5000/base/busybox@sha256:${'b'.repeat(64)} AS build`,
    );
    expect(pinned[3]).toBe(`from node@sha256:${'c'.repeat(64)}`);
    expect(pinned[2]).toBe('FROM build AS test');
    expect(pinned[4]).toBe('FROM scratch');
    expect(pinned.length).toBe(8);
  });

  it.each([
    ['busybox', { host: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['team/app:2', { host: 'docker.io', repository: 'team/app', tag: '2' }],
    [
      '127.0.0.1:5000/mcp-base/busybox:latest',
      { host: '127.0.0.1:5000', repository: 'mcp-base/busybox', tag: 'latest' },
    ],
    ['localhost/a/b', { host: 'localhost', repository: 'a/b', tag: 'latest' }],
    ['ghcr.io/org/img:v1.2', { host: 'ghcr.io', repository: 'org/img', tag: 'v1.2' }],
  ])('splits %s', (image, expected) => expect(splitImage(image)).toEqual(expected));
});
