// `registry plan` and `registry apply`: what the rules and storage pressure select, and deleting it.
import { planRegistry, type RegistryPlan } from '../core/registry-planner';
import type { Rule } from '../core/rules';
import { escapeControl } from '../log';
import { applyGitlabPlan } from '../gitlab/apply';
import { applyRegistryPlan, type ApplyResult } from '../registry/apply';
import { writeRegistryMetrics } from '../registry/metrics';
import { formatAgo, formatBytes, isoTime, renderTable } from './format';
import { distributionClient, type RegistryContext } from './registry-context';
import { pressureOrderText, pullRates, rankedBy, type PressureOrder, type PressureRates } from './registry-pull-order';
import { measureStorage, storageText, type StorageFigures } from './registry-storage';

/** The registry refused deletes: the run stopped at its first one. */
const EXIT_REFUSED = 3;

export interface PlanOptions {
  /** Rules already loaded (a bad file fails before any request). */
  rules: Rule[];
  json: boolean;
  /** Carry the plan out; false prints it only. */
  apply: boolean;
}

async function buildPlan(
  ctx: RegistryContext,
  rules: Rule[],
): Promise<{ plan: RegistryPlan; nowMs: number; pullTimes: boolean; pressureOrder: PressureOrder | null; rates: PressureRates | null; storage: StorageFigures | null }> {
  const { config } = ctx;
  const nowMs = ctx.clock();
  const images = ctx.store.images().filter((i) => ctx.inScope(i.repository));
  const blobs = ctx.store.blobs();
  const storage = await measureStorage(config, images, blobs, nowMs);
  const pressure = storage === null ? null : { freeBytes: storage.freeBytes, lowBytes: storage.lowFreeBytes, targetBytes: storage.targetFreeBytes };
  // Only pressure orders candidates; rules alone do not need the model.
  const learned = pressure !== null && pressure.freeBytes < pressure.lowBytes ? pullRates(ctx, images, blobs, nowMs) : null;
  const plan = planRegistry({
    images,
    blobs,
    rules,
    nowMs,
    headCounts: config.registryHeadCounts,
    minAgeMs: config.minAgeMs,
    pressure,
    perTag: ctx.gitlab !== null,
    ...(learned?.likelihood ? { likelihood: learned.likelihood } : {}),
  });
  return { plan, nowMs, pullTimes: images.some((i) => i.manifest.lastPullMs !== null || i.manifest.lastHeadMs !== null), pressureOrder: learned?.order ?? null, rates: learned?.rates ?? null, storage };
}

/** Where the bytes go for a GitLab scope: its own garbage collection frees them, not the delete. */
const GITLAB_RECLAIM = "reclaimable after GitLab's garbage collection (`sudo gitlab-ctl registry-garbage-collect`, or online GC with the registry metadata database); GitLab's sizes count layers shared between images in each";

/** What a plan without pull times judges by, and how to get them. */
function pullTimesNote(ctx: RegistryContext): string {
  return `no pulls recorded for ${ctx.name}: Unused and PreserveRecent judge by push times (first seen by sync). For pull times, point the registry's notifications at \`image-evictor registry --registry URL listen\`${ctx.gitlab !== null ? " (gitlab.rb: registry['notifications']) and give the same --registry URL here" : ''}`;
}

function planText(ctx: RegistryContext, plan: RegistryPlan, nowMs: number, pullTimes: boolean, pressureOrder: PressureOrder | null, storage: StorageFigures | null): string {
  const rows = plan.deletions.map((d) => [
    d.reason,
    escapeControl(d.repository),
    (d.tags.length > 0 ? d.tags.map(escapeControl).join(',') : '<untagged>') + (d.keptBy === null ? '' : ` (image kept by tag ${escapeControl(d.keptBy)})`),
    d.digest.replace(/^sha256:/, '').slice(0, 12),
    formatAgo(d.lastWantedMs, nowMs),
    formatBytes(d.reclaimBytes),
    d.rule === null ? '' : escapeControl(d.rule),
  ]);
  const lines = [
    plan.deletions.length === 0 ? 'nothing to delete' : renderTable(['REASON', 'REPOSITORY', 'TAGS', 'DIGEST', 'LAST WANTED', 'RECLAIM', 'RULE'], rows),
    ...plan.held.map((h) => `kept: ${escapeControl(h.repository)} ${h.tags.map(escapeControl).join(',')} (${h.digest.replace(/^sha256:/, '').slice(0, 12)}): ${escapeControl(h.why)}`),
    ctx.gitlab !== null
      ? `${plan.deletions.reduce((n, d) => n + d.tags.length, 0)} tags to delete; up to ${formatBytes(plan.reclaimBytes)} of images ${GITLAB_RECLAIM}`
      : `${plan.deletions.length} manifests to delete, about ${formatBytes(plan.reclaimBytes)} of blobs freed after garbage collection${plan.underPressure ? (plan.reachesTarget ? '; reaches registry-target-free' : '; does NOT reach registry-target-free') : ''}`,
    ...(storage === null ? [] : [storageText(storage)]),
    ...(pressureOrder === null ? [] : [pressureOrderText(pressureOrder)]),
    ...(pullTimes ? [] : [pullTimesNote(ctx)]),
  ];
  return `${lines.join('\n')}\n`;
}

