// What this host's own history says about when an idle image is needed again. Learned from the
// gaps between uses of each image (Kaplan-Meier over log-spaced idle times, censored at "now"),
// per class of image: how often it was used, how many other images of its repository were used
// since its last use (none, one, two or more: a pipeline that moved on to newer versions or other
// branches, against a service or a tool alone in its repository), whether it was in use for a
// day or more, and whether 3 or more images of its repository came after it. No class is assumed
// dead or alive: each host's history decides, so retried old pipelines keep their versions and
// dead ones go first. The count replaced "a newer image of its
// repository arrived since" (2026-11-25): on 90 runs of fresh seeds (67-96) `learned` went from
// 1.162x to 1.132x the offline order in the median, 1.705x to 1.681x at worst, 36 runs better and
// 4 worse; bench/FINDINGS.md has the study.
// The key is the time an image idle that long would sit on disk per use it gets within the next
// day (the inverse of hit density, LHD: Beckmann et al., NSDI 2018), not its expected time to the
// next use: that mean is ruled by the chance of never being used again, so an image likely back
// within the hour but possibly never went before one surely back in two days. On the bench's 90
// randomized runs `learned` went from 1.15x to 1.14x the offline order in the median, 1.59x to
// 1.57x at worst, and from 1.07x to 1.03x plain LRU at worst.
// The newest live image of a repository that has had other images also holds the layers the
// repository's next version will reuse: those bytes are valued by the repository's own gaps
// between uses (of any of its images), not the image's, so the repository's older versions go
// first and the layers they share stay while the repository is in use. Added 2026-11-25: on
// seeds 127-156 `learned` went from 1.168x to 1.142x the offline order in the mean, 1.49x to
// 1.46x at worst, 40 runs better and 4 worse (the gain is on small disks); bench/FINDINGS.md has the study.
// An image alone in its repositories (a service, a tool) used 4 times or more takes its own recent
// rate of use (the record's useScore: uses halved every day) for its key instead: its class lumps
// a service used hourly with one used daily. Added 2026-11-25: on fresh seeds 187-216 `learned` went
// from 1.119x to 1.096x the offline order in the median, 1.388x to 1.349x at worst, 50 runs better
// and 2 worse. The lifetime rate (uses over time since first seen) did as well on the bench's traces
// but not where services' popularity is reshuffled every 2 days: mean 1.154x against 1.146x, 13 runs
// worse than before against 6 (bench/FINDINGS.md has the study).
// Pure: uses in, a model (plain data) out.
import { z } from 'zod';
import { repositoriesOf, type ImageRecord, type Layer } from './image';
import type { Workload, WorkloadImage, WorkloadJob } from './replay';
import { lastAtOrBefore } from './sorted';
import { recencyMs, USE_SCORE_HALF_LIFE_MS, useScoreAt } from './usage';

/** Idle-time buckets: [2^(b-1), 2^b) minutes, b = 0 for under a minute; the last is open-ended. */
export const BUCKETS = 16;
const MINUTE_MS = 60_000;

/** Use-count classes: used once, twice, 3-5 times, 6-15, 16 or more (before the gap began). */
const COUNT_EDGES = [1, 2, 5, 15];
const COUNT_CLASSES = COUNT_EDGES.length + 1;
/**
 * Other images of the repository used since the image's last use: none, one, two or more. Finer
 * levels (up to 3 or more) did no better on the bench's seeds 7-66, and "any other image" alone did
 * worse at its worst run (1.75x against 1.71x); uses rather than images (0, 1-7, 8 or more uses)
 * did as well but would need the history at every plan, where images need only the records.
 */
const OTHERS_LEVELS = 3;
/**
 * From the image's first sighting to its last use: under a day, or a day or more (a service, a
 * base, a version still in use a day on, against a version used only while newest, a one-off).
 * In the history, the first use within the window stands for the first sighting. Added 2026-11-25:
 * on fresh seeds 67-96 `learned` went from 1.190x to 1.180x the offline order in the mean, 1.681x
 * to 1.596x at worst (a day chosen over 6 hours on seeds 7-66).
 */
