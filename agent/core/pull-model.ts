// Which registry images will be pulled again: a model learned from this registry's own pull log.
// Least recently pulled first takes a quiet repository's image, pulled every few days, before a
// busy repository's version that was superseded yesterday and will never be pulled again; and it
// takes a release pinned for weeks before a version whose retries have just ended. Pure: the pull
// log and the manifests' push and delete times in, expected pull rates out.
//
// At sample moments over the log (every 6 h), every live manifest is described by three features:
// how many pulls its repository has had since it was last wanted (pull, else push), none of them
// for it; how many newer manifests its tag line has had pushed since its last pull (or that it
// was never pulled); and how many newer ones there were when it was last pulled (a release still
// pulled while deep, or a version last pulled as one of the newest). A tag line (tagLine) is a
// repository's dev builds, a branch or a release line; newer versions are counted in it (in the
// repository when its line is unknown or alone), so a release's latest patch is not taken for a
// dead version because the repository pushed ten dev builds since. Lines added 2026-11-25: on
// seeds they were not tried on, broken pulls in the bench's branch family 12,911 -> 12,331 and in
// its release family 52,385 -> 39,666 (bench/FINDINGS.md). A fourth feature says whether the
// manifest's line is still alive: its repository's pulls since the line's last pull (any of its
// manifests). An old version of a branch that is still pulled and one of a branch that ended
// (merged, a retired release line) look alike by their own pulls and pushes; their lines do not.
// Added 2026-12-07 (FINDINGS has the numbers). In a repository of several lines, each line also
// learns its own profile by depth (its versions' share at 0, 1, 2... newer versions in the line),
// against its repository's: a release line keeps its older patches pulled for weeks, a dev line
// drops its builds within a day, and the cells, pooling versions alike by their own pulls, cannot
// tell them apart (lineDepthFactor; 2026-12-07). Each sample is watched for a
// day; a cell learns what share of its repository's pulls its manifests get: the pulls seen over
// the repository's pulls while they were watched, shrunk toward the coarser cells' so that a
// sparse cell leans on what its neighbours say. A manifest's expected rate is that share times its
// repository's traffic now. Until 2026-12-07 a cell learned pulls per hour watched, which pools a
// repository pulled 5 times a day with one pulled 500 times: the latest build of a busy
// repository, idle for a few of its pulls, then looked as dead as a quiet one's old build. The
// log's last week chooses how the rates are used (choosePullOrder): alone, blended with least
// recently pulled first, or not at all.
import { z } from 'zod';
import { lastAtOrBefore } from './sorted';

/** A manifest of the registry, live or deleted (the pull log names both). */
export interface ModelManifest {
  repository: string;
  digest: string;
  pushedMs: number;
  deletedMs: number | null;
  /** Not a child of an index: children are pushed with their index and do not count as newer versions. */
  topLevel: boolean;
  /** The tag line it was pushed in (tagLine); null: no tag known. */
  line: string | null;
}

/**
 * The line a tag belongs to: the tag with its last number replaced by `#` (`dev-17` and `dev-18`
 * are both `dev-#`, `1.4.2` is `1.4.#`, `b3.1-45` is `b3.1-#`), or the tag itself when it ends in
 * no number (successive pushes of `main`). A release line, a branch and the daily builds of one
 * repository each count their own newer versions: a release's latest patch is not "deep" because
 * the repository pushed ten dev builds since. Of several tags on one manifest, a numbered one
 * names the line (the first in code-point order); null for no tag.
 */
export function tagLine(tags: readonly string[]): string | null {
  const sorted = [...tags].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const numbered = sorted.find((t) => /\d$/.test(t));
  if (numbered !== undefined) return numbered.replace(/\d+$/, '#');
  return sorted[0] ?? null;
}

/** A line's own push times count once it has this many manifests; until then, its repository's. */
const MIN_LINE_MANIFESTS = 2;

const lineKeyOf = (m: Pick<ModelManifest, 'repository' | 'line'>) => (m.line === null ? null : `${m.repository}\0${m.line}`);

