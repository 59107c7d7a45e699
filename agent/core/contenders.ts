// Cleanup policies a replay can run: the agent's real planner, textbook cache orders under the
// agent's trigger, and the offline farthest-next-use references.
import { compiledGlob } from './glob';
import type { ImageRecord } from './image';
import type { EvictionOrder } from './order';
import { plan, type PlannerImage } from './planner';
import { replayLearner, type ReuseModel } from './reuse-model';
import { imageBytes, type Contender, type ReplayHost, type WorkloadImage } from './replay';
import type { Rule } from './rules';

export interface Watermarks {
  lowBytes: number;
  targetBytes: number;
  /** How often the periodic check runs (the agent's interval). */
  intervalMs: number;
  minAgeMs: number;
}

/**
 * Removes in `order` (first to go first) from low until target, after each pull and on the
 * interval: the agent's trigger, another order. With a `protect` list, as the planner: protected
 * images go only in emergency, after every other candidate, and only until low.
 */
export function protectingWatermark(name: string, marks: Watermarks, protect: string[], order: (host: ReplayHost) => (a: WorkloadImage, b: WorkloadImage) => number): Contender {
  const globs = protect.map(compiledGlob);
  const isProtected = (image: WorkloadImage) => image.repoTags.some((t) => globs.some((g) => g.test(t)));
  const check = (host: ReplayHost) => {
    if (host.freeBytes() >= marks.lowBytes) return;
    const first = order(host);
    const candidates = host.present().filter((i) => !host.inUse(i.id) && host.lastUsedMs(i.id) <= host.nowMs - marks.minAgeMs);
    for (const image of candidates.filter((i) => !isProtected(i)).sort(first)) {
      if (host.freeBytes() >= marks.targetBytes) break;
      host.remove(image.id);
    }
    for (const image of candidates.filter(isProtected).sort(first)) {
      if (host.freeBytes() >= marks.lowBytes) break;
      host.remove(image.id);
    }
  };
  return { name, tickMs: marks.intervalMs, onTick: check, afterPull: check };
}

/** First pulled, first removed. */
export function fifo(marks: Watermarks): Contender {
  return protectingWatermark('FIFO (pull time)', marks, [], (host) => (a, b) => host.lastPulledMs(a.id) - host.lastPulledMs(b.id));
}

/** Least recently used first, nothing protected. */
export function plainLru(marks: Watermarks): Contender {
  return protectingWatermark('plain LRU', marks, [], (host) => (a, b) => host.lastUsedMs(a.id) - host.lastUsedMs(b.id));
}

/**
 * The offline order under the agent's trigger, thresholds and `protect` list: near the best any
 * eviction order can do there (farthest next need ignores sizes, so an order can now and then
 * beat it). (Without `protect` it ranked the protected bases with the rest, a
 * freedom no configuration of the agent has, and its bytes were no fair reference.)
 */
export function offlineWatermark(marks: Watermarks, protect: string[] = []): Contender {
  return protectingWatermark('offline order, agent trigger', marks, protect, (host) => (a, b) => {
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

/** What the agent's planner is given besides the images: the operator's settings. */
export interface PlannerSettings {
  marks: Watermarks;
  protect: string[];
  rules?: Rule[];
  order: EvictionOrder;
  /** The `learned` order's model at this moment. */
  reuseModel?: ReuseModel | null;
}

/** A replayed image as the agent's record of it. */
function recordOf(host: ReplayHost, image: WorkloadImage): ImageRecord {
  return {
    id: image.id,
    repoTags: image.repoTags,
    repoDigests: [],
    sizeBytes: imageBytes(image),
    createdMs: image.createdMs,
    firstSeenMs: host.firstSeenMs(image.id),
    lastPulledMs: host.lastPulledMs(image.id),
    lastUsedMs: host.lastUsedMs(image.id),
    useCount: host.useCount(image.id),
    useScore: host.useScore(image.id),
    removedMs: null,
  };
}

/** One agent check on the replayed host: the real planner, then the evictor's stop rule. */
export function agentCheck(host: ReplayHost, settings: PlannerSettings): void {
  const { marks } = settings;
  // Above low, only Delete rules act: without them the plan would be empty (replays skip it).
  if (host.freeBytes() >= marks.lowBytes && !(settings.rules ?? []).some((r) => r.action.kind === 'delete')) return;
  const images: PlannerImage[] = host.present().map((image) => ({
    record: recordOf(host, image),
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
    protect: settings.protect,
    rules: settings.rules ?? [],
    order: settings.order,
    // As agent/eviction/inputs.ts: counted over every record, removed images too.
    repositoryUses: host.repositoryUses(),
    reuseModel: settings.reuseModel ?? null,
    mode: 'auto',
    includeProtected: false,
  });
  // As agent/eviction/evictor.ts: stop once measured free space reaches the step's goal.
  for (const step of result.steps) {
    if (step.mode !== 'hygiene' && host.freeBytes() >= step.untilFreeBytes) break;
    host.remove(step.imageId);
  }
}

/** The agent's own planner (agent/core/planner.ts) and its evictor's stop rule, on replayed time and disk. */
export function agentPlanner(name: string, settings: PlannerSettings): Contender {
  if (settings.order !== 'learned') {
    const check = (host: ReplayHost) => agentCheck(host, settings);
    return { name, tickMs: settings.marks.intervalMs, onTick: check, afterPull: check };
  }
  // `learned` learns from what the replayed agent has seen so far, never from what comes next.
  const learner = replayLearner();
  const check = (host: ReplayHost) => agentCheck(host, { ...settings, reuseModel: learner.modelAt(host.nowMs) });
  return { name, tickMs: settings.marks.intervalMs, onTick: check, afterPull: check, afterJob: (host, job) => learner.observe(job, host.repositories(job.imageId)) };
}

/** A contender named by plain data: a replay can then run in another thread, which builds it there. */
export type ContenderSpec = { kind: 'order'; order: EvictionOrder } | { kind: 'plain-lru' } | { kind: 'offline-order' } | { kind: 'belady' };

/** The contender a spec names, under the operator's settings (an order's name: `image-evictor (ORDER)`). */
export function contenderOf(spec: ContenderSpec, settings: Omit<PlannerSettings, 'order'>): Contender {
  switch (spec.kind) {
    case 'order':
      return agentPlanner(`image-evictor (${spec.order})`, { ...settings, order: spec.order });
    case 'plain-lru':
      return plainLru(settings.marks);
    case 'offline-order':
      return offlineWatermark(settings.marks, settings.protect);
    case 'belady':
      return belady;
  }
}
