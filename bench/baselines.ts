// Cleanups CI runners use today, for the simulator to compare with the agent: none, cron prunes,
// and the thresholds an operator would give the agent for a trace.
import type { Watermarks } from '../agent/core/contenders';
import { imageBytes, type Contender } from '../agent/core/replay';
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

