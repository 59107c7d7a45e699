// Eviction order: which candidate goes first. Pure; the planner sorts each class with it.
// The orders were compared in bench/ against the offline optimum; README has the numbers.
import { z } from 'zod';
import { isDangling, repositoriesOf, type ImageRecord } from './image';
import { compareLeastRecent, recencyMs } from './usage';

/**
 * `lru`: least recently wanted first.
 * `superseded`: images whose repository has a more recently pulled image go first (an old pipeline
 * version after a new one arrived), then the rest by LRU.
 * `reuse`: images used at most once go first (one-off tools, scans), then the rest by LRU.
 * `superseded-reuse`: both tiers, superseded first.
 * `size`: idle time weighted by size, largest product first (GreedyDual-Size style).
 */
export const EvictionOrder = z.enum(['lru', 'superseded', 'reuse', 'superseded-reuse', 'size']);
export type EvictionOrder = z.infer<typeof EvictionOrder>;

/** The winner of bench/'s order study on CI-like traces. */
export const DEFAULT_EVICTION_ORDER: EvictionOrder = 'superseded-reuse';

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
  const once = order === 'reuse' || order === 'superseded-reuse' ? usedOnceIds(records, uses) : new Set<string>();
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
): (a: ImageRecord, b: ImageRecord) => number {
  const tier = (r: ImageRecord) => {
    const t = tierOf(r);
    return t === 'superseded' ? 0 : t === 'used-once' ? 1 : 2;
  };
  const weight = (r: ImageRecord) => (nowMs - recencyMs(r)) * r.sizeBytes;
  const within = order === 'size' ? (a: ImageRecord, b: ImageRecord) => weight(b) - weight(a) || compareLeastRecent(a, b) : compareLeastRecent;
  return (a, b) => Number(isDangling(b)) - Number(isDangling(a)) || tier(a) - tier(b) || within(a, b);
}
