// Which stopped containers to remove: exited or dead job containers pin their images, so a crashed
// CI job can keep gigabytes alive. Pure: containers, policy and `nowMs` in, a selection out.
import { z } from 'zod';
import { compiledGlob } from './glob';

export const ContainerPolicy = z.object({
  /** Off by default: removing containers is a choice the operator makes. */
  removeExited: z.boolean(),
  /** Only containers that finished (else were created) longer ago than this. */
  graceMs: z.number().int().nonnegative(),
  /** Globs on the container name (without the leading slash). */
  excludeNames: z.array(z.string()),
  /** Globs on the image reference the container was created from. */
  excludeImages: z.array(z.string()),
  /** Also remove the container's anonymous volumes. */
  removeVolumes: z.boolean(),
});
export type ContainerPolicy = z.infer<typeof ContainerPolicy>;

export const DEFAULT_CONTAINER_POLICY: ContainerPolicy = { removeExited: false, graceMs: 3_600_000, excludeNames: [], excludeImages: [], removeVolumes: false };

/** The label that exempts a container from removal whatever the policy says. */
export const KEEP_LABEL = 'image-evictor.keep';

/** A container with the facts removal depends on. */
export const ContainerInfo = z.object({
  id: z.string(),
  name: z.string(),
  /** The reference it was created from (`app:1.0`, or an ID). */
  image: z.string(),
  imageId: z.string(),
  /** Docker's state: created, running, paused, restarting, removing, exited, dead. */
  state: z.string(),
  createdMs: z.number().int(),
  /** When it stopped; null if Docker does not say (never started, or not inspected). */
  finishedMs: z.number().int().nullable(),
  labels: z.record(z.string(), z.string()),
});
export type ContainerInfo = z.infer<typeof ContainerInfo>;

export type ContainerVerdict = 'remove' | 'not-stopped' | 'too-recent' | 'excluded-name' | 'excluded-image' | 'keep-label';

const STOPPED = new Set(['exited', 'dead']);

/** What to do with one container; only `remove` removes. */
export function containerVerdict(container: ContainerInfo, policy: ContainerPolicy, nowMs: number): ContainerVerdict {
  if (!STOPPED.has(container.state)) return 'not-stopped';
  if (container.labels[KEEP_LABEL] === 'true') return 'keep-label';
  if (policy.excludeNames.some((g) => compiledGlob(g).test(container.name))) return 'excluded-name';
  if (policy.excludeImages.some((g) => compiledGlob(g).test(container.image))) return 'excluded-image';
  const stoppedMs = container.finishedMs ?? container.createdMs;
  return stoppedMs <= nowMs - policy.graceMs ? 'remove' : 'too-recent';
}

/** The containers to remove now: none unless the policy turns removal on. */
export function containersToRemove(containers: ContainerInfo[], policy: ContainerPolicy, nowMs: number): ContainerInfo[] {
  if (!policy.removeExited) return [];
  return containers.filter((c) => containerVerdict(c, policy, nowMs) === 'remove');
}
