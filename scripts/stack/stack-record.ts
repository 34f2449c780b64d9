// What a running `npm start` records in .data/stack.json: its own pid and start time and those of the
// processes it started. The next start tells a stack that is still up (it refuses, in one line) from
// what a killed one left running (it stops those first, so their ports, pid files and mounts are free).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { processStartTime, stopPid } from './process.js';

interface Recorded {
  name: string;
  pid: number;
  started: number;
}

interface StackRecord {
  stack: Recorded;
  children: Recorded[];
}

function alive(p: Recorded): boolean {
  return processStartTime(p.pid) === p.started;
}

export class PreviousStackRunning extends Error {
  readonly name = 'PreviousStackRunning';
}

/**
 * Claims `file` for this process. Throws PreviousStackRunning while the recorded stack is up; stops
 * what a dead one left running (reported through `say`); then records this process.
 */
export async function claimStack(
  file: string,
  say: (line: string) => void,
): Promise<{ child(name: string, pid: number): void; release(): void }> {
  const previous = read(file);
  if (previous && alive(previous.stack)) {
    throw new PreviousStackRunning(
      `a previous stack is still running (pid ${previous.stack.pid}); stop it first (Ctrl-C in its terminal, or kill ${previous.stack.pid})`,
    );
  }
  for (const orphan of (previous?.children ?? []).filter(alive).reverse()) {
    say(`stopping ${orphan.name} (pid ${orphan.pid}), left running by a stack that was killed`);
    await stopPid(orphan.pid);
  }
  const record: StackRecord = {
    stack: { name: 'npm start', pid: process.pid, started: processStartTime(process.pid)! },
    children: [],
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(record, null, 2));
  return {
    child(name, pid) {
      const started = processStartTime(pid);
      if (started === undefined) return; // exited already
      record.children.push({ name, pid, started });
      writeFileSync(file, JSON.stringify(record, null, 2));
    },
    release: () => rmSync(file, { force: true }),
  };
}

function read(file: string): StackRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackRecord;
  } catch {
    return undefined;
  }
}
