// Look-ups in sorted arrays of numbers (times), shared by the models that count events before a moment.

/** Greatest index i with sorted[i] <= x, or -1: how many entries are at or before x, less one. */
export function lastAtOrBefore(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as number) <= x) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
