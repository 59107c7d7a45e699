// One check: the cycle the agent runs every interval and after pulls, and `gc` runs once. Removes
// stopped containers past their grace, reconciles, measures, prunes build cache under pressure,
// then evicts: Delete-rule images at every check, others while below low.
import type { Config } from '../config/schema';
import type { EvictionOrder, OrderSetting } from '../core/order';
import type { Plan } from '../core/planner';
import { plan } from '../core/planner';
import { formatBytes, formatRatio } from '../core/units';
import type { DiskUsage, MeasureDisk } from '../disk/disk';
import type { DockerClient } from '../docker/client';
import { errorText } from '../errors';
import { pruneBuildCache } from '../hygiene/buildcache';
import { removeStoppedContainers, type ContainerRemoval } from '../hygiene/containers';
import type { Log } from '../log';
import { acquireLock, evictionLockPath, LockHeldError } from '../state/lock';
import type { Store } from '../state/store';
import type { Survey, Tracker } from '../tracking/tracker';
import { executePlan, type EvictorDeps, type StepOutcome } from './evictor';
import { planInput } from './inputs';
import { activeOrderOf, learnOrder, reuseModelOf, type HistoryReplayer } from './order-learner';

/** What a check reports as it goes; the agent's metrics implement it. */
export interface CheckObserver {
  observeCheck(nowMs: number, disk: DiskUsage, plan: Plan, trackedImages: number): void;
  observeOutcomes(outcomes: StepOutcome[]): void;
  setDockerReachable(reachable: boolean): void;
  /** The eviction order in force, the setting it came from, and how many history events are kept. */
  observeOrder(order: EvictionOrder, setting: OrderSetting, historyEvents: number): void;
  /** How long a whole check took, evictions included. */
  observeCheckDuration(seconds: number): void;
}

const unobserved: CheckObserver = { observeCheck: () => {}, observeOutcomes: () => {}, setDockerReachable: () => {}, observeOrder: () => {}, observeCheckDuration: () => {} };

/** What one check needs; the long-running agent's dependencies extend these. */
export interface CheckDeps {
  /** The configuration in force; read once per check, so a reload applies from the next one. */
  config: () => Config;
  docker: DockerClient;
  store: Store;
  tracker: Tracker;
  log: Log;
  measureDisk: MeasureDisk;
  /** Epoch milliseconds; read once per cycle and passed down. */
  clock: () => number;
  metrics?: CheckObserver;
  /** Where `auto` replays the history (order-learner.ts); here when absent. */
  replayer?: HistoryReplayer;
}

/** The evictor's dependencies for the filesystem at `dataRoot`, from a check's or a command's own. */
export function evictorDeps(
  deps: Pick<CheckDeps, 'docker' | 'store' | 'tracker' | 'log' | 'measureDisk' | 'clock'>,
  dataRoot: string,
  options: { minAgeMs: number; dryRun: boolean; signal?: AbortSignal },
): EvictorDeps {
  return {
    docker: deps.docker,
    store: deps.store,
    log: deps.log,
    measureDisk: () => deps.measureDisk(dataRoot),
    clock: deps.clock,
    minAgeMs: options.minAgeMs,
    dryRun: options.dryRun,
    catchUp: () => deps.tracker.catchUp(deps.clock()),
    signal: options.signal,
  };
}

export interface CheckOptions {
  /** How long to wait for the eviction lock; 0: defer to the next check when a purge holds it. */
  lockWaitMs: number;
}

export interface CheckReport {
  containers: ContainerRemoval[];
  /** Image removals over all rounds. */
  outcomes: StepOutcome[];
  /** Protect patterns and rules that matched no image at this check. */
  unmatchedProtections: string[];
}

/** Re-plans after a run that left the disk below low, for when estimates were too hopeful. */
const MAX_ROUNDS = 3;

/** Logs one disk measurement with raw and human-readable figures. */
export function logDisk(log: Log, disk: DiskUsage): void {
  log.info('disk', {
    path: disk.path,
    freeBytes: disk.freeBytes,
    totalBytes: disk.totalBytes,
    freeRatio: Number(disk.freeRatio.toFixed(4)),
    freeInodesRatio: Number(disk.freeInodesRatio.toFixed(4)),
    free: `${formatBytes(disk.freeBytes)} (${formatRatio(disk.freeRatio)})`,
  });
}

/** Reconciles the store with Docker and logs the pass. */
export async function reconcileLogged(deps: Pick<CheckDeps, 'tracker' | 'log'>, nowMs: number): Promise<Survey> {
  const { survey, changedRecords } = await deps.tracker.reconcile(nowMs);
  deps.log.info('reconcile', { images: survey.dockerImageCount, changed: changedRecords });
  return survey;
}