/** One pull (GET; HEAD too when it counts) of a manifest. */
export interface PullRecord {
  repository: string;
  digest: string;
  atMs: number;
}

const Cell = z.object({ exposurePulls: z.number().nonnegative(), pulls: z.number().int().nonnegative() });

export const PullModel = z.object({
  samples: z.number().int().nonnegative(),
  /** Pulls of the samples' repositories while they were watched. */
  exposurePulls: z.number().nonnegative(),
  pulls: z.number().int().nonnegative(),
  /**
   * Per cell at each level (`missed`, `missed|line`, `missed|since|line`, `missed|since|line|depthAtPull`),
   * and per depth in a line (`depth|d`, `repository-depth|repository|d`, `line-depth|line|d`; lineDepthFactor):
   * its repositories' pulls watched and the pulls of its samples seen.
   */
  cells: z.record(z.string(), Cell),
});
export type PullModel = z.infer<typeof PullModel>;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** How long each sample is watched for its next pull: short, so its features hold meanwhile. */
const WATCH_MS = DAY_MS;
const SAMPLE_EVERY_MS = 6 * HOUR_MS;
/** Fewer samples, or no pull seen: the log says too little; least recently pulled first stays. */
const MIN_SAMPLES = 200;
/** Weight of the coarser cell's share, in its repositories' pulls watched: a cell needs more than this to speak for itself. */
const SHRINK_PULLS = 20;
/** A repository's traffic now: its pulls over this window (one more, so that a repository idle that long is not certain to stay so). */
const TRAFFIC_MS = 7 * DAY_MS;

/** 0, then log2 buckets: 1, 2-3, 4-7, ... capped. */
function log2Bucket(n: number, cap: number): number {
  return n <= 0 ? 0 : Math.min(cap, Math.floor(Math.log2(n)) + 1);
}

const keyOf = (repository: string, digest: string) => `${repository}@${digest}`;

/** The log arranged for lookups: push times per repository, pull times per manifest. */
export interface PullLog {
  pushes: Map<string, number[]>;
  /** Push times per tag line with at least MIN_LINE_MANIFESTS manifests (lineKeyOf). */
  linePushes: Map<string, number[]>;
  pulls: Map<string, number[]>;
  /** Pull times per repository, any manifest. */
  repositoryPulls: Map<string, number[]>;
  /** Pull times per tag line of linePushes, any manifest of it. */
  linePulls: Map<string, number[]>;
  /** Repositories with two or more lines of linePushes: where a line's own depth profile is learned (lineDepthFactor). */
  multiLine: Set<string>;
}

export function pullLog(manifests: ModelManifest[], pulls: PullRecord[]): PullLog {
  const pushes = new Map<string, number[]>();
  const linePushes = new Map<string, number[]>();
  const append = (map: Map<string, number[]>, key: string, t: number) => {
    const times = map.get(key);
    if (times === undefined) map.set(key, [t]);
    else times.push(t);
  };
  for (const m of manifests) {
    if (!m.topLevel) continue;
    append(pushes, m.repository, m.pushedMs);
    const lineKey = lineKeyOf(m);
    if (lineKey !== null) append(linePushes, lineKey, m.pushedMs);
  }
  for (const [key, times] of linePushes) if (times.length < MIN_LINE_MANIFESTS) linePushes.delete(key);
  const lineCount = new Map<string, number>();
  for (const lineKey of linePushes.keys()) {
    const repository = lineKey.slice(0, lineKey.indexOf('\0'));
    lineCount.set(repository, (lineCount.get(repository) ?? 0) + 1);
  }
  const multiLine = new Set([...lineCount].filter(([, n]) => n >= 2).map(([repository]) => repository));
  for (const times of [...pushes.values(), ...linePushes.values()]) times.sort((a, b) => a - b);
  const lineOf = new Map<string, string>();
  for (const m of manifests) {
    const lineKey = lineKeyOf(m);
    if (lineKey !== null && linePushes.has(lineKey)) lineOf.set(keyOf(m.repository, m.digest), lineKey);
  }
  const byManifest = new Map<string, number[]>();
  const repositoryPulls = new Map<string, number[]>();
  const linePulls = new Map<string, number[]>();
  for (const p of pulls) {
    append(repositoryPulls, p.repository, p.atMs);
    const k = keyOf(p.repository, p.digest);
    append(byManifest, k, p.atMs);
    const lineKey = lineOf.get(k);
    if (lineKey !== undefined) append(linePulls, lineKey, p.atMs);
  }
  for (const times of [...byManifest.values(), ...repositoryPulls.values(), ...linePulls.values()]) times.sort((a, b) => a - b);
  return { pushes, linePushes, pulls: byManifest, repositoryPulls, linePulls, multiLine };
}

