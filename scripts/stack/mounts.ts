// Mounts a private dockerd makes under its data and exec roots (a bind mount of the data root, the
// network namespaces' nsfs files). A dockerd that exits cleanly removes them; one that was killed
// leaves them, and whoever starts or stops it next removes them.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Mount points at or below any of `roots`, deepest first (read from /proc/self/mountinfo). */
export function mountsUnder(roots: string[]): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    // The kernel escapes space, tab, newline and backslash as octal.
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))))
    .filter((p) => roots.some((root) => p === root || p.startsWith(`${root}/`)));
  return [...new Set(points)].sort((a, b) => b.split('/').length - a.split('/').length || b.length - a.length);
}

/** Unmounts everything at or below `roots` (lazily when busy); fails naming what stays mounted. */
export function unmountUnder(roots: string[]): void {
  // A point can be mounted more than once: repeat while each round removes something.
  for (let left = mountsUnder(roots); left.length > 0;) {
    for (const point of left) {
      try {
        execFileSync('umount', [point], { stdio: 'ignore' });
      } catch {
        try {
          execFileSync('umount', ['-l', point], { stdio: 'ignore' });
        } catch {
          // reported below if it stays
        }
      }
    }
    const after = mountsUnder(roots);
    if (after.length >= left.length) throw new Error(`could not unmount ${after.join(', ')}`);
    left = after;
  }
}
