import { describe, expect, it } from 'vitest';
import { fromImages } from './base-pinning.js';
import { declarePlatformArgs, platformSlug } from './platform.js';

describe("BuildKit's automatic platform arguments in a user's Dockerfile", () => {
  it('declares the ones FROM lines use before the first FROM, after comments and parser directives', () => {
    const d = [
      '# syntax=docker/dockerfile:1',
      '# a comment',
      'FROM --platform=$BUILDPLATFORM golang AS build',
      'ARG TARGETARCH',
      'RUN GOARCH=$TARGETARCH go build',
      'FROM --platform=${TARGETPLATFORM} busybox',
    ].join('\n');
    const out = declarePlatformArgs(d);
    expect(out.split('\n').slice(0, 4)).toEqual([
      '# syntax=docker/dockerfile:1',
      '# a comment',
      'ARG BUILDPLATFORM TARGETPLATFORM',
      'FROM --platform=$BUILDPLATFORM golang AS build',
    ]);
    // Only the new line: the stage's own ARG TARGETARCH stays as written.
    expect(out.split('\n').slice(3)).toEqual(d.split('\n').slice(2));
    expect(fromImages(out, { BUILDPLATFORM: 'linux/amd64', TARGETPLATFORM: 'linux/arm64' })).toEqual([
      { line: 3, image: 'golang', platform: 'linux/amd64' },
      { line: 6, image: 'busybox', platform: 'linux/arm64' },
    ]);
  });

  it('leaves a Dockerfile alone that declares them, or uses none, or other arguments only', () => {
    const declared = 'ARG BUILDPLATFORM=linux/amd64\nFROM --platform=$BUILDPLATFORM node AS build\nFROM node\n';
    expect(declarePlatformArgs(declared)).toBe(declared);
    const none = 'FROM node\nARG TARGETARCH\nRUN echo $TARGETARCH\n';
    expect(declarePlatformArgs(none)).toBe(none);
    const own = 'ARG BASE=node\nFROM $BASE\n';
    expect(declarePlatformArgs(own)).toBe(own);
    expect(declarePlatformArgs('RUN echo no FROM at all\n')).toBe('RUN echo no FROM at all\n');
    expect(declarePlatformArgs(undefined)).toBeUndefined();
  });

  it('declares only what is missing, with ${NAME:-default} forms too', () => {
    const d = 'ARG TARGETOS\nFROM --platform=${BUILDOS:-linux}/$BUILDARCH img:${TARGETOS}\n';
    expect(declarePlatformArgs(d)).toBe(
      'ARG TARGETOS\nARG BUILDOS BUILDARCH\nFROM --platform=${BUILDOS:-linux}/$BUILDARCH img:${TARGETOS}\n',
    );
  });
});

describe('platform slugs', () => {
  it('spells a platform as a tag may', () => expect(platformSlug('linux/arm64/v8')).toBe('linux_arm64_v8'));
});