/** The cell keys of a manifest at `atMs`, coarse to fine; `lastPullMs` overrides the log's (the state's own record). */
function cellKeys(log: PullLog, m: ModelManifest, atMs: number, lastPullMs?: number | null): [string, string, string, string] {
  const pulls = log.pulls.get(keyOf(m.repository, m.digest)) ?? [];
  const fromLog = lastAtOrBefore(pulls, atMs);
  const lastPull = lastPullMs !== undefined ? lastPullMs : fromLog < 0 ? null : (pulls[fromLog] as number);
  // Newer versions are counted in the manifest's tag line, or its repository when the line is unknown or alone.
  const lineKey = lineKeyOf(m);
  const linePushes = lineKey === null ? undefined : log.linePushes.get(lineKey);
  const pushes = linePushes ?? log.pushes.get(m.repository) ?? [];
  const newerThan = (t: number) => lastAtOrBefore(pushes, atMs) - lastAtOrBefore(pushes, t);
  // Pulls of its repository since it was last wanted, none for it: the evidence it is no longer
  // wanted, in the repository's own traffic (five idle hours say much in a busy one, little in a quiet one).
  const repositoryPulls = log.repositoryPulls.get(m.repository) ?? [];
  const repositoryPullsNow = lastAtOrBefore(repositoryPulls, atMs);
  const missed = log2Bucket(repositoryPullsNow - lastAtOrBefore(repositoryPulls, Math.max(lastPull ?? -Infinity, m.pushedMs)), 12);
  // Whether its line is alive: the repository's pulls since any manifest of the line was last
  // pulled ('-': no line of two or more manifests; 'n': the line never pulled).
  const linePulls = (lineKey === null ? undefined : log.linePulls.get(lineKey)) ?? [];
  const lineLast = lastAtOrBefore(linePulls, atMs);
  const line = linePushes === undefined ? '-' : lineLast < 0 ? 'n' : `${log2Bucket(repositoryPullsNow - lastAtOrBefore(repositoryPulls, linePulls[lineLast] as number), 12)}`;
  if (lastPull === null) return [`${missed}`, `${missed}|${line}`, `${missed}|never|${line}`, `${missed}|never|${line}|${log2Bucket(newerThan(m.pushedMs), 7)}`];
  // Pulled while many newer versions existed: a pinned release, a long-lived branch; a version
  // last pulled as one of the newest and superseded since: a retry window that has closed.
  const depthAtPull = lastAtOrBefore(pushes, lastPull) - lastAtOrBefore(pushes, m.pushedMs);
  const since = log2Bucket(newerThan(lastPull), 7);
  return [`${missed}`, `${missed}|${line}`, `${missed}|${since}|${line}`, `${missed}|${since}|${line}|${log2Bucket(depthAtPull, 7)}`];
}

/** Depths in a line are counted up to this; deeper ones share a cell. */
const MAX_LINE_DEPTH = 16;
/**
 * Weight of the repository's share at a depth against its line's, in repository pulls: a line
 * must say it many times before it moves its versions off its repository's profile, so that
 * lines alike (a repository's branches) do not drift apart on noise. On the bench, 100 against
 * 20 (SHRINK_PULLS) and 300: branch family +0.9% against +1.6% and +0.5% broken pulls, release
 * family -9.4% against -8.8% and -9.0% (seeds 7-36 and 7-14).
 */
