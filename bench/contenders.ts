// Cleanup policies the simulator compares: the agent's real planner, the tools CI runners use
// today, textbook cache orders, and the offline farthest-next-use reference.
import type { ImageRecord } from '../agent/core/image';
import type { EvictionOrder } from '../agent/core/order';
import { plan, type PlannerImage } from '../agent/core/planner';
import type { Contender, SimHost } from './simulator';
import { imageBytes, type Trace, type TraceImage } from './trace';

export interface Watermarks {
  lowBytes: number;
  targetBytes: number;
  /** How often the periodic check runs (the agent's interval). */
  intervalMs: number;
  minAgeMs: number;
}

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

/** Removes in `order` from low until target, after each pull and on the interval: the agent's trigger, another order. */
function watermark(name: string, marks: Watermarks, order: (host: SimHost) => (a: TraceImage, b: TraceImage) => number): Contender {
  const check = (host: SimHost) => {
    if (host.freeBytes() >= marks.lowBytes) return;
    const candidates = host.present().filter((i) => !host.inUse(i.id) && host.lastUsedMs(i.id) <= host.nowMs - marks.minAgeMs);
    for (const image of candidates.sort(order(host))) {
      if (host.freeBytes() >= marks.targetBytes) break;
      host.remove(image.id);
    }
  };
  return { name, tickMs: marks.intervalMs, onTick: check, afterPull: check };
}

/** First pulled, first removed. */
export function fifo(marks: Watermarks): Contender {
  return watermark('FIFO (pull time)', marks, (host) => (a, b) => host.lastPulledMs(a.id) - host.lastPulledMs(b.id));
}

/** Least recently used first, nothing protected. */
export function plainLru(marks: Watermarks): Contender {
  return watermark('plain LRU', marks, (host) => (a, b) => host.lastUsedMs(a.id) - host.lastUsedMs(b.id));
}

/** The offline order under the agent's trigger and thresholds: the best any eviction order can do there. */
export function offlineWatermark(marks: Watermarks): Contender {
  return watermark('offline order, agent trigger', marks, (host) => (a, b) => {
    const [na, nb] = [host.nextNeedMs(a.id), host.nextNeedMs(b.id)];
    return na === nb ? 0 : na > nb ? -1 : 1;
  });
}

/** The offline reference: at each pull, removes exactly what it needs, farthest next use first. */
export const belady: Contender = {
  name: 'offline optimum (Belady)',
  beforePull: (host, needBytes) => {
    if (host.freeBytes() >= needBytes) return;
    // Re-ranked after each removal: a removal can leave a sibling the only holder of shared layers.
    while (host.freeBytes() < needBytes) {
      let farthest: { id: string; needMs: number } | null = null;
      for (const image of host.present()) {
        if (host.inUse(image.id)) continue;
        const needMs = host.nextNeedMs(image.id);
        if (farthest === null || needMs > farthest.needMs) farthest = { id: image.id, needMs };
      }
      if (farthest === null) return;
      host.remove(farthest.id);
    }
  },
};

/** The agent's own planner (agent/core/planner.ts) and its evictor's stop rule, on simulated time and disk. */
export function agentPlanner(name: string, marks: Watermarks, protect: string[], order: EvictionOrder): Contender {
  const record = (host: SimHost, image: TraceImage): ImageRecord => ({
    id: image.id,
    repoTags: [image.ref],
    repoDigests: [],
    sizeBytes: imageBytes(image),
    createdMs: image.createdMs,
    firstSeenMs: host.lastPulledMs(image.id),
    lastPulledMs: host.lastPulledMs(image.id),
    lastUsedMs: host.lastUsedMs(image.id),
    useCount: host.useCount(image.id),
    removedMs: null,
  });
  const check = (host: SimHost) => {
    const images: PlannerImage[] = host.present().map((image) => ({
      record: record(host, image),
      layers: image.layers.map((l) => ({ chainId: l.id, sizeBytes: l.sizeBytes })),
      containerCount: host.inUse(image.id) ? 1 : 0,
    }));
    const result = plan({
      nowMs: host.nowMs,
      images,
      disk: { totalBytes: host.capacityBytes, freeBytes: host.freeBytes(), totalInodes: 1e9, freeInodes: 1e9 },
      thresholds: {
        lowFree: { kind: 'bytes', bytes: marks.lowBytes },
        targetFree: { kind: 'bytes', bytes: marks.targetBytes },
        lowFreeInodesRatio: 0,
        targetFreeInodesRatio: 0,
      },
      minAgeMs: marks.minAgeMs,
      protect,
      order,
      // As agent/eviction/inputs.ts: counted over every record, removed images too.
      repositoryUses: host.repositoryUses(),
      mode: 'auto',
      includeProtected: false,
    });
    // As agent/eviction/evictor.ts: stop once measured free space reaches the step's goal.
    for (const step of result.steps) {
      if (step.mode !== 'hygiene' && host.freeBytes() >= step.untilFreeBytes) break;
      host.remove(step.imageId);
    }
  };
  return { name, tickMs: marks.intervalMs, onTick: check, afterPull: check };
}