function planJson(ctx: RegistryContext, plan: RegistryPlan, applied: ApplyResult | null, pullTimes: boolean, pressureOrder: PressureOrder | null, rates: PressureRates | null, storage: StorageFigures | null): unknown {
  return {
    registry: ctx.name,
    ...(storage === null ? {} : { storage }),
    ...(ctx.gitlab === null ? {} : { gitlab: ctx.gitlab.client.url, scope: ctx.gitlab.scope, reclaim: GITLAB_RECLAIM }),
    pullTimes,
    ...(pullTimes ? {} : { note: pullTimesNote(ctx) }),
    ...plan,
    pressureOrder,
    deletions: plan.deletions.map((d) => ({ ...d, lastWanted: isoTime(d.lastWantedMs), ...rankedBy(rates, `${d.repository}@${d.digest}`) })),
    ...(applied === null ? {} : { outcomes: applied.outcomes, refused: applied.refused }),
  };
}

/** `registry plan` (print) and `registry apply` (carry out, unless --dry-run). */
export async function registryPlanCommand(ctx: RegistryContext, options: PlanOptions): Promise<number> {
  try {
    const { plan, nowMs, pullTimes, pressureOrder, rates, storage } = await buildPlan(ctx, options.rules);
    if (!options.apply) {
      process.stdout.write(options.json ? `${JSON.stringify(planJson(ctx, plan, null, pullTimes, pressureOrder, rates, storage), null, 2)}\n` : planText(ctx, plan, nowMs, pullTimes, pressureOrder, storage));
      return 0;
    }
    const applied = ctx.gitlab !== null ? await applyGitlabPlan({ ...ctx, gitlab: ctx.gitlab.client, scope: ctx.gitlab.scope }, plan) : await applyRegistryPlan({ ...ctx, client: distributionClient(ctx, 'apply') }, plan);
    if (ctx.config.registryMetricsFile !== null) {
      const deleted = applied.outcomes.filter((o) => o.result === 'deleted');
      writeRegistryMetrics(ctx.config.registryMetricsFile, ctx.name, {
        apply_last_run_timestamp_seconds: { help: 'When registry apply last ran (Unix time)', value: nowMs / 1000 },
        apply_deleted_manifests: { help: 'Manifests the last registry apply deleted', value: deleted.length },
        apply_skipped_manifests: { help: 'Manifests the last registry apply skipped (changed since the plan) or failed to delete', value: applied.outcomes.length - deleted.length },
        apply_reclaim_estimate_bytes: { help: 'Blob bytes the last registry apply made collectable (estimate)', value: deleted.reduce((s, o) => s + o.reclaimBytes, 0) },
        apply_refused: { help: '1 if the registry refused deletes at the last registry apply', value: applied.refused === null ? 0 : 1 },
        // Side by side, so that an alert sees a day's pushes outgrow what a run leaves free.
        ...(storage === null ? {} : { apply_low_free_bytes: { help: 'registry-low-free on the storage at the last registry apply, in bytes', value: storage.lowFreeBytes } }),
        ...(storage === null || storage.pushedLastDayBytes === null
          ? {}
          : { apply_pushed_last_day_bytes: { help: 'Bytes of layers only manifests pushed in the 24 h before the last registry apply reference', value: storage.pushedLastDayBytes } }),
      });
    }
    if (options.json) process.stdout.write(`${JSON.stringify(planJson(ctx, plan, applied, pullTimes, pressureOrder, rates, storage), null, 2)}\n`);
    else {
      const rows = applied.outcomes.map((o) => [o.result, escapeControl(o.repository), o.tags.map(escapeControl).join(',') || '<untagged>', o.digest.replace(/^sha256:/, '').slice(0, 12), o.detail === null ? '' : escapeControl(o.detail)]);
      if (rows.length > 0) process.stdout.write(`${renderTable(['RESULT', 'REPOSITORY', 'TAGS', 'DIGEST', 'DETAIL'], rows)}\n`);
      const deleted = applied.outcomes.filter((o) => o.result === 'deleted');
      const bytes = formatBytes(applied.outcomes.reduce((s, o) => s + o.reclaimBytes, 0));
      const protectedCount = applied.outcomes.filter((o) => o.result === 'protected').length;
      process.stdout.write(
        ctx.gitlab !== null
          ? `${deleted.length} tags deleted${protectedCount > 0 ? `, ${protectedCount} protected (skipped)` : ''}; up to ${bytes} of images ${GITLAB_RECLAIM}\n`
          : `${deleted.length} manifests deleted, about ${bytes} to free at the next garbage collection\n`,
      );
    }
    if (applied.refused !== null) {
      process.stderr.write(`image-evictor: registry apply: ${applied.refused}\n`);
      return EXIT_REFUSED;
    }
    return 0;
  } finally {
    ctx.store.close();
  }
}