const SPAN_MS = 24 * 3_600_000;
/**
 * Images of its repository first seen after the image: fewer than 3, or 3 or more (a version with
 * successors, however many branches build them, against the newest few). An image with many uses
 * and the same idle time is likelier dead once several versions came after it; "other images used
 * since" cannot tell that on a pipeline whose branches all use the repository. Added 2026-12-07:
 * on seeds 7-36 `learned` went from 1.1389x to 1.1369x the offline order in the mean and from
 * 1.424x to 1.400x at worst (10 runs better, 2 worse; 2, 4, and 3 with 8 tried); on seeds no
 * choice had seen, 37-66: 1.629x to 1.552x at worst, mean 1.1367x to 1.1359x (5 better, 5 worse),
 * and 300-329: 1.474x to 1.432x, mean 1.1133x to 1.1124x (9 better, 5 worse). In a plan only live
 * images count, in the history every first sighting: counting removed images too at plan time
 * did no better on seeds 7-36 (mean 1.1362x, worst 1.396x).
 */
const DEPTH_MIN_NEWER = 3;
export const CLASSES = COUNT_CLASSES * OTHERS_LEVELS * 2 * 2;
/** A repository's classes: its use count (the same cuts) and the span of the image that opened the gap. */
export const REPOSITORY_CLASSES = COUNT_CLASSES * 2;

/**
 * Uses from which an image alone in its repositories (a service, a tool: the repository has had no
 * other image) is taken for steadily used: its key is then its recent rate (useScore), not its class.
 */
const STEADY_MIN_USES = 4;

/** Pseudo-counts pulling a class with little history toward all classes together. */
const PRIOR_WEIGHT = 8;
/** How far ahead a use counts: a day, as far as a runner's disk holds an idle image. */
const HORIZON_MS = 24 * 3_600_000;
/** The chance of a use within the horizon below which an image counts as never used again. */
const MIN_CHANCE = 1e-9;
/** The key of an image with no chance of a use within the horizon: after every other. */
const NO_USE_MS = HORIZON_MS / MIN_CHANCE;

export function bucketOf(idleMs: number): number {
  const minutes = idleMs / MINUTE_MS;
  if (minutes < 1) return 0;
  return Math.min(BUCKETS - 1, 1 + Math.floor(Math.log2(minutes)));
}

function bucketStartMs(b: number): number {
  return b === 0 ? 0 : 2 ** (b - 1) * MINUTE_MS;
}

function bucketMidMs(b: number): number {
  return b === 0 ? MINUTE_MS / 2 : 1.5 * 2 ** (b - 1) * MINUTE_MS;
}

function countClassOf(useCount: number): number {
  let c = 0;
  while (c < COUNT_EDGES.length && useCount > (COUNT_EDGES[c] as number)) c += 1;
  return c;
}

/**
 * The class of a gap: use count before it, other images of the repository used during it, the
 * image's span of use before it, and the images of its repository first seen after it.
 */
export function classOf(useCount: number, othersUsedSince: number, spanMs: number, newerImages: number): number {
  const cls = (countClassOf(useCount) * OTHERS_LEVELS + Math.min(OTHERS_LEVELS - 1, othersUsedSince)) * 2 + (spanMs >= SPAN_MS ? 1 : 0);
  return cls * 2 + (newerImages >= DEPTH_MIN_NEWER ? 1 : 0);
}

/** The class of a repository's gap: its uses (any image's) before it, and the span of use of the image whose use opened it. */
export function repositoryClassOf(useCount: number, spanMs: number): number {
  return countClassOf(useCount) * 2 + (spanMs >= SPAN_MS ? 1 : 0);
}

/** An image's last use. */
interface LastUse {
  imageId: string;
  atMs: number;
}

/**
 * Per repository, its most recently used distinct images, newest first: OTHERS_LEVELS of them
 * tell how many images other than a given one were used since a time, up to the top level.
 */
type RecentByRepository = Map<string, LastUse[]>;

function noteUse(recent: RecentByRepository, repositories: string[], use: LastUse): void {
  for (const repo of repositories) {
    const list = (recent.get(repo) ?? []).filter((u) => u.imageId !== use.imageId);
    list.unshift(use);
    list.length = Math.min(list.length, OTHERS_LEVELS);
    recent.set(repo, list);
  }
}

/** Images other than `imageId` used after `sinceMs` in any of `repositories`, counted up to the top level. */
function othersUsedSince(recent: RecentByRepository, repositories: string[], imageId: string, sinceMs: number): number {
  let most = 0;
  for (const repo of repositories) {
    const others = (recent.get(repo) ?? []).filter((u) => u.imageId !== imageId && u.atMs > sinceMs).length;
    most = Math.max(most, others);
  }
  return most;
}

