// `eviction-order: auto` in the agent: every few hours the check replays the last days of this
// runner's history under each order (core/auto.ts) and keeps the one that would have downloaded
// least; the choice and its evidence live in the state, so a restart or `status` sees it.
import type { Config } from '../config/schema';
import { AUTO_EVERY_MS, AUTO_INITIAL_ORDER, AUTO_MIN_JOBS, AUTO_WINDOW_MS, chooseOrder, type ActiveOrder, type OrderChoice } from '../core/auto';

import type { PlannerSettings } from '../core/contenders';
import { workloadFromHistory, type HistoryEntry, type HistoryImage } from '../core/history';
import type { Workload } from '../core/replay';
import type { ImageRecord, Layer } from '../core/image';
import { type EvictionOrder } from '../core/order';
import { thresholdBytes } from '../core/planner';
import { learnFromWorkload, reuseModelDue, REUSE_WINDOW_MS, type ReuseModel } from '../core/reuse-model';
import type { DiskUsage } from '../disk/disk';
import { errorText } from '../errors';
import type { Log } from '../log';
import type { Store } from '../state/store';
import type { Survey } from '../tracking/tracker';

export { AUTO_EVERY_MS } from '../core/auto';

/** The order in force: the configured one, or `auto`'s last choice (AUTO_INITIAL_ORDER before any). */
export function activeOrderOf(config: Config, store: Pick<Store, 'activeOrder'>): EvictionOrder {
  return config.evictionOrder === 'auto' ? (store.activeOrder()?.order ?? AUTO_INITIAL_ORDER) : config.evictionOrder;
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
 * stored one is due (reuseModelDue: every 6 hours, hourly while none is usable, as the bench's
 * replays learn), and only when `learned` is the order or may become it.
 */
export function reuseModelOf(deps: { config: Config; store: Store; log?: Log }, nowMs: number, save = true): ReuseModel | null {
  const { config, store } = deps;
  if (config.evictionOrder !== 'auto' && config.evictionOrder !== 'learned') return null;
  const stored = store.reuseModel();
  if (stored !== null && !reuseModelDue(stored.model, stored.learnedMs, nowMs)) return stored.model;
  const sinceMs = nowMs - reuseWindowMs(config);
  const { workload } = workloadFromHistory(store.history(sinceMs), store.historyImages(sinceMs));
  return learnReuseModel(deps, workload, nowMs, save);
}

function reuseWindowMs(config: Config): number {
  return Math.min(REUSE_WINDOW_MS, config.historyMs);
}

/** Keeps a model learned from `needs` needs (`plan` and `status` learn for themselves and forget: `save` false). */
function keepReuseModel(deps: { config: Config; store: Store; log?: Log }, model: ReuseModel | null, needs: number, nowMs: number, save: boolean): ReuseModel | null {
  if (!save) return model;
  try {
    deps.store.saveReuseModel(nowMs, model);
  } catch (error) {
    deps.log?.warn('reuse_model_unsaved', { error: String(error) });
  }
  deps.log?.info('reuse_model_learned', { gaps: model?.gaps ?? 0, needs, windowMs: reuseWindowMs(deps.config), usable: model !== null });
  return model;
}

/** Learns the model from `workload` (the last reuseWindowMs of history) and, when `save`, keeps it in the state. */
function learnReuseModel(deps: { config: Config; store: Store; log?: Log }, workload: Workload, nowMs: number, save: boolean): ReuseModel | null {
  return keepReuseModel(deps, learnFromWorkload(workload, nowMs), workload.jobs.length, nowMs, save);
}

/** What one choice of `auto` asks of the recorded history: plain data, so a child process can answer it. */
export interface LearnRequest {
  /** The window: history at or after this time. */
  sinceMs: number;
  nowMs: number;
  /** The replayed disk: free space plus what images hold now. */
  capacityBytes: number;
  settings: Omit<PlannerSettings, 'order'>;
  current: EvictionOrder;
  /** Whether to learn the `learned` order's model from the same window too. */
  learnReuse: boolean;
}

export interface LearnAnswer {
  /** Needs in the window. */
  jobs: number;
  /** Null: too few needs to choose. */
  choice: OrderChoice | null;
  /** The `learned` order's model, when asked (null: too little to learn from). */
  reuseModel?: ReuseModel | null;
}

/** Answers a request from the history it names. */
export function answerFromHistory(entries: HistoryEntry[], images: Map<string, HistoryImage>, request: LearnRequest): LearnAnswer {
  const { workload } = workloadFromHistory(entries, images);
  const reuseModel = request.learnReuse ? learnFromWorkload(workload, request.nowMs) : undefined;
  const choice = workload.jobs.length < AUTO_MIN_JOBS ? null : chooseOrder({ workload, capacityBytes: request.capacityBytes, settings: request.settings, current: request.current });
  return { jobs: workload.jobs.length, choice, ...(reuseModel === undefined ? {} : { reuseModel }) };
}

/**
 * Replays a window of history for `auto`. The agent asks a child process (learn-process.ts): the
 * window and its replays take 20-30 MiB that a long-running process would keep after they are
 * freed. One-shot commands and stores in memory answer here.
 */
export interface HistoryReplayer {
  /** Logged with each choice. */
  readonly where: 'this process' | 'a child process';
  replay(request: LearnRequest, signal?: AbortSignal): Promise<LearnAnswer>;
}

export function replayHere(store: Pick<Store, 'history' | 'historyImages'>): HistoryReplayer {
  return { where: 'this process', replay: async (request) => answerFromHistory(store.history(request.sinceMs), store.historyImages(request.sinceMs), request) };
}

export interface LearnDeps {
  config: Config;
  store: Store;
  log: Log;
  /** Where the history is replayed; here by default. */
  replayer?: HistoryReplayer;
  signal?: AbortSignal;
}

/**
 * Chooses the order anew when `auto` is set and the last choice is older than AUTO_EVERY_MS.
 * The replayed disk is what images can have: free space plus what images hold now.
 */
export async function learnOrder(deps: LearnDeps, survey: Survey, disk: DiskUsage, nowMs: number): Promise<ActiveOrder | null> {
  const { config, store, log } = deps;
  if (config.evictionOrder !== 'auto') return null;
  const previous = store.activeOrder();
  if (previous !== null && nowMs - previous.chosenMs < AUTO_EVERY_MS && previous.chosenMs <= nowMs) return null;
  const current = previous?.order ?? AUTO_INITIAL_ORDER;
  const windowMs = Math.min(AUTO_WINDOW_MS, config.historyMs);
  const lowBytes = thresholdBytes(config.lowFree, disk.totalBytes);
  const request: LearnRequest = {
    sinceMs: nowMs - windowMs,
    nowMs,
    capacityBytes: disk.freeBytes + liveImageBytes(survey.records.values(), survey.layers),
    settings: {
      marks: { lowBytes, targetBytes: Math.max(thresholdBytes(config.targetFree, disk.totalBytes), lowBytes), intervalMs: config.intervalMs, minAgeMs: config.minAgeMs },
      protect: config.protect,
      rules: config.policy.rules,
    },
    current,
    // The same window teaches the `learned` order's model: learn it now rather than read the history again.
    learnReuse: windowMs === reuseWindowMs(config),
  };
  const keep = (reason: string, jobs: number): ActiveOrder => ({ order: current, chosenMs: nowMs, sinceMs: previous?.sinceMs ?? nowMs, reason, jobs, windowMs, scores: previous?.scores ?? [] });
  const replayer = deps.replayer ?? replayHere(store);
  const startedMs = Date.now();
  let active: ActiveOrder;
  try {
    const answer = await replayer.replay(request, deps.signal);
    if (answer.reuseModel !== undefined) keepReuseModel(deps, answer.reuseModel, answer.jobs, nowMs, true);
    const choice = answer.choice;
    if (choice === null) {
      active = keep(`too little history to choose (${answer.jobs} needs in the window, ${AUTO_MIN_JOBS} wanted)`, answer.jobs);
    } else {
      active = { order: choice.order, chosenMs: nowMs, sinceMs: choice.switched ? nowMs : (previous?.sinceMs ?? nowMs), reason: choice.reason, jobs: answer.jobs, windowMs, scores: choice.scores };
      log.info(choice.switched ? 'eviction_order_switched' : 'eviction_order_kept', {
        order: choice.order,
        from: current,
        reason: choice.reason,
        jobs: answer.jobs,
        windowMs,
        replayMs: Date.now() - startedMs,
        replayedIn: replayer.where,
        downloadedBytes: Object.fromEntries(choice.scores.map((s) => [s.order, s.downloadedBytes])),
      });
    }
  } catch (error) {
    if (deps.signal?.aborted === true) return null;
    // The order stays; trying again at every check would pay for the failure every few minutes.
    log.warn('eviction_order_unchosen', { order: current, error: errorText(error), retryInMs: AUTO_EVERY_MS });
    active = keep(`could not replay the history: ${errorText(error)}`, previous?.jobs ?? 0);
  }
  try {
    store.saveActiveOrder(active);
  } catch (error) {
    log.warn('eviction_order_unsaved', { error: String(error) });
  }
  return active;
}
