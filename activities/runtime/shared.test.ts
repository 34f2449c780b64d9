import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { cachedProbe, linesOf } from './shared.js';

async function collect(chunks: string[]): Promise<string[]> {
  const text = new PassThrough();
  for (const chunk of chunks) text.write(Buffer.from(chunk));
  text.end();
  const lines: string[] = [];
  for await (const line of linesOf(text)) lines.push(line);
  return lines;
}

describe('linesOf', () => {
  it('joins lines split across chunks and splits chunks holding several', async () => {
    expect(await collect(['listen', 'ing on 8080\nready\nsec', 'ond\n'])).toEqual([
      'listening on 8080',
      'ready',
      'second',
    ]);
  });

  it('keeps empty lines and sends no unfinished last line', async () => {
    expect(await collect(['a\n\nb\npartial'])).toEqual(['a', '', 'b']);
  });
});

describe('cachedProbe', () => {
  it('asks once within the cache window', async () => {
    let asked = 0;
    const probe = cachedProbe(async () => {
      asked += 1;
      return { backend: 'docker', displayName: 'Docker containers', capabilities: [] };
    });
    await probe();
    await probe();
    expect(asked).toBe(1);
  });
});