const LINE_DEPTH_SHRINK_PULLS = 100;

/**
 * What a manifest's depth cells need, worked out once per manifest (learning visits each at every
 * sample): its line's push times, its own place in them, and the stems of its cell keys (any
 * line's, its repository's, its line's). Null outside a repository of two or more lines.
 */
interface DepthCells {
  linePushes: number[];
  pushedIndex: number;
  stems: readonly [string, string, string];
}

function depthCells(log: PullLog, m: ModelManifest): DepthCells | null {
  const lineKey = lineKeyOf(m);
  const linePushes = lineKey === null ? undefined : log.linePushes.get(lineKey);
  if (linePushes === undefined || !log.multiLine.has(m.repository)) return null;
  return { linePushes, pushedIndex: lastAtOrBefore(linePushes, m.pushedMs), stems: ['depth|', `repository-depth|${m.repository}|`, `line-depth|${lineKey}|`] };
}

/** The manifest's depth in its line at `atMs`: the versions the line pushed since, capped. */
function depthAt(d: DepthCells, atMs: number): number {
  return Math.min(MAX_LINE_DEPTH, lastAtOrBefore(d.linePushes, atMs) - d.pushedIndex);
}

/**
 * Learns from the log up to `nowMs`: each sample is watched until its next pull, its deletion,
 * a day, or now, whichever comes first; a cell's share is its pulls over its repositories' pulls
 * in that time (the sample's own pull included). Cut short by a deletion, a sample still counts
 * for what it was watched, so what the planner deleted does not vanish from the evidence. Null
 * when the log says too little.
 */
export function learnPullModel(manifests: ModelManifest[], pulls: PullRecord[], nowMs: number): PullModel | null {
  return pulls.length === 0 ? null : learnFromLog(manifests, pullLog(manifests, pulls), pulls.reduce((min, p) => Math.min(min, p.atMs), Infinity), nowMs);
}

/** learnPullModel over a log already arranged; `firstMs`: its first pull. */
function learnFromLog(manifests: ModelManifest[], log: PullLog, firstMs: number, nowMs: number): PullModel | null {
  const cells: Record<string, { exposurePulls: number; pulls: number }> = {};
  let samples = 0;
  let exposurePulls = 0;
  let pulled = 0;
  // A manifest's samples per depth in its line, added to the depth cells once per manifest (three
  // keys per sample made choosePullOrder about 50% slower, this about 20%).
  const depthExposure = new Float64Array(MAX_LINE_DEPTH + 1);
  const depthPulls = new Float64Array(MAX_LINE_DEPTH + 1);
  // Sample moments lie on one grid, every SAMPLE_EVERY_MS back from now.
  const onGrid = (t: number) => nowMs - Math.ceil((nowMs - t) / SAMPLE_EVERY_MS) * SAMPLE_EVERY_MS;
  for (const m of manifests) {
    const endMs = Math.min(nowMs, m.deletedMs ?? Infinity);
    const times = log.pulls.get(keyOf(m.repository, m.digest)) ?? [];
    const repositoryPulls = log.repositoryPulls.get(m.repository) ?? [];
    const depth = depthCells(log, m);
    if (depth !== null) {
      depthExposure.fill(0);
      depthPulls.fill(0);
    }
    for (let atMs = onGrid(Math.max(m.pushedMs, firstMs)); atMs < endMs; atMs += SAMPLE_EVERY_MS) {
      const next = times[lastAtOrBefore(times, atMs) + 1];
      const watchEndMs = Math.min(endMs, atMs + WATCH_MS);
      const wanted = next !== undefined && next <= watchEndMs;
      // A watch in which its repository was not pulled at all says nothing of the manifest's share.
      const watched = lastAtOrBefore(repositoryPulls, wanted ? (next as number) : watchEndMs) - lastAtOrBefore(repositoryPulls, atMs);
      if (watched <= 0) continue;
      samples += 1;
      exposurePulls += watched;
      if (wanted) pulled += 1;
      for (const key of cellKeys(log, m, atMs)) {
        const cell = (cells[key] ??= { exposurePulls: 0, pulls: 0 });
        cell.exposurePulls += watched;
        if (wanted) cell.pulls += 1;
      }
      // The grid's first sample can fall up to 6 h before the push (depth -1): no depth cell is ever asked for it.
      const d = depth === null ? -1 : depthAt(depth, atMs);
      if (d >= 0) {
        depthExposure[d] += watched;
        if (wanted) depthPulls[d] += 1;
      }
    }
    if (depth === null) continue;
    for (let d = 0; d <= MAX_LINE_DEPTH; d += 1) {
      if (depthExposure[d] === 0) continue;
      for (const stem of depth.stems) {
        const cell = (cells[`${stem}${d}`] ??= { exposurePulls: 0, pulls: 0 });
        cell.exposurePulls += depthExposure[d] as number;
        cell.pulls += depthPulls[d] as number;
      }
    }
  }
  if (samples < MIN_SAMPLES || pulled === 0) return null;
  return { samples, exposurePulls, pulls: pulled, cells };
}

