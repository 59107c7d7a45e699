// Eviction order: which candidate goes first. Pure; the planner sorts each class with it.
// The orders were compared in bench/ on randomized CI traces against the offline order; README has the numbers.
import { z } from 'zod';
import { isDangling, repositoriesOf, type ImageRecord, type Layer } from './image';
import { learnedKey, type ReuseModel } from './reuse-model';
import { compareLeastRecent, recencyMs } from './usage';

/**
 * `lru`: least recently wanted first.
 * `superseded`: images whose repository has a more recently pulled image go first (an old pipeline
 * version after a new one arrived), then the rest by LRU.
 * `reuse`: images used at most once go first (one-off tools, scans), then the rest by LRU.
 * `superseded-reuse`: both tiers, superseded first.
 * `size`: idle time weighted by size, largest product first (GreedyDual-Size style).
 * `reuse-interval`: images used at most once first (as `reuse`), then the farthest expected next
 * need first: idle time plus the image's mean interval between uses (its repository's, or all
 * images', until it has two uses). Frequency-aware recency, as LRFU: of two images idle as long,
 * the one used every few minutes is needed again sooner than the one used twice a day.
 * `learned`: the image that would sit on disk longest per use within the next day first, as this
 * host's own history of gaps between uses says for an image idle that long, used that often, with
 * that many other images of its repository used since, in use for a day or more or not; the
 * newest live image of a repository also by the repository's gaps, for the layers its versions
 * share (core/reuse-model.ts); plain LRU until the history holds enough gaps.
 */
export const EvictionOrder = z.enum(['lru', 'superseded', 'reuse', 'superseded-reuse', 'size', 'reuse-interval', 'learned']);
export type EvictionOrder = z.infer<typeof EvictionOrder>;

/** `eviction-order`: an order, or `auto` (the agent replays its own history and picks one). */
export const OrderSetting = z.union([z.literal('auto'), EvictionOrder]);
export type OrderSetting = z.infer<typeof OrderSetting>;

/**
 * The planner's order when it is given none: plain LRU. Without evidence it is the safe order:
 * once runners' pace was drawn per seed too (a job every 20 s to every 30 min), `reuse-interval`
 * downloaded up to 19% more than LRU on some seeds while winning on others (bench/RESULTS.md), so
 * only the host's own replay may pick it. (`auto` starts from `learned`, which is LRU until this
 * host's history holds enough gaps: core/auto.ts AUTO_INITIAL_ORDER.)
 */
export const DEFAULT_EVICTION_ORDER: EvictionOrder = 'lru';
/** The setting's default: learn the order from this runner's history. */
export const DEFAULT_ORDER_SETTING: OrderSetting = 'auto';

/** Uses per repository over `records`; given every record, removed ones too, it is the history the `reuse` tier needs. */
export function repositoryUses(records: Iterable<ImageRecord>): Map<string, number> {
  const uses = new Map<string, number>();
  for (const r of records) for (const repo of repositoriesOf(r)) uses.set(repo, (uses.get(repo) ?? 0) + r.useCount);
  return uses;
}

/** Images whose repositories were used at most once in all: a new version of a busy pipeline is not a one-off. */
function usedOnceIds(records: ImageRecord[], uses: Map<string, number>): Set<string> {
  const ids = new Set<string>();
  for (const r of records) {
    const total = repositoriesOf(r).reduce((sum, repo) => sum + (uses.get(repo) ?? 0), 0);
    if ((r.repoTags.length === 0 ? r.useCount : total) <= 1) ids.add(r.id);
  }
  return ids;
}

/** Repositories whose newest pull is later than this image's: superseded images. */
function supersededIds(records: ImageRecord[]): Set<string> {
  const newest = new Map<string, number>();
  const pulled = (r: ImageRecord) => r.lastPulledMs ?? r.firstSeenMs;
  for (const r of records) for (const repo of repositoriesOf(r)) newest.set(repo, Math.max(pulled(r), newest.get(repo) ?? -Infinity));
  const ids = new Set<string>();
  for (const r of records) {
    const tags = repositoriesOf(r);
    if (tags.length > 0 && tags.every((repo) => (newest.get(repo) ?? -Infinity) > pulled(r))) ids.add(r.id);
  }
  return ids;
}

/** The tier that puts an image ahead of plain recency under an order, for saying why it goes first. */
export type OrderTier = 'superseded' | 'used-once' | null;