/** Gaps that ended in a use, and gaps still open, per class and idle bucket. */
export interface ReuseCounts {
  ended: number[][];
  open: number[][];
}

/** The learned model: per class, from each idle bucket on, the time on disk per use within the horizon. */
export const ReuseModel = z.object({
  /** idlePerUseMs[class][bucket]: from the bucket's start, expected time on disk within the horizon over the chance of a use in it. */
  idlePerUseMs: z.array(z.array(z.number().nonnegative())),
  /** The same per repository class, for a use of any image of the repository. */
  repositoryIdlePerUseMs: z.array(z.array(z.number().nonnegative())),
  /** Gaps between uses it was learned from (ended ones): how much evidence it holds. */
  gaps: z.number().int().nonnegative(),
});
export type ReuseModel = z.infer<typeof ReuseModel>;

/** How much history the model is learned from, and how often anew (the agent and replays alike). */
export const REUSE_WINDOW_MS = 7 * 86_400_000;
export const REUSE_EVERY_MS = 6 * 3_600_000;
/** While nothing usable is learned yet (a new host), it is tried again sooner. */
export const REUSE_RETRY_MS = REUSE_EVERY_MS / 6;
/** Fewer ended gaps than this say nothing yet: the `learned` order falls back to LRU. */
export const REUSE_MIN_GAPS = 30;

/**
 * Whether a model learned at `learnedMs` (null: too little history then) is due to be learned
 * again: every REUSE_EVERY_MS, and every REUSE_RETRY_MS until it holds anything, so a new host
 * leaves plain LRU about an hour after it has enough gaps. A time ahead of now (a clock set back)
 * is due at once.
 */
export function reuseModelDue(model: ReuseModel | null, learnedMs: number, nowMs: number): boolean {
  return learnedMs > nowMs || nowMs - learnedMs >= (model === null ? REUSE_RETRY_MS : REUSE_EVERY_MS);
}

export function emptyCounts(classes = CLASSES): ReuseCounts {
  const grid = () => Array.from({ length: classes }, () => new Array<number>(BUCKETS).fill(0));
  return { ended: grid(), open: grid() };
}

/** Per-bucket hazard: of the gaps that reached bucket b, the share that ended in it. */
function hazards(ended: number[], open: number[]): { hazard: number[]; atRisk: number[] } {
  const atRisk = new Array<number>(BUCKETS).fill(0);
  let tail = 0;
  for (let b = BUCKETS - 1; b >= 0; b -= 1) {
    tail += (ended[b] as number) + (open[b] as number);
    atRisk[b] = tail;
  }
  return { hazard: ended.map((e, b) => ((atRisk[b] as number) > 0 ? e / (atRisk[b] as number) : 0)), atRisk };
}

/**
 * From each bucket's start, by the hazards: the expected time on disk until the next use or the
 * horizon, whichever comes first, over the chance of a use within the horizon. A use is placed at
 * its bucket's middle; the open-ended last bucket lies beyond the horizon.
 */
function idlePerUse(hazard: number[]): number[] {
  return Array.from({ length: BUCKETS }, (_, from) => {
    const start = bucketStartMs(from);
    let alive = 1;
    let onDisk = 0;
    for (let b = from; b < BUCKETS - 1 && bucketMidMs(b) - start <= HORIZON_MS; b += 1) {
      const h = hazard[b] as number;
      onDisk += alive * h * Math.max(0, bucketMidMs(b) - start);
      alive *= 1 - h;
    }
    onDisk += alive * HORIZON_MS;
    return onDisk / Math.max(MIN_CHANCE, 1 - alive);
  });
}

