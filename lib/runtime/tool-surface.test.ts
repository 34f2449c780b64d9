import { describe, expect, it } from 'vitest';
import { surfaceDifference, surfaceDigest } from './tool-surface.js';

const echo = {
  name: 'echo',
  description: 'Echo',
  input_schema: { type: 'object', properties: { text: { type: 'string' } } },
};
const arch = { name: 'arch', description: 'Arch', input_schema: { type: 'object', properties: {} } };

describe('tool surface', () => {
  it('has one digest whatever the order of tools and keys', () => {
    const reordered = {
      input_schema: { properties: { text: { type: 'string' } }, type: 'object' },
      description: 'Echo',
      name: 'echo',
    };
    expect(surfaceDigest([echo, arch])).toBe(surfaceDigest([arch, reordered]));
    expect(surfaceDigest([echo, arch])).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('changes with a name, a description or a schema, and says which', () => {
    const shout = { ...echo, name: 'shout' };
    expect(surfaceDigest([echo])).not.toBe(surfaceDigest([echo, shout]));
    expect(surfaceDifference([echo, arch], [echo, arch, shout])).toEqual(['added tool shout']);
    expect(surfaceDifference([echo, arch], [echo])).toEqual(['removed tool arch']);
    expect(surfaceDifference([echo], [{ ...echo, description: 'Echo it', input_schema: {} }])).toEqual([
      'changed tool echo: description, input schema',
    ]);
    expect(surfaceDifference([echo, arch], [arch, echo])).toEqual([]);
  });
});
