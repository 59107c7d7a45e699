// `eviction-order: auto` in the agent: every few hours the check replays the last days of this
// runner's history under each order (core/auto.ts) and keeps the one that would have downloaded
// least; the choice and its evidence live in the state, so a restart or `status` sees it.
import type { Config } from '../config/schema';
import { AUTO_EVERY_MS, AUTO_MIN_JOBS, AUTO_WINDOW_MS, chooseOrder, type ActiveOrder } from '../core/auto';

export { AUTO_EVERY_MS } from '../core/auto';
import { workloadFromHistory } from '../core/history';
import type { Workload } from '../core/replay';
import type { ImageRecord, Layer } from '../core/image';
import { DEFAULT_EVICTION_ORDER, type EvictionOrder } from '../core/order';
import { thresholdBytes } from '../core/planner';
import { learnFromWorkload, REUSE_EVERY_MS, REUSE_WINDOW_MS, type ReuseModel } from '../core/reuse-model';
import type { DiskUsage } from '../disk/disk';
import type { Log } from '../log';
import type { Store } from '../state/store';
import type { Survey } from '../tracking/tracker';


/** The order in force: the configured one, or `auto`'s last choice (the default order before any). */
export function activeOrderOf(config: Config, store: Pick<Store, 'activeOrder'>): EvictionOrder {
  return config.evictionOrder === 'auto' ? (store.activeOrder()?.order ?? DEFAULT_EVICTION_ORDER) : config.evictionOrder;
}

/** Bytes the live images among `records` hold, each layer once (one layer of the image's size where layers are unknown). */
export function liveImageBytes(records: Iterable<ImageRecord>, layers: Map<string, Layer[]>): number {
  const held = new Map<string, number>();
  for (const r of records) {
    if (r.removedMs !== null) continue;
    for (const l of layers.get(r.id) ?? [{ chainId: `image:${r.id}`, sizeBytes: r.sizeBytes }]) held.set(l.chainId, l.sizeBytes);
  }
  return [...held.values()].reduce((a, b) => a + b, 0);
}

/**
 * The `learned` order's model: learned anew from the last REUSE_WINDOW_MS of history when the
 * stored one is older than REUSE_EVERY_MS, and only when `learned` is the order or may become it.
 */
export function reuseModelOf(deps: { config: Config; store: Store; log?: Log }, nowMs: number, save = true): ReuseModel | null {
  const { config, store } = deps;
  if (config.evictionOrder !== 'auto' && config.evictionOrder !== 'learned') return null;
  const stored = store.reuseModel();
  if (stored !== null && nowMs - stored.learnedMs < REUSE_EVERY_MS && stored.learnedMs <= nowMs) return stored.model;
  const sinceMs = nowMs - reuseWindowMs(config);
  const { workload } = workloadFromHistory(store.history(sinceMs), store.historyImages(sinceMs));
  return learnReuseModel(deps, workload, nowMs, save);
}

function reuseWindowMs(config: Config): number {
  return Math.min(REUSE_WINDOW_MS, config.historyMs);
}

/** Learns the model from `workload` (the last reuseWindowMs of history) and, when `save`, keeps it in the state. */
function learnReuseModel(deps: { config: Config; store: Store; log?: Log }, workload: Workload, nowMs: number, save: boolean): ReuseModel | null {
  const model = learnFromWorkload(workload, nowMs);
  // `plan` and `status` write nothing: they learn for themselves and forget.
  if (!save) return model;
  try {
    deps.store.saveReuseModel(nowMs, model);
  } catch (error) {
    deps.log?.warn('reuse_model_unsaved', { error: String(error) });
  }
  deps.log?.info('reuse_model_learned', { gaps: model?.gaps ?? 0, needs: workload.jobs.length, windowMs: reuseWindowMs(deps.config), usable: model !== null });
  return model;
}

export interface LearnDeps {
  config: Config;
  store: Store;
  log: Log;
}

/**
 * Chooses the order anew when `auto` is set and the last choice is older than AUTO_EVERY_MS.
 * The replayed disk is what images can have: free space plus what images hold now.
 */
export function learnOrder(deps: LearnDeps, survey: Survey, disk: DiskUsage, nowMs: number): ActiveOrder | null {
  const { config, store, log } = deps;
  if (config.evictionOrder !== 'auto') return null;
  const previous = store.activeOrder();
  if (previous !== null && nowMs - previous.chosenMs < AUTO_EVERY_MS && previous.chosenMs <= nowMs) return null;
  const current = previous?.order ?? DEFAULT_EVICTION_ORDER;
  const windowMs = Math.min(AUTO_WINDOW_MS, config.historyMs);
  const sinceMs = nowMs - windowMs;
  const { workload } = workloadFromHistory(store.history(sinceMs), store.historyImages(sinceMs));
  // The same window teaches the `learned` order's model: learn it now rather than read the history again.
  if (windowMs === reuseWindowMs(config)) learnReuseModel(deps, workload, nowMs, true);
  const keep = (reason: string): ActiveOrder => ({ order: current, chosenMs: nowMs, sinceMs: previous?.sinceMs ?? nowMs, reason, jobs: workload.jobs.length, windowMs, scores: previous?.scores ?? [] });
  let active: ActiveOrder;
  if (workload.jobs.length < AUTO_MIN_JOBS) {
    active = keep(`too little history to choose (${workload.jobs.length} needs in the window, ${AUTO_MIN_JOBS} wanted)`);
  } else {
    const lowBytes = thresholdBytes(config.lowFree, disk.totalBytes);
    const startedMs = Date.now();
    const choice = chooseOrder({
      workload,
      capacityBytes: disk.freeBytes + liveImageBytes(survey.records.values(), survey.layers),
      settings: {
        marks: { lowBytes, targetBytes: Math.max(thresholdBytes(config.targetFree, disk.totalBytes), lowBytes), intervalMs: config.intervalMs, minAgeMs: config.minAgeMs },
        protect: config.protect,
        rules: config.policy.rules,
      },
      current,
    });
    active = { order: choice.order, chosenMs: nowMs, sinceMs: choice.switched ? nowMs : (previous?.sinceMs ?? nowMs), reason: choice.reason, jobs: workload.jobs.length, windowMs, scores: choice.scores };
    log.info(choice.switched ? 'eviction_order_switched' : 'eviction_order_kept', {
      order: choice.order,
      from: current,
      reason: choice.reason,
      jobs: workload.jobs.length,
      windowMs,
      replayMs: Date.now() - startedMs,
      downloadedBytes: Object.fromEntries(choice.scores.map((s) => [s.order, s.downloadedBytes])),
    });
  }
  try {
    store.saveActiveOrder(active);
  } catch (error) {
    log.warn('eviction_order_unsaved', { error: String(error) });
  }
  return active;
}
