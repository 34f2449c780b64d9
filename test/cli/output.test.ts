import { describe, expect, it } from 'vitest';
import { formatTable } from '../../cli/output.js';

describe('formatTable', () => {
  it('pads columns to the widest cell, with a dashed separator and no trailing spaces', () => {
    const table = formatTable(
      ['id', 'name', 'status'],
      [
        [1, 'weather', 'running'],
        [12, 'a', 'stopped'],
      ],
    );
    expect(table.split('\n')).toEqual([
      'id  name     status',
      '--  -------  -------',
      '1   weather  running',
      '12  a        stopped',
    ]);
  });

  it('widens a column to its header and shows missing values as "-"', () => {
    expect(formatTable(['identifier', 'reason'], [[7, null]]).split('\n')).toEqual([
      'identifier  reason',
      '----------  ------',
      '7           -',
    ]);
  });

  it('keeps one line per row when a value holds newlines or escape sequences', () => {
    const lines = formatTable(['reason'], [['build failed\nexit 1\x1b[31m']]).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('build failed exit 1 [31m');
  });

  it('prints just the header for an empty list', () => {
    expect(formatTable(['id', 'name'], [])).toBe('id  name\n--  ----');
  });
});