/** Per class, from each bucket: time on disk per use, each class's hazards pulled toward all classes together. */
function idlePerUseTable(counts: ReuseCounts): number[][] {
  const pooledEnded = new Array<number>(BUCKETS).fill(0);
  const pooledOpen = new Array<number>(BUCKETS).fill(0);
  for (let c = 0; c < counts.ended.length; c += 1) {
    for (let b = 0; b < BUCKETS; b += 1) {
      pooledEnded[b] = (pooledEnded[b] as number) + (counts.ended[c]?.[b] ?? 0);
      pooledOpen[b] = (pooledOpen[b] as number) + (counts.open[c]?.[b] ?? 0);
    }
  }
  const pooled = hazards(pooledEnded, pooledOpen).hazard;
  return counts.ended.map((ended, c) => {
    const own = hazards(ended, counts.open[c] as number[]);
    const blended = own.hazard.map((h, b) => ((own.atRisk[b] as number) * h + PRIOR_WEIGHT * (pooled[b] as number)) / ((own.atRisk[b] as number) + PRIOR_WEIGHT));
    return idlePerUse(blended);
  });
}

/** The model from images' gaps and repositories' gaps (countGaps, countRepositoryGaps); null while too few. */
function learnReuse(counts: ReuseCounts, repositoryCounts: ReuseCounts): ReuseModel | null {
  const gaps = counts.ended.reduce((sum, row) => sum + row.reduce((a, b) => a + b, 0), 0);
  if (gaps < REUSE_MIN_GAPS) return null;
  return { idlePerUseMs: idlePerUseTable(counts), repositoryIdlePerUseMs: idlePerUseTable(repositoryCounts), gaps };
}

/** The key: time on disk per use within the horizon for an image idle `idleMs` in `cls`; largest goes first. */
export function idlePerUseMs(model: ReuseModel, cls: number, idleMs: number): number {
  const b = bucketOf(idleMs);
  return model.idlePerUseMs[cls]?.[b] ?? NO_USE_MS;
}

/** The key from a repository's class and idle time: as idlePerUseMs, for its shared layers. */
function repositoryIdlePerUseMs(model: ReuseModel, cls: number, idleMs: number): number {
  return model.repositoryIdlePerUseMs[cls]?.[bucketOf(idleMs)] ?? NO_USE_MS;
}

/** One use of an image, as the history records it. */
export interface UseEvent {
  atMs: number;
  imageId: string;
  repositories: string[];
}

/** Per repository, images in order of first sighting: how many came after a given one. */
function arrivalCounter(): { arrive(imageId: string, repositories: string[]): void; newerThan(imageId: string, repositories: string[]): number } {
  const arrived = new Map<string, number>();
  const place = new Map<string, Map<string, number>>();
  return {
    arrive: (imageId, repositories) => {
      for (const repo of repositories) {
        const n = (arrived.get(repo) ?? 0) + 1;
        arrived.set(repo, n);
        const places = place.get(imageId) ?? new Map<string, number>();
        places.set(repo, n);
        place.set(imageId, places);
      }
    },
    newerThan: (imageId, repositories) => Math.max(0, ...repositories.map((repo) => (arrived.get(repo) ?? 0) - (place.get(imageId)?.get(repo) ?? 0))),
  };
}

/**
 * Counts gaps from uses in time order: each use closes the image's open gap (classed by its use
 * count then, by how many other images of its repository were used during the gap, by the time
 * from its first use to the gap's start, and by the images of its repository first used after it
 * by the gap's end); at `nowMs` every image's last gap is open (censored). First sightings of an
 * image count as its pulls.
 */
export function countGaps(uses: Iterable<UseEvent>, nowMs: number): ReuseCounts {
  const counts = emptyCounts();
  const last = new Map<string, { atMs: number; count: number; repositories: string[]; firstMs: number }>();
  const recent: RecentByRepository = new Map();
  const arrivals = arrivalCounter();
  for (const use of uses) {
    const before = last.get(use.imageId);
    if (before === undefined) arrivals.arrive(use.imageId, use.repositories);
    else {
      const cls = classOf(before.count, othersUsedSince(recent, use.repositories, use.imageId, before.atMs), before.atMs - before.firstMs, arrivals.newerThan(use.imageId, use.repositories));
      const row = counts.ended[cls] as number[];
      const b = bucketOf(use.atMs - before.atMs);
      row[b] = (row[b] as number) + 1;
    }
    noteUse(recent, use.repositories, { imageId: use.imageId, atMs: use.atMs });
    last.set(use.imageId, { atMs: use.atMs, count: (before?.count ?? 0) + 1, repositories: use.repositories, firstMs: before?.firstMs ?? use.atMs });
  }
  for (const [imageId, l] of last) {
    const cls = classOf(l.count, othersUsedSince(recent, l.repositories, imageId, l.atMs), l.atMs - l.firstMs, arrivals.newerThan(imageId, l.repositories));
    const row = counts.open[cls] as number[];
    const b = bucketOf(nowMs - l.atMs);
    row[b] = (row[b] as number) + 1;
  }
  return counts;
}

