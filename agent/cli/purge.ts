// `purge`: evict now until the target is free, for emergencies or before big image builds.
import { evictorDeps } from '../eviction/check';
import { executePlan, type EvictionReport } from '../eviction/evictor';
import { acquireLock, evictionLockPath } from '../state/lock';
import { checkDeps, dataRootOf, type CommandContext } from './context';
import { formatBytes, formatDuration, formatShare, outcomesText, tagsCell } from './format';
import { currentPlan, planJson, planText } from './plan';

/** Exit code when the purge ran but could not reach the target. */
const EXIT_TARGET_NOT_REACHED = 3;
/** How long a purge waits for a running agent to finish its own eviction run. */
const LOCK_WAIT_MS = 60_000;

function reportJson(report: EvictionReport, targetBytes: number): unknown {
  return {
    freedBytes: report.freedBytes,
    freeBytes: report.disk.freeBytes,
    targetBytes,
    targetReached: report.disk.freeBytes >= targetBytes,
    outcomes: report.outcomes,
  };
}

function reportText(report: EvictionReport, targetBytes: number): string {
  const total = report.disk.totalBytes;
  return [
    outcomesText(report.outcomes),
    `freed ${formatBytes(report.freedBytes)}; free now ${formatShare(report.disk.freeBytes, total)}, target ${formatShare(targetBytes, total)}`,
  ].join('\n');
}

/** Runs `purge`; exit 0 when the target is reached, 3 when it could not be. */
export async function purgeCommand(ctx: CommandContext, options: { emergency: boolean; dryRun: boolean; json: boolean }): Promise<number> {
  if (options.dryRun) {
    const p = await currentPlan(ctx, { mode: 'purge', includeProtected: options.emergency }, false);
    process.stdout.write(`${options.json ? JSON.stringify(planJson(p), null, 2) : planText(p)}\n`);
    return 0;
  }
  // Plan only once the lock is ours: what a running agent just removed is then already known.
  const lock = acquireLock(evictionLockPath(ctx.config.statePath), LOCK_WAIT_MS);
  try {
    return await purgeLocked(ctx, options.emergency, options.json);
  } finally {
    lock.release();
  }
}

async function purgeLocked(ctx: CommandContext, emergency: boolean, json: boolean): Promise<number> {
  const p = await currentPlan(ctx, { mode: 'purge', includeProtected: emergency }, true);
  const skippedProtected = p.ranking.filter((r) => r.class === 'protected').length;
  const skippedKept = p.ranking.filter((r) => r.class === 'kept').length;
  const dataRoot = await dataRootOf(ctx);
  const report = await executePlan(p, evictorDeps(checkDeps(ctx), dataRoot, { minAgeMs: ctx.config.minAgeMs, dryRun: false }));
  process.stdout.write(`${json ? JSON.stringify(reportJson(report, p.targetBytes), null, 2) : reportText(report, p.targetBytes)}\n`);
  const reached = report.disk.freeBytes >= p.targetBytes;
  // Keep rules bind purges too: say so, so an operator knows where the rest of the disk went.
  if (skippedKept > 0) process.stderr.write(`image-evictor: skipped ${skippedKept} image(s) a Keep rule holds (policy ${ctx.config.policyPath ?? '-'})\n`);
  if (!reached) {
    // Everything that held the rest of the disk, by name, so the operator knows what to stop or wait for.
    const named = (cls: string) => {
      const ids = p.ranking.filter((r) => r.class === cls).map((r) => r.imageId);
      const names = ids.map((id) => tagsCell(ctx.store.image(id)?.repoTags ?? [id]));
      return { count: ids.length, names: names.join(', ') };
    };
    const held = [
      ['in-use', 'in use by a container'],
      ['too-young', `wanted within min-age (${formatDuration(ctx.config.minAgeMs)})`],
    ].map(([cls, why]) => ({ ...named(cls as string), why })).filter((h) => h.count > 0);
    const heldText = held.map((h) => `${h.count} ${h.why}: ${h.names}`).join('; ');
    if (!emergency && skippedProtected > 0) {
      process.stderr.write(`image-evictor: target not reached; ${skippedProtected} protected image(s) were kept (add --emergency to include them)\n`);
      if (held.length > 0) process.stderr.write(`image-evictor: also held: ${heldText}\n`);
    } else {
      process.stderr.write(`image-evictor: target not reached: ${held.length > 0 ? `held by ${heldText}` : 'nothing else can be evicted'}\n`);
    }
  }
  return reached ? 0 : EXIT_TARGET_NOT_REACHED;
}