/** How often `m` is expected to be pulled from `nowMs` on, in pulls a day: its share of its repository's pulls times their rate now. */
export function pullRate(model: PullModel, log: PullLog, m: ModelManifest, nowMs: number, lastPullMs?: number | null): number {
  let share = model.pulls / model.exposurePulls;
  for (const key of cellKeys(log, m, nowMs, lastPullMs)) share = shrunk(model, key, share);
  share *= lineDepthFactor(model, log, m, nowMs);
  const repositoryPulls = log.repositoryPulls.get(m.repository) ?? [];
  const traffic = lastAtOrBefore(repositoryPulls, nowMs) - lastAtOrBefore(repositoryPulls, nowMs - TRAFFIC_MS) + 1;
  return (share * traffic * DAY_MS) / TRAFFIC_MS;
}

/** A cell's share, shrunk toward `toward` (the coarser estimate): a sparse cell leans on it. */
function shrunk(model: PullModel, key: string, toward: number, weight = SHRINK_PULLS): number {
  const cell = model.cells[key];
  return cell === undefined ? toward : (cell.pulls + weight * toward) / (cell.exposurePulls + weight);
}

/**
 * How much more (or less) of its repository's pulls a manifest's line gives its versions at the
 * manifest's depth than the repository's lines together do. The cells pool versions alike by
 * their own pulls and pushes; in a repository of dev builds and release lines, the patch one
 * back stays deployed for weeks while the dev build one back is dead within a day, and so the
 * cells took patches for the dev builds they sat with (bench/FINDINGS.md: 95% of the release
 * family's broken pulls were patches deleted while dead dev builds were kept). The line's share
 * at that depth is shrunk toward the repository's, the repository's toward every multi-line
 * repository's. 1 in a repository of one line: there a pinned release moves deeper through
 * versions that died at each depth before it, and a profile by depth would call it dead (it cost
 * the bench's first family 10% more broken pulls). Added 2026-12-07.
 */
export function lineDepthFactor(model: PullModel, log: PullLog, m: ModelManifest, nowMs: number): number {
  const depth = depthCells(log, m);
  if (depth === null) return 1;
  const d = depthAt(depth, nowMs);
  const [anyLine, repository, line] = depth.stems.map((stem) => `${stem}${d}`) as [string, string, string];
  const repositoryShare = shrunk(model, repository, shrunk(model, anyLine, model.pulls / model.exposurePulls));
  return shrunk(model, line, repositoryShare, LINE_DEPTH_SHRINK_PULLS) / repositoryShare;
}

/** How the last week of the log judges the learned rates, the blend and least recently pulled first. */
export interface PullOrderTrial {
  /** Pulls, in the week after each trial moment, of what each order would have deleted first. */
  learnedLostPulls: number;
  blendedLostPulls: number;
  recencyLostPulls: number;
  moments: number;
}

/** A manifest as the blend ranks it: its learned rate and when it was last wanted (pull, else push). */
export interface BlendEntry {
  key: string;
  rate: number;
  lastWantedMs: number;
}