/**
 * Counts each repository's gaps between uses of any of its images, as countGaps does an image's:
 * classed by the repository's uses before the gap and by the span of use (first use to the gap's
 * start) of the image whose use opened it.
 */
export function countRepositoryGaps(uses: Iterable<UseEvent>, nowMs: number): ReuseCounts {
  const counts = emptyCounts(REPOSITORY_CLASSES);
  const last = new Map<string, { atMs: number; count: number; spanMs: number }>();
  const firstUse = new Map<string, number>();
  for (const use of uses) {
    const first = firstUse.get(use.imageId) ?? use.atMs;
    firstUse.set(use.imageId, first);
    for (const repo of use.repositories) {
      const before = last.get(repo);
      if (before !== undefined) {
        const row = counts.ended[repositoryClassOf(before.count, before.spanMs)] as number[];
        const b = bucketOf(use.atMs - before.atMs);
        row[b] = (row[b] as number) + 1;
      }
      last.set(repo, { atMs: use.atMs, count: (before?.count ?? 0) + 1, spanMs: use.atMs - first });
    }
  }
  for (const l of last.values()) {
    const row = counts.open[repositoryClassOf(l.count, l.spanMs)] as number[];
    const b = bucketOf(nowMs - l.atMs);
    row[b] = (row[b] as number) + 1;
  }
  return counts;
}

/** The model uses in time order teach at `nowMs`. */
export function learnFromUses(uses: UseEvent[], nowMs: number): ReuseModel | null {
  return learnReuse(countGaps(uses, nowMs), countRepositoryGaps(uses, nowMs));
}

const usesOf = (jobs: WorkloadJob[], image: (id: string) => WorkloadImage): UseEvent[] =>
  jobs.map((j) => ({ atMs: j.atMs, imageId: j.imageId, repositories: repositoriesOf(image(j.imageId)) }));

/** The model a history (as a replay workload) teaches at `nowMs`; null when it holds too few gaps. */
export function learnFromWorkload(workload: Workload, nowMs: number): ReuseModel | null {
  const images = new Map(workload.images.map((i) => [i.id, i]));
  return learnFromUses(usesOf(workload.jobs, (id) => images.get(id) as WorkloadImage), nowMs);
}

/** A replayed agent's model: it sees jobs as they happen and learns as the agent does (reuseModelDue). */
export function replayLearner(): { observe(job: WorkloadJob, repositories: string[]): void; modelAt(nowMs: number): ReuseModel | null } {
  const uses: UseEvent[] = [];
  let start = 0;
  let model: ReuseModel | null = null;
  let learnedMs = -Infinity;
  return {
    observe: (job, repositories) => {
      uses.push({ atMs: job.atMs, imageId: job.imageId, repositories });
    },
    modelAt: (nowMs) => {
      if (!reuseModelDue(model, learnedMs, nowMs)) return model;
      while (start < uses.length && (uses[start] as UseEvent).atMs < nowMs - REUSE_WINDOW_MS) start += 1;
      model = learnFromUses(uses.slice(start), nowMs);
      learnedMs = nowMs;
      return model;
    },
  };
}

/**
 * Per record: the live images of any of its repositories first seen after it (the most over its
 * repositories). `repositoriesOfRecord`: each record's repositories, parsed once by the caller.
 */
function newerLiveImages(records: ImageRecord[], repositoriesOfRecord: (r: ImageRecord) => string[]): (r: ImageRecord) => number {
  const firstSeen = new Map<string, number[]>();
  for (const r of records) {
    for (const repo of repositoriesOfRecord(r)) {
      const times = firstSeen.get(repo);
      if (times === undefined) firstSeen.set(repo, [r.firstSeenMs]);
      else times.push(r.firstSeenMs);
    }
  }
  for (const times of firstSeen.values()) times.sort((a, b) => a - b);
  const after = (times: number[], ms: number) => times.length - 1 - lastAtOrBefore(times, ms);
  return (r) => Math.max(0, ...repositoriesOfRecord(r).map((repo) => after(firstSeen.get(repo) ?? [], r.firstSeenMs)));
}

