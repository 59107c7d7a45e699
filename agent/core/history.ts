// The usage history: what the agent observed happen to images, in order, kept for a window so
// that `simulate` and the `auto` order can replay this runner's past through the planner. Pure.
import { z } from 'zod';
import type { ImageRecord, Layer } from './image';
import type { Workload, WorkloadImage, WorkloadJob } from './replay';

/** `pull`: the image arrived (pull, load, import); `use`: a container was created or started from it; `remove`: it left the host. */
export const HistoryKind = z.enum(['pull', 'use', 'remove']);
export type HistoryKind = z.infer<typeof HistoryKind>;

export const HistoryEntry = z.object({
  atMs: z.number().int(),
  kind: HistoryKind,
  imageId: z.string().min(1),
  /** A pull's tags at the time (a tag moves on; the replay needs the repository it came from). */
  repoTags: z.array(z.string()),
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

/** Where a record's change came from: a Docker event, or an inventory pass (a reconcile). */
export type ChangeSource = 'event' | 'inventory';

/**
 * What a record's change says happened: the history rows a write appends. Pulls come from events
 * only: an image an inventory pass finds new has no known pull time (its tag or creation time is
 * not when it came), and its pull event is often still on the way, which would log it twice.
 */
export function historyEntries(before: ImageRecord | undefined, after: ImageRecord, source: ChangeSource): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  const advanced = (was: number | null | undefined, now: number | null): now is number => now !== null && (was === null || was === undefined || now > was);
  if (source === 'event' && advanced(before?.lastPulledMs, after.lastPulledMs)) entries.push({ atMs: after.lastPulledMs, kind: 'pull', imageId: after.id, repoTags: after.repoTags });
  if (advanced(before?.lastUsedMs, after.lastUsedMs)) entries.push({ atMs: after.lastUsedMs, kind: 'use', imageId: after.id, repoTags: [] });
  if (after.removedMs !== null && (before === undefined || before.removedMs === null)) entries.push({ atMs: after.removedMs, kind: 'remove', imageId: after.id, repoTags: [] });
  return entries;
}

/** What the replay knows of an image: its record (tags, size) and layers, when stored. */
export interface HistoryImage {
  record: ImageRecord;
  layers: Layer[] | null;
}

/** Needs of one image closer than this are one job: a container's create and start, a pull and its run. */
export const SAME_NEED_MS = 60_000;

export interface HistoryWorkload {
  workload: Workload;
  /** Images the history names whose record was compacted away: their needs are left out. */
  unknownImages: number;
  /** Images replayed as one layer of their whole size, since their layers were not stored: shared bytes count twice. */
  imagesWithoutLayers: number;
}

/**
 * The jobs a history describes: each pull or use is a need of its image, and the replay pulls
 * whatever is absent. Removals are left out: the replayed policy makes its own. Jobs hold their
 * image for no time: the planner's min-age protects a just-used image, as it does live.
 */
export function workloadFromHistory(entries: HistoryEntry[], images: Map<string, HistoryImage>): HistoryWorkload {
  const jobs: WorkloadJob[] = [];
  const lastNeed = new Map<string, number>();
  const pulledTags = new Map<string, string[]>();
  const unknown = new Set<string>();
  for (const entry of entries) {
    if (entry.kind === 'remove') continue;
    if (!images.has(entry.imageId)) {
      unknown.add(entry.imageId);
      continue;
    }
    if (entry.kind === 'pull' && entry.repoTags.length > 0) pulledTags.set(entry.imageId, entry.repoTags);
    const last = lastNeed.get(entry.imageId);
    if (last !== undefined && entry.atMs - last < SAME_NEED_MS) continue;
    lastNeed.set(entry.imageId, entry.atMs);
    jobs.push({ atMs: entry.atMs, imageId: entry.imageId, durationMs: 0 });
  }
  jobs.sort((a, b) => a.atMs - b.atMs);
  let withoutLayers = 0;
  const replayed: WorkloadImage[] = [...lastNeed.keys()].map((id) => {
    const { record, layers } = images.get(id) as HistoryImage;
    if (layers === null) withoutLayers += 1;
    return {
      id,
      repoTags: record.repoTags.length > 0 ? record.repoTags : (pulledTags.get(id) ?? []),
      layers: layers === null ? [{ id: `image:${id}`, sizeBytes: record.sizeBytes }] : layers.map((l) => ({ id: l.chainId, sizeBytes: l.sizeBytes })),
      createdMs: record.createdMs ?? record.firstSeenMs,
    };
  });
  return { workload: { images: replayed, jobs }, unknownImages: unknown.size, imagesWithoutLayers: withoutLayers };
}
