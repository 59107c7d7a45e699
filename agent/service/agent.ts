// The long-running agent: follows Docker events and, every interval and soon after pulls, reconciles,
// measures the disk and evicts while free space is below the low threshold.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema';
import { formatBytes, formatRatio } from '../config/units';
import { plan } from '../core/planner';
import { executePlan } from '../eviction/evictor';
import { acquireLock, evictionLockPath, LockHeldError } from '../state/lock';
import { planInput } from '../eviction/inputs';
import type { DiskUsage, MeasureDisk } from '../disk/disk';
import type { DockerClient } from '../docker/client';
import { eventTimeMs, type DockerEvent } from '../core/image';
import { DockerUnreachableError, errorText } from '../errors';
import type { Log } from '../log';
import type { Store } from '../state/store';
import { followEvents } from '../tracking/events';
import { noMetrics, type AgentMetrics } from './metrics';
import type { Tracker } from '../tracking/tracker';

export interface AgentDeps {
  /** The configuration in force; read once per check, so a reload applies from the next one. */
  config: () => Config;
  docker: DockerClient;
  store: Store;
  tracker: Tracker;
  log: Log;
  measureDisk: MeasureDisk;
  /** Epoch milliseconds; read once per cycle and passed down. */
  clock: () => number;
  metrics?: AgentMetrics;
}

/** Resolves the filesystem to watch, waiting for Docker when the path comes from it. */
async function resolveDataRoot(deps: AgentDeps, signal: AbortSignal): Promise<string | null> {
  const configured = deps.config().dataRootPath;
  if (configured !== null) return configured;
  for (let delayMs = 500; !signal.aborted; delayMs = Math.min(delayMs * 2, 30_000)) {
    try {
      return await deps.docker.dataRoot();
    } catch (error) {
      deps.log.warn('docker_unreachable', { host: deps.docker.host, error: errorText(error), retryInMs: delayMs });
      await sleep(delayMs, undefined, { signal }).catch(() => undefined);
    }
  }
  return null;
}

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

/** Checks requested by events are held this long, so a burst of pulls costs one check. */
const EVENT_CHECK_DEBOUNCE_MS = 1000;
/** Re-plans after a run that left the disk below low, for when estimates were too hopeful. */
const MAX_ROUNDS = 3;
const CHECK_EVENTS = new Set(['image:pull', 'image:load', 'image:import', 'container:create']);

/** Runs the agent until `signal` aborts. */
export async function runAgent(deps: AgentDeps, signal: AbortSignal): Promise<void> {
  const { tracker, log } = deps;
  const metrics = deps.metrics ?? noMetrics;
  const resolved = await resolveDataRoot(deps, signal);
  if (resolved === null) return;
  const dataRoot: string = resolved;
  const started = deps.config();
  log.info('agent_started', { host: deps.docker.host, dataRoot, intervalMs: started.intervalMs, state: started.statePath });

  async function reconcile(nowMs: number) {
    const survey = await tracker.reconcile(nowMs);
    log.info('reconcile', { images: survey.images, changed: survey.changed.length });
    return survey;
  }

  /** Reconciles, measures, and evicts while below low; returns when back above low or out of options. */
  async function check(): Promise<void> {
    const config = deps.config();
    // Persist what a full disk held back, now that evictions may have made room.
    deps.store.flush();
    for (let round = 1; round <= MAX_ROUNDS && !signal.aborted; round += 1) {
      const nowMs = deps.clock();
      const survey = await reconcile(nowMs);
      metrics.setDockerReachable(true);
      const disk = await deps.measureDisk(dataRoot);
      logDisk(log, disk);
      const thePlan = plan(planInput(config, survey, disk, nowMs, { mode: 'auto', includeProtected: false }));
      metrics.observeCheck(nowMs, disk, thePlan, survey.images);
      if (!thePlan.underPressure) return;
      log.warn('pressure', { freeBytes: disk.freeBytes, lowBytes: thePlan.lowBytes, targetBytes: thePlan.targetBytes, freeInodes: disk.freeInodes, lowInodes: thePlan.lowInodes, plannedSteps: thePlan.steps.length, estimatedFreeAfterBytes: thePlan.estimatedFreeAfterBytes, round });
      if (thePlan.emergency) {
        log.warn('emergency', { freeBytes: disk.freeBytes, lowBytes: thePlan.lowBytes, protectedSteps: thePlan.steps.filter((s) => s.mode === 'emergency').length });
      }
      if (thePlan.steps.length === 0) {
        log.error('pressure_unrelieved', { freeBytes: disk.freeBytes, lowBytes: thePlan.lowBytes, reason: 'no evictable image' });
        return;
      }
      let lock = null;
      try {
        lock = config.dryRun ? null : acquireLock(evictionLockPath(config.statePath), 0);
      } catch (error) {
        if (error instanceof LockHeldError) {
          // A purge is evicting; its results show at the next check.
          log.info('eviction_deferred', { reason: 'another process holds the eviction lock', lock: error.path });
          return;
        }
        // The lock file cannot be used (a full disk when it was first needed): evicting without it
        // is safe (a racing purge's removal of the same image just reports it gone); not evicting is not.
        log.warn('eviction_lock_unavailable', { error: errorText(error), action: 'evicting without the lock' });
      }
      let report;
      try {
        report = await executePlan(thePlan, {
          docker: deps.docker,
          store: deps.store,
          log,
          measureDisk: () => deps.measureDisk(dataRoot),
          clock: deps.clock,
          minAgeMs: config.minAgeMs,
          dryRun: config.dryRun,
          catchUp: () => tracker.catchUp(deps.clock()),
          signal,
        });
      } finally {
        lock?.release();
      }
      metrics.observeOutcomes(report.outcomes);
      log.info('eviction_run', { freedBytes: report.freedBytes, freeBytes: report.disk.freeBytes, removed: report.outcomes.filter((o) => o.result === 'removed').length, stoppedBecause: report.stoppedBecause, dryRun: config.dryRun });
      if (config.dryRun || report.disk.freeBytes >= thePlan.lowBytes || report.outcomes.every((o) => o.result !== 'removed')) return;
    }
  }

  // One check at a time; a request during a check runs one more check after it.
  let checking: Promise<void> | null = null;
  let again = false;
  function requestCheck(): Promise<void> {
    if (checking) {
      again = true;
      return checking;
    }
    checking = (async () => {
      do {
        again = false;
        try {
          await check();
        } catch (error) {
          if (error instanceof DockerUnreachableError) metrics.setDockerReachable(false);
          log.warn('check_failed', { error: errorText(error) });
        }
      } while (again && !signal.aborted);
      checking = null;
    })();
    return checking;
  }

  let debounce: NodeJS.Timeout | null = null;
  const onEvent = (event: DockerEvent) => {
    metrics.observeEventLag(deps.clock() - eventTimeMs(event));
    if (!CHECK_EVENTS.has(`${event.type}:${event.action}`) || debounce) return;
    debounce = setTimeout(() => {
      debounce = null;
      void requestCheck();
    }, EVENT_CHECK_DEBOUNCE_MS);
  };

  const following = followEvents(
    { docker: deps.docker, store: deps.store, tracker, log, clock: deps.clock, onConnected: async () => void (await reconcile(deps.clock())), onEvent },
    signal,
  );
  while (!signal.aborted) {
    await requestCheck();
    await sleep(deps.config().intervalMs, undefined, { signal }).catch(() => undefined);
  }
  if (debounce) clearTimeout(debounce);
  await checking;
  await following;
  log.info('agent_stopped', {});
}