/**
 * The blended order: each manifest's place in the learned order (least likely first) and in least
 * recently pulled first, summed (a Borda count); the larger the sum, the later it goes. Where the
 * learned rates are wrong about a manifest (a pinned release in a quiet repository, idle through
 * many of its repository's pulls, ranked among dead versions) recency still holds it, and the
 * other way round. Added 2026-11-25: on fresh seeds 37-66, broken pulls 4,512 -> 3,634 in the
 * bench's first registry family and 18,016 -> 17,313 in the branch family (26 and 27 seeds of 30
 * better); bench/FINDINGS.md has the study.
 */
export function blendedScores(entries: BlendEntry[]): Map<string, number> {
  // Code-point order on ties, not localeCompare: the same on every host, and cheaper.
  const byRecency = (a: BlendEntry, b: BlendEntry) => a.lastWantedMs - b.lastWantedMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  const score = new Map<string, number>();
  [...entries].sort((a, b) => a.rate - b.rate || byRecency(a, b)).forEach((e, place) => score.set(e.key, place));
  [...entries].sort(byRecency).forEach((e, place) => score.set(e.key, (score.get(e.key) as number) + place));
  return score;
}

/** A manifest as storage pressure ranks it: a blend entry and the bytes of its own layers (ownLayerBytes). */
export interface RankEntry extends BlendEntry {
  ownBytes: number;
}

const MIB = 2 ** 20;

/**
 * The planner's likelihood under the learned order or the blend: each manifest's expected pulls a
 * day per MiB of its own layers (less counts as 1 MiB), alone or blended with recency. A broken
 * pull costs the same whatever the size of what was deleted, so of two manifests pulled alike the
 * one that frees more goes first. Only layers no other manifest ever held count: a base shared
 * with versions since deleted would make its last holder, often a pinned release, look cheap.
 * Added 2026-12-07 (bench/FINDINGS.md has the numbers).
 */
export function pressureLikelihood(order: Exclude<PullOrder, 'least-recently-pulled'>, entries: RankEntry[]): Map<string, number> {
  const perMiB = entries.map((e) => ({ key: e.key, lastWantedMs: e.lastWantedMs, rate: e.rate / (Math.max(e.ownBytes, MIB) / MIB) }));
  return order === 'blended' ? blendedScores(perMiB) : new Map(perMiB.map((e) => [e.key, e.rate]));
}

/** Which order storage pressure takes: the learned rates, their blend with recency, or least recently pulled first. */
export const PullOrder = z.enum(['learned', 'blended', 'least-recently-pulled']);
export type PullOrder = z.infer<typeof PullOrder>;

export interface PullOrderChoice {
  order: PullOrder;
  /** The model to rank by (learned, blended), or null: least recently pulled first. */
  model: PullModel | null;
  log: PullLog | null;
  trial: PullOrderTrial | null;
  /** One line: why this order. */
  reason: string;
}

const TRIAL_DAYS = 7;
/** The shares of the live manifests a trial deletes first: a light clean-up to a deep one. */
const TRIAL_SHARES = [0.05, 0.1, 0.2];

/**
 * Learns the rates, then keeps the order the log's last week says would have lost fewest pulls:
 * the learned rates, their blend with recency, or least recently pulled first. A model fitted to
 * one registry's habits is a guess on another's (bench/: on a family of traces with branches and
 * fading traffic the learned rates alone lost more than recency on every seed). A model learned
 * as of a week ago ranks the manifests live at each day of the week; each order deletes its
 * first 5%, 10% and 20%; the pulls those got in the week after (up to now) are what it would have
 * broken. A tie keeps recency, then the learned rates.
 */