/**
 * The `learned` order's key over live records: the time each would sit on disk per use within
 * the next day, largest first; classed by its use count, by how many other live images of its
 * repositories were pulled or used since its last use or pull, by the time from its first
 * sighting to that last one, and by how many live images of its repositories were first seen
 * after it. The newest live image of a repository that has had other images
 * (`uses`: uses per repository over every record, removed ones too) holds, in its layers below the
 * top one that only images of that repository share, what the repository's next version will
 * reuse: those bytes take the repository's key, and the image's key is the two weighed by bytes
 * (time on disk per use is the inverse of a density, so densities add). The repository's older
 * versions keep their own keys and go first. An image whose repositories have had no other image,
 * used STEADY_MIN_USES times or more, is keyed by its use score instead (steady use at a rate λ:
 * 1/λ on disk per use). `layersOf`: the image's layers, null if unknown (then its own key alone).
 */
export function learnedKey(model: ReuseModel, records: ImageRecord[], nowMs: number, uses: Map<string, number>, layersOf: (id: string) => Layer[] | null): (r: ImageRecord) => number {
  // Each record's repositories, parsed once: every pass below and each key need them.
  const parsed = new Map(records.map((r) => [r.id, repositoriesOf(r)]));
  const repositoriesOfRecord = (r: ImageRecord) => parsed.get(r.id) ?? repositoriesOf(r);
  const recent: RecentByRepository = new Map();
  const byRecency = records.map((r) => ({ r, atMs: recencyMs(r) })).sort((a, b) => a.atMs - b.atMs);
  for (const { r, atMs } of byRecency) noteUse(recent, repositoriesOfRecord(r), { imageId: r.id, atMs });
  const newerImages = newerLiveImages(records, repositoriesOfRecord);
  // Per layer, the repositories every live image holding it belongs to.
  const commonRepositories = new Map<string, string[]>();
  for (const r of records) {
    const repositories = repositoriesOfRecord(r);
    for (const l of layersOf(r.id) ?? []) {
      const before = commonRepositories.get(l.chainId);
      commonRepositories.set(l.chainId, before === undefined ? repositories : before.filter((repo) => repositories.includes(repo)));
    }
  }
  // A sort asks for each record's key at every comparison: computed once per record.
  const keys = new Map<string, number>();
  return (r) => {
    const known = keys.get(r.id);
    if (known !== undefined) return known;
    const repositories = repositoriesOfRecord(r);
    const last = recencyMs(r);
    let key = idlePerUseMs(model, classOf(r.useCount, othersUsedSince(recent, repositories, r.id, last), last - r.firstSeenMs, newerImages(r)), nowMs - last);
    const repositoryUses = Math.max(0, ...repositories.map((repo) => uses.get(repo) ?? 0));
    const score = repositories.length > 0 && repositoryUses <= r.useCount && r.useCount >= STEADY_MIN_USES ? useScoreAt(r, nowMs) : 0;
    // Steady use at a rate λ keeps an image 1/λ on disk per use, however long it has been idle,
    // and the score of such use stands near λ x half-life / ln 2.
    if (score > 0) key = USE_SCORE_HALF_LIFE_MS / (Math.LN2 * score);
    const layers = layersOf(r.id);
    const newest = repositories.length > 0 && repositories.every((repo) => recent.get(repo)?.[0]?.imageId === r.id);
    if (layers !== null && layers.length > 1 && newest && repositoryUses > r.useCount) {
      const top = layers[layers.length - 1] as Layer;
      const ofRepository = (l: Layer) => (commonRepositories.get(l.chainId) ?? []).some((repo) => repositories.includes(repo));
      const topBytes = ofRepository(top) ? top.sizeBytes : 0;
      const sharedBytes = layers.slice(0, -1).reduce((sum, l) => sum + (ofRepository(l) ? l.sizeBytes : 0), 0);
      if (sharedBytes > 0) {
        const repositoryKey = repositoryIdlePerUseMs(model, repositoryClassOf(repositoryUses, last - r.firstSeenMs), nowMs - last);
        key = (topBytes + sharedBytes) / (topBytes / Math.max(1, key) + sharedBytes / Math.max(1, repositoryKey));
      }
    }
    keys.set(r.id, key);
    return key;
  };
}
