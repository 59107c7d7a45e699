// A month of pulls in two repositories, for the pull model's tests (unit, and on a real registry):
// ci/busy pushes a version every day (b1 30 days ago ... b30 a day ago), each pulled every 2 h
// while it is the latest and every 6 h for a day after (retries), then never, and deleted by a
// clean-up 4 days after it was superseded; ci/quiet has one image, q1, pulled every 4 days, last
// 3.5 days ago. Live now: b26-b28 (retries over), b29 (retrying), b30 and q1. Least recently
// pulled first would delete q1 before b26-b28, which no one will pull again.
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface MonthVersion {
  repository: string;
  name: string;
  pushedMs: number;
  /** When the clean-up deleted it; null: live now. */
  deletedMs: number | null;
  pullsMs: number[];
}

export function busyAndQuietMonth(nowMs: number): MonthVersion[] {
  const versions: MonthVersion[] = [];
  for (let n = 1; n <= 30; n += 1) {
    const pushedMs = nowMs - (31 - n) * DAY;
    const supersededMs = n < 30 ? pushedMs + DAY : null;
    const deletedMs = supersededMs !== null && supersededMs + 4 * DAY < nowMs ? supersededMs + 4 * DAY : null;
    const pullsMs: number[] = [];
    for (let t = pushedMs + HOUR; t < Math.min(supersededMs ?? Infinity, nowMs - HOUR); t += 2 * HOUR) pullsMs.push(t);
    if (supersededMs !== null) for (let t = supersededMs + 6 * HOUR; t <= supersededMs + DAY && t < nowMs; t += 6 * HOUR) pullsMs.push(t);
    versions.push({ repository: 'ci/busy', name: `b${n}`, pushedMs, deletedMs, pullsMs });
  }
  const quiet: number[] = [];
  for (let t = nowMs - 27.5 * DAY; t <= nowMs - 3.5 * DAY; t += 4 * DAY) quiet.push(t);
  versions.push({ repository: 'ci/quiet', name: 'q1', pushedMs: nowMs - 32 * DAY, deletedMs: null, pullsMs: quiet });
  return versions;
}

/**
 * The same month with a pinned release: b5 is not deleted but pulled every 2 days from 2.5 days
 * after its retries ended (a deployment pinned to it), and q1 is pulled every 4 days, last 12 h
 * ago. Live now: b5, b26-b30 and q1. Least recently pulled first would delete b5 (idle 1.5 days)
 * before b28; the learned rates alone, as of each day of the last week, deleted b5 among the
 * first (it idles through dozens of b-versions' pulls, like the dead versions around it); their
 * blend with recency did neither.
 */
export function pinnedReleaseMonth(nowMs: number): MonthVersion[] {
  return busyAndQuietMonth(nowMs).map((v) => {
    if (v.name === 'b5') {
      const pinnedFromMs = v.pushedMs + 2 * DAY + 2.5 * DAY;
      const pinned: number[] = [];
      for (let t = pinnedFromMs; t < nowMs; t += 2 * DAY) pinned.push(t);
      return { ...v, deletedMs: null, pullsMs: [...v.pullsMs, ...pinned] };
    }
    if (v.name === 'q1') {
      const quiet: number[] = [];
      for (let t = nowMs - 0.5 * DAY; t > nowMs - 30 * DAY; t -= 4 * DAY) quiet.unshift(t);
      return { ...v, pullsMs: quiet };
    }
    return v;
  });
}
