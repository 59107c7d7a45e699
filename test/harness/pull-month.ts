// A month of pulls in two repositories, for the pull model's tests (unit, and on a real registry):
// ci/busy pushes a version every 3 days (b1 24 days ago ... b8 3 days ago), each pulled every 2 h
// while it is the latest and every 12 h for 2 days after (retries), then never; ci/quiet has one
// image, q1, pulled every 3 days, last 2 days ago, before b7's last retry a day ago. Least
// recently pulled first would delete q1 before b7, which no one will pull again.
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface MonthVersion {
  repository: string;
  name: string;
  pushedMs: number;
  pullsMs: number[];
}

export function busyAndQuietMonth(nowMs: number): MonthVersion[] {
  const versions: MonthVersion[] = [];
  for (let n = 1; n <= 8; n += 1) {
    const pushedMs = nowMs - (27 - 3 * n) * DAY;
    const supersededMs = n < 8 ? pushedMs + 3 * DAY : nowMs;
    const pullsMs: number[] = [];
    for (let t = pushedMs + HOUR; t < Math.min(supersededMs, nowMs - HOUR); t += 2 * HOUR) pullsMs.push(t);
    if (n < 8) for (let t = supersededMs + 12 * HOUR; t <= supersededMs + 2 * DAY; t += 12 * HOUR) pullsMs.push(t);
    versions.push({ repository: 'ci/busy', name: `b${n}`, pushedMs, pullsMs });
  }
  const quiet: number[] = [];
  for (let t = nowMs - 29 * DAY; t <= nowMs - 2 * DAY; t += 3 * DAY) quiet.push(t);
  versions.push({ repository: 'ci/quiet', name: 'q1', pushedMs: nowMs - 30 * DAY, pullsMs: quiet });
  return versions;
}
