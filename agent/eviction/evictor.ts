// Carries out a plan: the only code that deletes images. Never forced; re-checks each image just
// before removing it; measures real free space after each removal and stops on the real figure.
import type { EvictionMode } from '../core/eviction';
import type { Plan, PlanStep } from '../core/planner';
import { recencyMs } from '../core/usage';
import type { DiskUsage } from '../disk/disk';
import type { DockerClient } from '../docker/client';
import { errorText } from '../errors';
import type { Log } from '../log';
import type { Store } from '../state/store';

export type StepResult = 'removed' | 'gone' | 'in-use' | 'too-young' | 'would-remove' | 'failed';

export interface StepOutcome {
  imageId: string;
  tags: string[];
  mode: EvictionMode;
  result: StepResult;
  estimatedBytes: number;
  measuredBytes: number | null;
  /** Docker event time (ns) the records were brought up to right before the removal; null if not. */
  checkedThroughNano: string | null;
  error?: string;
}

export interface EvictionReport {
  outcomes: StepOutcome[];
  /** Measured free bytes gained over the run (estimated in a dry run). */
  freedBytes: number;
  disk: DiskUsage;
  /** `target`: the thresholds were met; `plan-exhausted`: every step was tried; `aborted`: shutdown. */
  stoppedBecause: 'target' | 'plan-exhausted' | 'aborted';
}

export interface EvictorDeps {
  docker: DockerClient;
  store: Store;
  log: Log;
  measureDisk: () => Promise<DiskUsage>;
  clock: () => number;
  minAgeMs: number;
  dryRun: boolean;
  /** Brings usage records up to the present (events not yet delivered), before each re-check; returns the event time (ns) they are complete through. */
  catchUp?: () => Promise<string | null>;
  /** Once aborted, the run ends after the removal in flight. */
  signal?: AbortSignal;
  /** Waits between re-measurements while a removal's space has not shown yet; default: a real timer. */
  settle?: (ms: number) => Promise<void>;
}

/**
 * A removal whose space has not shown in free space yet (under half the estimate) is measured again,
 * up to this many times this far apart: Docker can release a layer a moment after it answers (a
 * container's layer let go late, a loaded daemon), and the stop rule would evict more than needed.
 */
const SETTLE_TRIES = 8;
const SETTLE_MS = 250;

/**
 * Removes every reference of an image without force. Tags are removed one by one (Docker refuses
 * an unforced delete by ID of an image tagged in several repositories); the last one deletes the
 * image. If Docker refuses that last one, the tags already removed are put back.
 */
export async function removeAllReferences(docker: DockerClient, step: PlanStep): Promise<'removed' | 'gone' | 'conflict'> {
  if (step.tags.length === 0) return docker.removeImage(step.imageId);
  const untagged: string[] = [];
  let refused = false;
  for (const tag of step.tags.slice(0, -1)) {
    const result = await docker.removeImage(tag);
    refused = result === 'conflict';
    if (refused) break;
    if (result === 'removed') untagged.push(tag);
  }
  const last = refused ? 'conflict' : await docker.removeImage(step.tags[step.tags.length - 1] as string);
  if (last === 'conflict') {
    for (const tag of untagged) await docker.tagImage(step.imageId, tag);
    return 'conflict';
  }
  // The last tag may have moved to another image since planning: make sure ours is gone.
  return (await docker.inspectImage(step.imageId)) === null ? last : docker.removeImage(step.imageId);
}

function reached(disk: DiskUsage, step: PlanStep): boolean {
  return disk.freeBytes >= step.untilFreeBytes && disk.freeInodes >= step.untilFreeInodes;
}