/** Each live record's tier under `order`: superseded versions first, then images used at most once. */
export function evictionTiers(order: EvictionOrder, records: ImageRecord[], uses: Map<string, number> = repositoryUses(records)): (r: ImageRecord) => OrderTier {
  const superseded = order === 'superseded' || order === 'superseded-reuse' ? supersededIds(records) : new Set<string>();
  const once = order === 'reuse' || order === 'superseded-reuse' || order === 'reuse-interval' ? usedOnceIds(records, uses) : new Set<string>();
  return (r) => (superseded.has(r.id) ? 'superseded' : once.has(r.id) ? 'used-once' : null);
}

/**
 * A comparator for `order` over live `records` (first to go first): dangling images always lead.
 * `uses`: uses per repository over every record known, removed ones too (default: over `records`).
 * `tierOf`: the order's tiers, when the caller has them already (the planner gives reasons from them).
 */
export function evictionComparator(
  order: EvictionOrder,
  records: ImageRecord[],
  nowMs: number,
  uses: Map<string, number> = repositoryUses(records),
  tierOf: (r: ImageRecord) => OrderTier = evictionTiers(order, records, uses),
  reuseModel: ReuseModel | null = null,
  layersOf: (id: string) => Layer[] | null = () => null,
): (a: ImageRecord, b: ImageRecord) => number {
  const tier = (r: ImageRecord) => {
    const t = tierOf(r);
    return t === 'superseded' ? 0 : t === 'used-once' ? 1 : 2;
  };
  const weight = (r: ImageRecord) => (nowMs - recencyMs(r)) * r.sizeBytes;
  const nextNeed = order === 'reuse-interval' ? expectedNextNeed(records, nowMs) : order === 'learned' && reuseModel !== null ? learnedKey(reuseModel, records, nowMs, uses, layersOf) : null;
  const within =
    order === 'size'
      ? (a: ImageRecord, b: ImageRecord) => weight(b) - weight(a) || compareLeastRecent(a, b)
      : nextNeed
        ? (a: ImageRecord, b: ImageRecord) => nextNeed(b) - nextNeed(a) || compareLeastRecent(a, b)
        : compareLeastRecent;
  return (a, b) => Number(isDangling(b)) - Number(isDangling(a)) || tier(a) - tier(b) || within(a, b);
}

/** Mean interval between an image's uses, from its record; null before its second use. */
function ownInterval(r: ImageRecord): number | null {
  return r.useCount >= 2 && r.lastUsedMs !== null ? Math.max(0, r.lastUsedMs - r.firstSeenMs) / (r.useCount - 1) : null;
}

function medianOf(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** A floor on intervals: uses a few seconds apart (a job's parallel containers) are one need. */
const MIN_INTERVAL_MS = 60_000;

/**
 * When each live record is next expected to be needed, as time from now: idle time plus its mean
 * interval between uses. The `reuse-interval` key, largest first. An image with fewer than two
 * uses borrows the median interval of its repository's images, else of every image.
 */
function expectedNextNeed(records: ImageRecord[], nowMs: number): (r: ImageRecord) => number {
  const byRepository = new Map<string, number[]>();
  const all: number[] = [];
  for (const r of records) {
    const interval = ownInterval(r);
    if (interval === null) continue;
    all.push(interval);
    for (const repo of repositoriesOf(r)) byRepository.set(repo, [...(byRepository.get(repo) ?? []), interval]);
  }
  const repoMedian = new Map([...byRepository].map(([repo, values]) => [repo, medianOf(values) as number]));
  const overall = medianOf(all);
  const cache = new Map<string, number>();
  return (r) => {
    const known = cache.get(r.id);
    if (known !== undefined) return known;
    const borrowed = repositoriesOf(r)
      .map((repo) => repoMedian.get(repo))
      .filter((v): v is number => v !== undefined);
    const interval = ownInterval(r) ?? medianOf(borrowed) ?? overall ?? MIN_INTERVAL_MS;
    // Idle plus interval, not their ratio: the ratio evicted busy images after short pauses and
    // was worse than plain LRU on bench/'s randomized traces (worst seed 2.08x the reference).
    const score = nowMs - recencyMs(r) + Math.max(interval, MIN_INTERVAL_MS);
    cache.set(r.id, score);
    return score;
  };
}
