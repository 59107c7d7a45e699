// Cleanups CI runners use today, for the simulator to compare with the agent: none, cron prunes,
// and the thresholds an operator would give the agent for a trace.
import { protectingWatermark, type Watermarks } from '../agent/core/contenders';
import { imageBytes, type Contender } from '../agent/core/replay';
import { lastAtOrBefore } from '../agent/core/sorted';
import type { Trace } from './trace';

const MIN = 60_000;

/**
 * The agent's thresholds as the README tells operators to set them: low covers the largest pull
 * in flight (twice the largest image) and at least the default 15%; target 5% of the disk above.
 */
export function watermarksFor(trace: Trace, capacityBytes: number, timing: Pick<Watermarks, 'intervalMs' | 'minAgeMs'>): Watermarks {
  const lowBytes = Math.max(Math.ceil(0.15 * capacityBytes), 2 * Math.max(...trace.images.map(imageBytes)));
  return { lowBytes, targetBytes: lowBytes + Math.ceil(0.05 * capacityBytes), ...timing };
}

/** Never removes anything. */
export const noCleanup: Contender = { name: 'no cleanup' };

/** `docker image prune -a` from cron: every unused image, every `periodMs`. */
export function periodicPruneAll(periodMs: number): Contender {
  return {
    name: `prune -a every ${periodMs / MIN}m`,
    tickMs: periodMs,
    onTick: (host) => {
      for (const image of host.present()) if (!host.inUse(image.id)) host.remove(image.id);
    },
  };
}

/** docker-gc style: unused images built more than `graceMs` ago, every `periodMs`. */
export function periodicAgeBased(periodMs: number, graceMs: number): Contender {
  return {
    name: `age > ${graceMs / MIN}m every ${periodMs / MIN}m`,
    tickMs: periodMs,
    onTick: (host) => {
      for (const image of host.present()) if (!host.inUse(image.id) && image.createdMs < host.nowMs - graceMs) host.remove(image.id);
    },
  };
}


/**
 * Not a policy any host can run: it knows how many times each image is used in the next
 * `horizonMs` (not when) and removes the least used first, ties by least recently used, under the
 * agent's trigger, thresholds and `protect`. The study's measure of how far a perfect estimate of
 * each image's coming use rate would take an online order.
 */
export function rateOracle(trace: Trace, marks: Watermarks, protect: string[], horizonMs: number): Contender {
  const usesOf = new Map<string, number[]>();
  for (const job of trace.jobs) {
    const times = usesOf.get(job.imageId);
    if (times === undefined) usesOf.set(job.imageId, [job.atMs]);
    else times.push(job.atMs);
  }
  return protectingWatermark(`rate oracle (uses in the next ${horizonMs / 3_600_000} h)`, marks, protect, (host) => {
    const coming = (id: string) => {
      const times = usesOf.get(id) ?? [];
      return lastAtOrBefore(times, host.nowMs + horizonMs) - lastAtOrBefore(times, host.nowMs);
    };
    return (a, b) => coming(a.id) - coming(b.id) || host.lastUsedMs(a.id) - host.lastUsedMs(b.id);
  });
}
