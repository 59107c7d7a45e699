// The long-running agent: follows Docker events and, every interval, reconciles and measures the disk.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema';
import { formatBytes, formatRatio } from '../config/units';
import type { DiskUsage, MeasureDisk } from '../disk/disk';
import type { DockerClient } from '../docker/client';
import { errorText } from '../errors';
import type { Log } from '../log';
import type { Store } from '../state/store';
import { followEvents } from '../tracking/events';
import type { Tracker } from '../tracking/tracker';

export interface AgentDeps {
  config: Config;
  docker: DockerClient;
  store: Store;
  tracker: Tracker;
  log: Log;
  measureDisk: MeasureDisk;
  /** Epoch milliseconds; read once per cycle and passed down. */
  clock: () => number;
}

/** Resolves the filesystem to watch, waiting for Docker when the path comes from it. */
async function resolveDataRoot(deps: AgentDeps, signal: AbortSignal): Promise<string | null> {
  if (deps.config.dataRootPath !== null) return deps.config.dataRootPath;
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

/** Runs the agent until `signal` aborts. */
export async function runAgent(deps: AgentDeps, signal: AbortSignal): Promise<void> {
  const { config, tracker, log } = deps;
  const dataRoot = await resolveDataRoot(deps, signal);
  if (dataRoot === null) return;
  log.info('agent_started', { host: deps.docker.host, dataRoot, intervalMs: config.intervalMs, state: config.statePath });

  async function reconcile(): Promise<void> {
    const summary = await tracker.reconcile(deps.clock());
    log.info('reconcile', { images: summary.images, changed: summary.changed });
  }

  async function cycle(): Promise<void> {
    try {
      await reconcile();
    } catch (error) {
      log.warn('reconcile_failed', { error: errorText(error) });
    }
    try {
      logDisk(log, await deps.measureDisk(dataRoot as string));
    } catch (error) {
      log.error('disk_measure_failed', { path: dataRoot, error: errorText(error) });
    }
  }

  const following = followEvents(
    { docker: deps.docker, store: deps.store, tracker, log, clock: deps.clock, onConnected: reconcile },
    signal,
  );
  while (!signal.aborted) {
    await cycle();
    await sleep(config.intervalMs, undefined, { signal }).catch(() => undefined);
  }
  await following;
  log.info('agent_stopped', {});
}
