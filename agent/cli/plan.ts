// `plan`: the ordered evictions the agent would carry out now, with reasons and estimates. Writes nothing.
import { plan, type Plan } from '../core/planner';
import { measureDisk } from '../disk/disk';
import { planInput, type PlanRequest } from '../eviction/inputs';
import { activeOrderOf, reuseModelOf } from '../eviction/order-learner';
import { dataRootOf, type CommandContext } from './context';
import { formatAgo, formatBytes, formatShare, isoTime, renderTable, shortId, tagsCell, warnImplausibleThresholds, warnUnmatchedProtections } from './format';

/** Surveys Docker (without writing), measures the disk and plans. */
export async function currentPlan(ctx: CommandContext, request: PlanRequest, persist: boolean): Promise<Plan> {
  const nowMs = ctx.clock();
  const survey = persist ? (await ctx.tracker.reconcile(nowMs)).survey : await ctx.tracker.preview(nowMs);
  const disk = await measureDisk(await dataRootOf(ctx));
  warnImplausibleThresholds(ctx.config, disk);
  const order = activeOrderOf(ctx.config, ctx.store);
  const reuseModel = order === 'learned' ? reuseModelOf(ctx, nowMs, persist) : null;
  return plan(planInput(ctx.config, survey, disk, nowMs, request, order, reuseModel));
}

/** A plan as JSON-ready data. */
export function planJson(p: Plan): unknown {
  return {
    generatedAt: isoTime(p.nowMs),
    mode: p.mode,
    unmatchedProtections: p.unmatchedProtections,
    underPressure: p.underPressure,
    emergency: p.emergency,
    totalBytes: p.totalBytes,
    freeBytes: p.freeBytes,
    lowBytes: p.lowBytes,
    targetBytes: p.targetBytes,
    freeInodes: p.freeInodes,
    lowInodes: p.lowInodes,
    targetInodes: p.targetInodes,
    estimatedFreeAfterBytes: p.estimatedFreeAfterBytes,
    steps: p.steps.map((s, i) => ({
      rank: i + 1,
      imageId: s.imageId,
      tags: s.tags,
      mode: s.mode,
      reason: s.reason,
      lastWantedAt: isoTime(s.recencyMs),
      lastUsedAt: isoTime(s.lastUsedMs),
      estimatedBytes: s.estimatedBytes,
      untilFreeBytes: s.untilFreeBytes,
    })),
  };
}

/** The headline: free space against the thresholds. */
function planHeadline(p: Plan): string {
  const pct = (bytes: number) => formatShare(bytes, p.totalBytes);
  const state = p.mode === 'purge' ? 'purge' : p.underPressure ? 'below low: evicting' : 'above low: nothing to evict now';
  return `free ${pct(p.freeBytes)}, low ${pct(p.lowBytes)}, target ${pct(p.targetBytes)}: ${state}`;
}

/** The plan's steps as a table. */
export function planText(p: Plan): string {
  const lines = [planHeadline(p)];
  if (p.emergency) lines.push('EMERGENCY: other images cannot free enough; protected images will go, least recently used first');
  if (p.steps.length > 0) {
    lines.push(
      renderTable(
        ['#', 'MODE', 'REASON', 'TAGS', 'ID', 'LAST WANTED', 'ESTIMATE'],
        p.steps.map((s, i) => [
          String(i + 1),
          s.mode,
          s.reason,
          tagsCell(s.tags),
          shortId(s.imageId),
          formatAgo(s.recencyMs, p.nowMs),
          formatBytes(s.estimatedBytes),
        ]),
      ),
    );
    lines.push(`estimated free after: ${formatShare(p.estimatedFreeAfterBytes, p.totalBytes)}`);
  }
  return lines.join('\n');
}

/** Runs `plan`. */
export async function planCommand(ctx: CommandContext, json: boolean): Promise<number> {
  const p = await currentPlan(ctx, { mode: 'auto', includeProtected: false }, false);
  process.stdout.write(`${json ? JSON.stringify(planJson(p), null, 2) : planText(p)}\n`);
  warnUnmatchedProtections(p.unmatchedProtections);
  return 0;
}
