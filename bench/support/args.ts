// bench/support: the command line every benchmark shares. Flags are declared once with their
// default and a line of help; `--help` prints the usage built from them and exits 0, and an unknown
// flag or a bad value prints the same usage on stderr and exits 64 (EX_USAGE) instead of a stack trace.
import { parseArgs } from 'node:util';

interface NumberFlag {
  kind: 'number';
  default: number;
  help: string;
  /** Whole numbers only (counts, sizes); else any finite number. */
  integer?: boolean;
  /** The smallest value accepted (0 when unset). */
  min?: number;
}
interface StringFlag {
  kind: 'string';
  default: string;
  help: string;
  /** The values accepted, when the flag picks one of a few. */
  choices?: readonly string[];
}
interface BooleanFlag {
  kind: 'boolean';
  help: string;
}
export type Flag = NumberFlag | StringFlag | BooleanFlag;

type Values<S extends Record<string, Flag>> = {
  [K in keyof S]: S[K] extends NumberFlag ? number : S[K] extends StringFlag ? string : boolean;
};

export const num = (def: number, help: string, extra: Partial<Omit<NumberFlag, 'kind'>> = {}): NumberFlag => ({
  kind: 'number',
  default: def,
  help,
  integer: true,
  min: 0,
  ...extra,
});
export const str = (def: string, help: string, choices?: readonly string[]): StringFlag => ({
  kind: 'string',
  default: def,
  help,
  choices,
});
export const bool = (help: string): BooleanFlag => ({ kind: 'boolean', help });

export function usage(script: string, summary: string, flags: Record<string, Flag>): string {
  const shown = Object.entries(flags).map(([name, f]) => {
    const value = f.kind === 'boolean' ? '' : f.kind === 'string' && f.choices ? ` ${f.choices.join('|')}` : ' N';
    return [`  --${name}${value}`, f.kind === 'boolean' ? f.help : `${f.help} (default ${String(f.default)})`];
  });
  const width = Math.max(...shown.map(([left]) => left!.length), 10);
  return [
    `usage: npm run ${script} [-- options]`,
    '',
    summary,
    '',
    ...shown.map(([left, right]) => `${left!.padEnd(width)}  ${right}`),
    `  ${'--help'.padEnd(width - 2)}  this text`,
    '',
  ].join('\n');
}

/** The flags of `argv` (process.argv by default) by `flags`; exits on --help and on bad input. */
export function benchArgs<S extends Record<string, Flag>>(
  script: string,
  summary: string,
  flags: S,
  argv = process.argv.slice(2),
): Values<S> {
  const text = usage(script, summary, flags);
  const fail = (why: string): never => {
    process.stderr.write(`${script}: ${why}\n\n${text}`);
    process.exit(64);
  };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean' },
        ...Object.fromEntries(
          Object.entries(flags).map(([name, f]) => [name, { type: f.kind === 'boolean' ? 'boolean' : 'string' }]),
        ),
      } as never,
    });
  } catch (err) {
    return fail((err as Error).message);
  }
  if (parsed.values.help) {
    process.stdout.write(text);
    process.exit(0);
  }
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(flags)) {
    const raw = parsed.values[name];
    if (f.kind === 'boolean') {
      out[name] = raw === true;
    } else if (f.kind === 'string') {
      const value = raw === undefined ? f.default : String(raw);
      if (f.choices && !f.choices.includes(value)) fail(`--${name} takes one of ${f.choices.join(', ')}`);
      out[name] = value;
    } else {
      const value = raw === undefined ? f.default : Number(raw);
      const min = f.min ?? 0;
      if (!Number.isFinite(value) || (f.integer && !Number.isInteger(value)) || value < min)
        fail(`--${name} takes ${f.integer ? 'a whole number' : 'a number'} ≥ ${min}, not ${String(raw)}`);
      out[name] = value;
    }
  }
  return out as Values<S>;
}
