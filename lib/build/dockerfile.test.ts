import { describe, expect, it } from 'vitest';
import { detectProjectKind, exposesMcpPort, generateDockerfile } from './dockerfile.js';

describe('generated Dockerfiles', () => {
  it('detects Node before Python and nothing else', () => {
    expect(detectProjectKind(['package.json', 'requirements.txt'])).toBe('node');
    expect(detectProjectKind(['pyproject.toml'])).toBe('python');
    expect(detectProjectKind(['requirements.txt'])).toBe('python');
    expect(detectProjectKind(['Cargo.toml', 'main.go'])).toBeUndefined();
  });

  it('builds from the configured base image and exposes 8080', () => {
    const node = generateDockerfile('node', 'registry.local/base/node:20');
    expect(node).toMatch(/^FROM registry\.local\/base\/node:20$/m);
    expect(node).toContain('npm');
    expect(exposesMcpPort(node)).toBe(true);
    const python = generateDockerfile('python', 'python:3.12-slim');
    expect(python).toMatch(/^FROM python:3\.12-slim$/m);
    expect(python).toContain('pip install');
  });

  it.each([
    ['EXPOSE 8080', true],
    ['  expose 8080/tcp', true],
    ['EXPOSE 3000 8080', true],
    ['EXPOSE 80800', false],
    ['# EXPOSE 8080', false],
    ['EXPOSE 3000', false],
  ])('%j exposes the MCP port: %s', (line, expected) => expect(exposesMcpPort(`FROM x\n${line}\n`)).toBe(expected));
});