export function choosePullOrder(manifests: ModelManifest[], pulls: PullRecord[], nowMs: number): PullOrderChoice {
  const recency = (reason: string, trial: PullOrderTrial | null = null): PullOrderChoice => ({ order: 'least-recently-pulled', model: null, log: null, trial, reason });
  if (pulls.length === 0) return recency('too little pull log to learn from (0 pulls)');
  // One arrangement of the log serves both models and the trial.
  const log = pullLog(manifests, pulls);
  const firstMs = pulls.reduce((min, p) => Math.min(min, p.atMs), Infinity);
  const model = learnFromLog(manifests, log, firstMs, nowMs);
  if (model === null) return recency(`too little pull log to learn from (${pulls.length} pulls)`);
  const startMs = nowMs - TRIAL_DAYS * DAY_MS;
  const past = learnFromLog(manifests, log, firstMs, startMs);
  if (past === null) return recency(`too little pull log before the last ${TRIAL_DAYS} days to try the learned order on them`);
  const trial: PullOrderTrial = { learnedLostPulls: 0, blendedLostPulls: 0, recencyLostPulls: 0, moments: 0 };
  for (let atMs = startMs; atMs < nowMs - HOUR_MS; atMs += DAY_MS) {
    const live = manifests.filter((m) => m.pushedMs <= atMs && (m.deletedMs === null || m.deletedMs > atMs));
    if (live.length === 0) continue;
    trial.moments += 1;
    const pullsAfter = (m: ModelManifest) => {
      const times = log.pulls.get(keyOf(m.repository, m.digest)) ?? [];
      return lastAtOrBefore(times, Math.min(nowMs, atMs + TRIAL_DAYS * DAY_MS)) - lastAtOrBefore(times, atMs);
    };
    const lastWanted = (m: ModelManifest) => {
      const times = log.pulls.get(keyOf(m.repository, m.digest)) ?? [];
      const i = lastAtOrBefore(times, atMs);
      return Math.max(m.pushedMs, i < 0 ? -Infinity : (times[i] as number));
    };
    // Each key once per manifest, not at every comparison of the sorts (each a search of its pulls).
    const wanted = new Map(live.map((m) => [m, lastWanted(m)]));
    const rates = new Map(live.map((m) => [m, pullRate(past, log, m, atMs)]));
    const lost = new Map(live.map((m) => [m, pullsAfter(m)]));
    const since = (a: ModelManifest, b: ModelManifest) => (wanted.get(a) as number) - (wanted.get(b) as number);
    const byRecency = [...live].sort(since);
    const byRate = [...live].sort((a, b) => (rates.get(a) as number) - (rates.get(b) as number) || since(a, b));
    const keys = new Map(live.map((m) => [m, keyOf(m.repository, m.digest)]));
    const blended = blendedScores(live.map((m) => ({ key: keys.get(m) as string, rate: rates.get(m) as number, lastWantedMs: wanted.get(m) as number })));
    const scores = new Map(live.map((m) => [m, blended.get(keys.get(m) as string) as number]));
    const byBlend = [...live].sort((a, b) => (scores.get(a) as number) - (scores.get(b) as number) || since(a, b));
    for (const share of TRIAL_SHARES) {
      const n = Math.round(share * live.length);
      for (const m of byRate.slice(0, n)) trial.learnedLostPulls += lost.get(m) as number;
      for (const m of byBlend.slice(0, n)) trial.blendedLostPulls += lost.get(m) as number;
      for (const m of byRecency.slice(0, n)) trial.recencyLostPulls += lost.get(m) as number;
    }
  }
  const evidence = `the last ${TRIAL_DAYS} days' trial: ${trial.learnedLostPulls} pulls lost by the learned order, ${trial.blendedLostPulls} by its blend with recency, ${trial.recencyLostPulls} by least recently pulled first`;
  const order = trialWinner(trial);
  return order === 'least-recently-pulled' ? recency(evidence, trial) : { order, model, log, trial, reason: evidence };
}

/** The order that lost fewest pulls in the trial; a tie keeps recency, then the learned rates. */
export function trialWinner(trial: Pick<PullOrderTrial, 'learnedLostPulls' | 'blendedLostPulls' | 'recencyLostPulls'>): PullOrder {
  if (trial.blendedLostPulls < trial.recencyLostPulls && trial.blendedLostPulls < trial.learnedLostPulls) return 'blended';
  if (trial.learnedLostPulls < trial.recencyLostPulls) return 'learned';
  return 'least-recently-pulled';
}
