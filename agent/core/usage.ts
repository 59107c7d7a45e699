// Pure transitions of image usage records: what an event or an inventory pass changes.
// Timestamps only move forward (max), so a replayed event never rewrites newer knowledge.
import type { ContainerRef, ImageRecord, InventoryImage } from './image';

function later(current: number | null, candidate: number): number {
  return current === null ? candidate : Math.max(current, candidate);
}

/** A record brought up to date with Docker's current view of the image (tags, size). */
export function observe(record: ImageRecord | undefined, image: InventoryImage, nowMs: number): ImageRecord {
  return {
    id: image.id,
    repoTags: image.repoTags,
    repoDigests: image.repoDigests,
    sizeBytes: image.sizeBytes,
    createdMs: image.createdMs,
    firstSeenMs: record?.firstSeenMs ?? nowMs,
    lastPulledMs: record?.lastPulledMs ?? null,
    lastUsedMs: record?.lastUsedMs ?? null,
    useCount: record?.useCount ?? 0,
    useScore: record?.useScore ?? 0,
    removedMs: null,
  };
}

/** The image arrived on the host (pull, load, import) at `atMs`. */
export function arrived(record: ImageRecord | undefined, image: InventoryImage, atMs: number): ImageRecord {
  const seen = observe(record, image, atMs);
  return { ...seen, lastPulledMs: later(seen.lastPulledMs, atMs) };
}

/** How fast a use fades from an image's useScore: a day, the horizon the `learned` order looks ahead. */
export const USE_SCORE_HALF_LIFE_MS = 24 * 3_600_000;

/** The weight at `toMs` of a use at `fromMs`: halved every USE_SCORE_HALF_LIFE_MS. */
export function useScoreDecay(fromMs: number, toMs: number): number {
  return 2 ** (-(toMs - fromMs) / USE_SCORE_HALF_LIFE_MS);
}

/** The record's useScore at `nowMs` (it is kept as of its last use). */
export function useScoreAt(record: ImageRecord, nowMs: number): number {
  return record.lastUsedMs === null ? 0 : record.useScore * useScoreDecay(record.lastUsedMs, Math.max(nowMs, record.lastUsedMs));
}

/**
 * A use score kept as of `lastUsedMs` (null: no use yet) with one more use at `atMs`, kept as of the
 * later of the two: a use older than the last (a replayed event) adds its decayed weight. The one
 * rule for the records and for replays (core/replay.ts), so `simulate` scores as the agent does.
 */
export function useScoreWithUse(score: number, lastUsedMs: number | null, atMs: number): number {
  if (lastUsedMs === null) return 1;
  const asOfMs = Math.max(lastUsedMs, atMs);
  return score * useScoreDecay(lastUsedMs, asOfMs) + useScoreDecay(atMs, asOfMs);
}

/** A container was created or started from the image at `atMs`; starts count as uses. */
export function used(record: ImageRecord, atMs: number, countsAsUse: boolean): ImageRecord {
  const lastUsedMs = later(record.lastUsedMs, atMs);
  const useScore = countsAsUse ? useScoreWithUse(record.useScore, record.lastUsedMs, atMs) : useScoreAt(record, lastUsedMs);
  return { ...record, lastUsedMs, useCount: record.useCount + (countsAsUse ? 1 : 0), useScore };
}

/** Docker no longer has the image; a replayed delete older than the image's latest arrival is stale. */
export function removed(record: ImageRecord, atMs: number): ImageRecord {
  const lastArrivalMs = Math.max(record.firstSeenMs, record.lastPulledMs ?? 0);
  return record.removedMs === null && lastArrivalMs <= atMs ? { ...record, removedMs: atMs } : record;
}

/** Other records that still list a tag `owner` now holds lose it: a tag names one image at a time. */
export function releaseTags(records: Iterable<ImageRecord>, owner: ImageRecord): ImageRecord[] {
  const claimed = new Set(owner.repoTags);
  const changed: ImageRecord[] = [];
  for (const record of records) {
    if (record.id === owner.id || !record.repoTags.some((tag) => claimed.has(tag))) continue;
    changed.push({ ...record, repoTags: record.repoTags.filter((tag) => !claimed.has(tag)) });
  }
  return changed;
}

/** True when the image is new to the records, or back after being removed. */
function isArrival(record: ImageRecord | undefined): boolean {
  return record === undefined || record.removedMs !== null;
}

/** Images the records do not hold live: the reconcile needs their inspect data (LastTagTime). */
export function arrivedImageIds(records: Map<string, ImageRecord>, inventory: InventoryImage[]): string[] {
  return inventory.filter((image) => isArrival(records.get(image.id))).map((image) => image.id);
}

export interface ReconcileInput {
  records: Map<string, ImageRecord>;
  /** Docker's images; `lastTagTimeMs` matters only for those `arrivedImageIds` names. */
  inventory: InventoryImage[];
  /** Containers, running or stopped: each was a use when created; running ones count as used now. */
  containers: ContainerRef[];
  nowMs: number;
  /**
   * When the previous inventory pass began (null before the first): an image new to the records
   * was not there then, so it arrived after. A pull whose event is still on its way (a loaded
   * daemon, an agent that was away) is dated no earlier, not by its build weeks ago (docuum #177).
   */
  lastInventoryMs: number | null;
}

/**
 * Brings records in line with Docker's inventory: images new to the records get their arrival
 * time from LastTagTime (else created time), but no earlier than the previous inventory pass,
 * and an event with the pull's own time may move it later still; vanished ones are marked removed,
 * and a container's creation counts as a use of its image (missed events cannot hide it).
 * Returns only the records that changed.
 */
export function reconcile(input: ReconcileInput): ImageRecord[] {
  const { records, inventory, containers, nowMs, lastInventoryMs } = input;
  const lastUseByImage = new Map<string, number>();
  for (const c of containers) {
    const atMs = c.state === 'running' ? nowMs : c.createdMs;
    lastUseByImage.set(c.imageId, Math.max(atMs, lastUseByImage.get(c.imageId) ?? atMs));
  }
  const changed: ImageRecord[] = [];
  const present = new Set<string>();
  for (const image of inventory) {
    present.add(image.id);
    const before = records.get(image.id);
    let after = observe(before, image, nowMs);
    const knownMs = image.lastTagTimeMs ?? image.createdMs;
    const arrivalMs = lastInventoryMs === null ? knownMs : later(knownMs, lastInventoryMs);
    if (isArrival(before) && arrivalMs !== null) after = { ...after, lastPulledMs: later(after.lastPulledMs, arrivalMs) };
    const lastUseMs = lastUseByImage.get(image.id);
    if (lastUseMs !== undefined) after = used(after, lastUseMs, false);
    if (before === undefined || !sameRecord(before, after)) changed.push(after);
  }
  for (const record of records.values()) {
    if (!present.has(record.id) && record.removedMs === null) changed.push(removed(record, nowMs));
  }
  return changed;
}

/** Whether two records hold the same knowledge. */
export function sameRecord(a: ImageRecord, b: ImageRecord): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The time an image was last wanted: the later of last used and last pulled, else first seen.
 * A pull counts as demand, so a re-pulled image is not ranked by an older use (docuum #177).
 */
export function recencyMs(record: ImageRecord): number {
  const wanted = Math.max(record.lastUsedMs ?? -Infinity, record.lastPulledMs ?? -Infinity);
  return Number.isFinite(wanted) ? wanted : record.firstSeenMs;
}

/** Least recently wanted first; ties broken by image ID so the order is stable and reproducible. */
export function compareLeastRecent(a: ImageRecord, b: ImageRecord): number {
  return recencyMs(a) - recencyMs(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