/** Tries one step; returns its outcome and the disk figures after it. */
async function runStep(step: PlanStep, disk: DiskUsage, deps: EvictorDeps): Promise<[StepOutcome, DiskUsage]> {
  const { docker, store } = deps;
  const outcome: StepOutcome = { imageId: step.imageId, tags: step.tags, mode: step.mode, result: 'failed', estimatedBytes: step.estimatedBytes, measuredBytes: null, checkedThroughNano: null };
  try {
    if ((await docker.listContainers()).some((c) => c.imageId === step.imageId)) {
      outcome.result = 'in-use';
      return [outcome, disk];
    }
    // Last, right before the removal: events not yet delivered (a job that pulled it a moment
    // ago), then the image's record. What happens between here and the removal is the only window
    // left, and Docker's own 409 covers a container created in it. A catch-up that fails (Docker
    // did not answer) throws: the step fails, nothing is removed on stale records.
    outcome.checkedThroughNano = (await deps.catchUp?.()) ?? null;
    const record = store.image(step.imageId);
    if (record !== undefined && recencyMs(record) > deps.clock() - deps.minAgeMs) {
      outcome.result = 'too-young';
      return [outcome, disk];
    }
    if (deps.dryRun) {
      outcome.result = 'would-remove';
      return [outcome, { ...disk, freeBytes: disk.freeBytes + step.estimatedBytes }];
    }
    const result = await removeAllReferences(docker, step);
    outcome.result = result === 'conflict' ? 'in-use' : result;
    if (result === 'conflict') return [outcome, disk];
    const atMs = deps.clock();
    if (record !== undefined) store.save([{ ...record, removedMs: record.removedMs ?? atMs }]);
    if (result === 'gone') return [outcome, disk];
    let after = await deps.measureDisk();
    const settle = deps.settle ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    for (let i = 0; i < SETTLE_TRIES && after.freeBytes - disk.freeBytes < step.estimatedBytes / 2; i += 1) {
      await settle(SETTLE_MS);
      after = await deps.measureDisk();
    }
    outcome.measuredBytes = after.freeBytes - disk.freeBytes;
    store.recordEviction({
      atMs,
      imageId: step.imageId,
      tags: step.tags,
      lastUsedMs: step.lastUsedMs,
      estimatedBytes: step.estimatedBytes,
      measuredBytes: outcome.measuredBytes,
      mode: step.mode,
      dryRun: false,
    });
    return [outcome, after];
  } catch (error) {
    outcome.error = errorText(error);
    return [outcome, disk];
  }
}

function logOutcome(log: Log, step: PlanStep, outcome: StepOutcome, disk: DiskUsage, dryRun: boolean): void {
  const fields = {
    imageId: step.imageId,
    tags: step.tags,
    mode: step.mode,
    reason: step.reason,
    result: outcome.result,
    estimatedBytes: step.estimatedBytes,
    measuredBytes: outcome.measuredBytes,
    freeBytes: disk.freeBytes,
    checkedThroughNano: outcome.checkedThroughNano,
  };
  if (outcome.result === 'failed') log.warn('eviction_failed', { ...fields, error: outcome.error });
  else if (outcome.result === 'removed' || outcome.result === 'would-remove') log.info(dryRun ? 'eviction_dry_run' : 'eviction', fields);
  else log.info('eviction_skipped', fields);
}

/** Executes the plan's steps in order until free space is back where the plan aims. */
export async function executePlan(plan: Plan, deps: EvictorDeps): Promise<EvictionReport> {
  // In a dry run the disk figures advance by the estimates instead of by measurement.
  let disk = await deps.measureDisk();
  const startFree = disk.freeBytes;
  const outcomes: StepOutcome[] = [];
  const report = (stoppedBecause: EvictionReport['stoppedBecause']): EvictionReport => ({ outcomes, freedBytes: disk.freeBytes - startFree, disk, stoppedBecause });
  for (const step of plan.steps) {
    if (reached(disk, step)) return report('target');
    if (deps.signal?.aborted) return report('aborted');
    const [outcome, after] = await runStep(step, disk, deps);
    disk = after;
    outcomes.push(outcome);
    logOutcome(deps.log, step, outcome, disk, deps.dryRun);
  }
  const last = plan.steps[plan.steps.length - 1];
  return report(last !== undefined && reached(disk, last) ? 'target' : 'plan-exhausted');
}
