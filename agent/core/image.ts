// Domain types shared by the pure core and the adapters. Times are epoch milliseconds.
import { z } from 'zod';

/** What the agent knows about one image ID, persisted across restarts. */
export const ImageRecord = z.object({
  id: z.string().min(1),
  repoTags: z.array(z.string()),
  repoDigests: z.array(z.string()),
  sizeBytes: z.number().int().nonnegative(),
  createdMs: z.number().int().nullable(),
  firstSeenMs: z.number().int(),
  /** When the image last arrived on this host: pull, load or import. */
  lastPulledMs: z.number().int().nullable(),
  /** When a container was last created or started from it. */
  lastUsedMs: z.number().int().nullable(),
  useCount: z.number().int().nonnegative(),
  /**
   * Uses, each decayed by half every USE_SCORE_HALF_LIFE_MS (core/usage.ts), as of lastUsedMs:
   * the image's recent rate of use, which follows a service that turned busy or quiet.
   */
  useScore: z.number().nonnegative(),
  /** Set once Docker no longer has the image; the row stays for history. */
  removedMs: z.number().int().nullable(),
});
export type ImageRecord = z.infer<typeof ImageRecord>;

/** An image as Docker reports it right now. */
export const InventoryImage = z.object({
  id: z.string().min(1),
  repoTags: z.array(z.string()),
  repoDigests: z.array(z.string()),
  sizeBytes: z.number().int().nonnegative(),
  createdMs: z.number().int().nullable(),
  /** Docker's Metadata.LastTagTime; only image inspect reports it, so listings leave it null. */
  lastTagTimeMs: z.number().int().nullable(),
  /** Labels from the image config, for `Label(...)` rules; not persisted (they never change per ID). */
  labels: z.record(z.string(), z.string()),
});
export type InventoryImage = z.infer<typeof InventoryImage>;

/** A container as far as image usage is concerned. */
export const ContainerRef = z.object({
  id: z.string(),
  name: z.string(),
  imageId: z.string(),
  state: z.string(),
  createdMs: z.number().int(),
});
export type ContainerRef = z.infer<typeof ContainerRef>;

/** The Docker events the tracker consumes, reduced to what it needs. */
export const DockerEvent = z.object({
  type: z.enum(['image', 'container']),
  action: z.string(),
  /** Image ID, image reference (pull), or container ID, depending on the event. */
  actorId: z.string(),
  attributes: z.record(z.string(), z.string()),
  /** Nanoseconds since the epoch, as decimal text: too large for a double. */
  timeNano: z.string().regex(/^\d+$/),
});
export type DockerEvent = z.infer<typeof DockerEvent>;

/** Milliseconds since the epoch of an event. */
export function eventTimeMs(event: DockerEvent): number {
  return Number(BigInt(event.timeNano) / 1_000_000n);
}

/** Epoch milliseconds as the decimal nanosecond text events and the cursor use. */
export function msToNano(ms: number): string {
  return String(BigInt(ms) * 1_000_000n);
}

/** True for an image with no tags: what a pull leaves behind when it moves a tag. */
export function isDangling(image: { repoTags: string[] }): boolean {
  return image.repoTags.length === 0;
}

/** `registry.example:5000/group/app:1.0` -> repository `registry.example:5000/group/app`, tag `1.0`. */
export function splitReference(repoTag: string): { repository: string; tag: string } {
  // The tag follows the last colon after the last slash (registry ports have colons too).
  const slash = repoTag.lastIndexOf('/');
  const colon = repoTag.lastIndexOf(':');
  return colon > slash ? { repository: repoTag.slice(0, colon), tag: repoTag.slice(colon + 1) } : { repository: repoTag, tag: 'latest' };
}

/** The repositories an image is tagged in, each once. */
export function repositoriesOf(record: Pick<ImageRecord, 'repoTags'>): string[] {
  return [...new Set(record.repoTags.map((t) => splitReference(t).repository))];
}

/** One layer of an image by chain ID: images that share a base share these keys. */
export interface Layer {
  chainId: string;
  sizeBytes: number;
}
