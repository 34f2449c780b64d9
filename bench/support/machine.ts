// bench/support: the machine line every benchmark prints above its figures. The machine is shared,
// so the load average at the start and at the end of the measured part goes with every result: a
// figure taken under a neighbour's load is read for what it is, and same-run ratios carry the weight.
import { cpus, loadavg, totalmem } from 'node:os';

export interface LoadMark {
  at: number;
  load: number[];
}

/** The load average now: take one before the measured part starts. */
export const markLoad = (): LoadMark => ({ at: Date.now(), load: loadavg() });

const loads = (l: number[]) => l.map((v) => v.toFixed(2)).join(' ');

/** `machine: 2 × <model>, 7.8 GiB, Node v24…, linux/x64; load average 1.02 0.80 0.51 → 2.10 1.30 0.70` */
export function machineLine(start: LoadMark, detail?: string): string {
  const cpu = cpus();
  return (
    `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ` +
    `Node ${process.version}, ${process.platform}/${process.arch}; load average (1, 5, 15 min) ${loads(start.load)} at start → ` +
    `${loads(loadavg())} at end (${((Date.now() - start.at) / 1000).toFixed(0)} s)` +
    (detail ? `\n${detail}` : '')
  );
}

/** Progress on stderr, so stdout holds the figures alone. */
export const note = (line: string) => process.stderr.write(`bench: ${line}\n`);
