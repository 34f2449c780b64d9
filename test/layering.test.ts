// The layering the code relies on: every ledger table's SQL lives in lib/ledger (one module per
// aggregate); the API reaches workflows and the ledger, never activities; routes never import
// each other (what two routes share lives in the ledger or in api/).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../scripts/stack/paths.js';

const sources = execFileSync(
  'git',
  ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.mjs', '*.cjs'],
  { cwd: PROJECT_ROOT, encoding: 'utf8' },
)
  .split('\n')
  .filter((f) => f !== '' && !f.startsWith('node_modules/'));
const text = (file: string) => readFileSync(`${PROJECT_ROOT}/${file}`, 'utf8');

/** Where SQL may be written outside lib/ledger, and why. */
const SQL_ALLOWED: [RegExp, string][] = [
  [/^lib\/ledger\//, 'the ledger'],
  [/^lib\/migrate\.ts$/, 'applies migrations/'],
  [/^lib\/creation-lock\.ts$/, 'the advisory lock a new row is created under'],
  [/^scripts\/stack\/postgres\.ts$/, 'creates the dev database'],
  [/^test\//, 'fixtures and assertions of tests'],
  [/^bench\//, 'fixtures of benchmarks'],
];

/** A postgres.js query: `sql`…``, `tx<Row[]>`…`` or `sql.unsafe(…)`. */
const QUERY = /\b(sql|tx)(<[^`;]*>)?`|\b(sql|tx)\.unsafe\(/;

const imports = (file: string) =>
  [...text(file).matchAll(/^\s*(?:import|export)\b[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]!);

describe('layering', () => {
  it('finds the sources it checks', () => {
    expect(sources).toContain('api/app.ts');
    expect(sources).toContain('lib/ledger/servers.ts');
  });

  it('writes SQL only in lib/ledger (and the places listed above)', () => {
    const offenders = sources.filter((f) => !SQL_ALLOWED.some(([place]) => place.test(f)) && QUERY.test(text(f)));
    expect(offenders).toEqual([]);
  });

  it('the check sees a query written outside the ledger', () => {
    expect(QUERY.test('const rows = await sql<{ id: number }[]>`select id from users`;')).toBe(true);
    expect(QUERY.test('await tx`select 1`')).toBe(true);
    expect(QUERY.test('const sql = createSql(env.DATABASE_URL);')).toBe(false);
  });

  it('api/ imports nothing from activities/', () => {
    const offenders = sources
      .filter((f) => f.startsWith('api/'))
      .flatMap((f) =>
        imports(f)
          .filter((i) => i.includes('/activities/'))
          .map((i) => `${f} → ${i}`),
      );
    expect(offenders).toEqual([]);
  });

  it('routes import no other route', () => {
    const offenders = sources
      .filter((f) => f.startsWith('api/routes/'))
      .flatMap((f) =>
        imports(f)
          .filter((i) => i.startsWith('./'))
          .map((i) => `${f} → ${i}`),
      );
    expect(offenders).toEqual([]);
  });
});