/** Runs one check against the filesystem at `dataRoot`; returns what it removed. */
export async function runCheck(deps: CheckDeps, dataRoot: string, options: CheckOptions, signal: AbortSignal): Promise<CheckReport> {
  const { log } = deps;
  const metrics = deps.metrics ?? unobserved;
  const outcomes: StepOutcome[] = [];
  let unmatchedProtections: string[] = [];
  const startedMs = deps.clock();
  const done = (): CheckReport => {
    metrics.observeCheckDuration(Math.max(0, deps.clock() - startedMs) / 1000);
    return { containers, outcomes, unmatchedProtections };
  };
  const config = deps.config();
  const { policy } = config;
  // Persist what a full disk held back, now that evictions may have made room.
  deps.store.flush();
  const containers = await removeStoppedContainers({ docker: deps.docker, log }, policy.containers, deps.clock(), config.dryRun);
  for (let round = 1; round <= MAX_ROUNDS && !signal.aborted; round += 1) {
    const nowMs = deps.clock();
    const survey = await reconcileLogged(deps, nowMs);
    metrics.setDockerReachable(true);
    let disk = await deps.measureDisk(dataRoot);
    logDisk(log, disk);
    if (round === 1) {
      await learnOrder({ config, store: deps.store, log, replayer: deps.replayer, signal }, survey, disk, nowMs);
      const compacted = deps.store.compactHistory(nowMs - config.historyMs, config.historyMaxEvents);
      if (compacted.events > 0 || compacted.images > 0) log.info('history_compacted', { ...compacted, historyMs: config.historyMs });
    }
    const order = activeOrderOf(config, deps.store);
    if (round === 1) metrics.observeOrder(order, config.evictionOrder, deps.store.historyBounds().events);
    const reuseModel = order === 'learned' ? reuseModelOf({ config, store: deps.store, log }, nowMs) : null;
    const planNow = () => plan(planInput(config, survey, disk, nowMs, { mode: 'auto', includeProtected: false }, order, reuseModel));
    let thePlan = planNow();
    unmatchedProtections = thePlan.unmatchedProtections;
    if (thePlan.underPressure && round === 1 && policy.buildCache.pruneUnderPressure) {
      // Cache first: rebuilding a layer is cheaper than re-pulling an image.
      if ((await pruneBuildCache({ docker: deps.docker, log }, policy.buildCache, config.dryRun)) > 0) {
        disk = await deps.measureDisk(dataRoot);
        thePlan = planNow();
      }
    }
    metrics.observeCheck(nowMs, disk, thePlan, survey.dockerImageCount);
    if (thePlan.underPressure) {
      log.warn('pressure', { freeBytes: disk.freeBytes, lowBytes: thePlan.lowBytes, targetBytes: thePlan.targetBytes, freeInodes: disk.freeInodes, lowInodes: thePlan.lowInodes, plannedSteps: thePlan.steps.length, estimatedFreeAfterBytes: thePlan.estimatedFreeAfterBytes, round });
    }
    if (thePlan.emergency) {
      log.warn('emergency', { freeBytes: disk.freeBytes, lowBytes: thePlan.lowBytes, protectedSteps: thePlan.steps.filter((s) => s.mode === 'emergency').length });
    }
    if (thePlan.steps.length === 0) {
      if (thePlan.underPressure) log.error('pressure_unrelieved', { freeBytes: disk.freeBytes, lowBytes: thePlan.lowBytes, reason: 'no evictable image' });
      return done();
    }
    let lock = null;
    try {
      lock = config.dryRun ? null : acquireLock(evictionLockPath(config.statePath), options.lockWaitMs);
    } catch (error) {
      // A one-shot command that waited and still lost the lock reports it (exit 4).
      if (error instanceof LockHeldError && options.lockWaitMs > 0) throw error;
      if (error instanceof LockHeldError) {
        // A purge is evicting; its results show at the next check.
        log.info('eviction_deferred', { reason: 'another process holds the eviction lock', lock: error.path });
        return done();
      }
      // The lock file cannot be used (a full disk when it was first needed): evicting without it
      // is safe (a racing purge's removal of the same image just reports it gone); not evicting is not.
      log.warn('eviction_lock_unavailable', { error: errorText(error), action: 'evicting without the lock' });
    }
    let report;
    try {
      report = await executePlan(thePlan, evictorDeps(deps, dataRoot, { minAgeMs: config.minAgeMs, dryRun: config.dryRun, signal }));
    } finally {
      lock?.release();
    }
    outcomes.push(...report.outcomes);
    metrics.observeOutcomes(report.outcomes);
    log.info('eviction_run', { freedBytes: report.freedBytes, freeBytes: report.disk.freeBytes, removed: report.outcomes.filter((o) => o.result === 'removed').length, stoppedBecause: report.stoppedBecause, dryRun: config.dryRun });
    if (config.dryRun || report.disk.freeBytes >= thePlan.lowBytes || report.outcomes.every((o) => o.result !== 'removed')) return done();
  }
  return done();
}

