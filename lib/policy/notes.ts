// What a policy decision's notes say to an operator, as the server's status reason: what a held
// launch waits for, and why a refused one cannot run. Pure: the server workflow uses these.

/** The notes of a launch held by a gate that name what it waits for (not the ones already met). */
export function waitingFor(notes: readonly string[]): string[] {
  return notes.filter(
    (n) =>
      /^(evaluation|promotion|governance):/.test(n) &&
      !/certified|satisfied|not-required|provenance|:track:|^evaluation:required$|^governance:required$/.test(n),
  );
}

/** The notes of a decision that does not allow a launch that say why. */
export function refusalReasons(notes: readonly string[]): string[] {
  return notes.filter((n) => /unsatisfied|unusable|unresolved|missing|unavailable/.test(n));
}
