// Human tables and --json output for every command.
import type { Command } from 'commander';

export type Cell = string | number | boolean | null | undefined;

/** API text can hold newlines or terminal escapes; what we print shows neither. */
export const plain = (text: string) => text.replace(/[\x00-\x1f\x7f]+/g, ' ');

const cellText = (value: Cell) => (value === null || value === undefined || value === '' ? '-' : plain(String(value)));

/** A header row, a dashed separator and left-aligned columns two spaces apart, without trailing spaces. */
export function formatTable(headers: string[], rows: Cell[][]): string {
  const cells = rows.map((row) => headers.map((_, i) => cellText(row[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The raw response with --json, otherwise the table that `toTable` builds from it. */
export function show<T>(json: boolean | undefined, value: T, toTable: (value: T) => [string[], Cell[][]]): void {
  if (json) return printJson(value);
  const [headers, rows] = toTable(value);
  process.stdout.write(`${formatTable(headers, rows)}\n`);
}

/** Every leaf command takes --json. */
export function withJson(cmd: Command): Command {
  return cmd.option('--json', 'print the raw JSON response');
}
