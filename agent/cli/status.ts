// `status`: the disk and every tracked image, least recently used first. Reads, never writes.
import type { ActiveOrder } from '../core/auto';
import type { EvictionRecord } from '../core/eviction';
import type { EvictionOrder, OrderSetting } from '../core/order';
import { rankImages, type RankedImage } from '../core/planner';
import { plannerImages, rankOptions } from '../eviction/inputs';
import { activeOrderOf, AUTO_EVERY_MS, reuseModelOf } from '../eviction/order-learner';
import { imageStatuses, type ImageStatus } from '../core/status';
import { measureDisk, type DiskUsage } from '../disk/disk';
import { errorText } from '../errors';
import { escapeControl } from '../log';
import type { Survey } from '../tracking/tracker';
import type { CommandContext } from './context';
import { formatAgo, formatBytes, formatDuration, formatRatio, isoTime, renderTable, shortId, tagsCell, warnImplausibleThresholds, warnUnmatchedProtections } from './format';

export interface StatusReport {
  nowMs: number;
  docker: { host: string; reachable: boolean; error?: string };
  disk: DiskUsage | null;
  images: ImageStatus[];
  /** Class and eviction rank per image ID. */
  ranking: Map<string, RankedImage>;
  /** Protect patterns and rules that match no image. */
  unmatchedProtections: string[];
  evictions: { total: number; emergency: number; lastEmergencyMs: number | null };
  /** The order in force, the setting, and `auto`'s last choice with its evidence. */
  order: { setting: OrderSetting; active: EvictionOrder; choice: ActiveOrder | null; historyEvents: number };
}

function evictionSummary(evictions: EvictionRecord[]): StatusReport['evictions'] {
  const emergency = evictions.filter((e) => e.mode === 'emergency');
  return { total: evictions.length, emergency: emergency.length, lastEmergencyMs: emergency[emergency.length - 1]?.atMs ?? null };
}

/** Gathers the report: stored knowledge, overlaid with Docker's live inventory when Docker answers. */
export async function gatherStatus(ctx: CommandContext): Promise<StatusReport> {
  const nowMs = ctx.clock();
  let survey: Survey = { records: ctx.store.liveImages(), containers: [], layers: ctx.store.liveLayers(), repositoryUses: ctx.store.repositoryUses(), labels: new Map(), dockerImageCount: 0 };
  let docker: StatusReport['docker'] = { host: ctx.docker.host, reachable: true };
  let dataRoot = ctx.config.dataRootPath;
  try {
    // Show Docker's truth even when the agent is not running; writing the store is left to the agent.
    survey = await ctx.tracker.preview(nowMs);
    dataRoot ??= await ctx.docker.dataRoot();
  } catch (error) {
    docker = { host: ctx.docker.host, reachable: false, error: errorText(error) };
  }
  const disk = dataRoot === null ? null : await measureDisk(dataRoot).catch(() => null);
  const active = activeOrderOf(ctx.config, ctx.store);
  const reuseModel = active === 'learned' ? reuseModelOf(ctx, nowMs, false) : null;
  const { ranking, unmatchedProtections } = rankImages(plannerImages(survey), rankOptions(ctx.config, survey, nowMs, active, reuseModel));
  const choice = ctx.config.evictionOrder === 'auto' ? ctx.store.activeOrder() : null;
  return {
    nowMs,
    docker,
    disk,
    images: imageStatuses(survey.records.values(), survey.containers),
    ranking: new Map(ranking.map((r) => [r.imageId, r])),
    unmatchedProtections,
    evictions: evictionSummary(ctx.store.evictions()),
    order: { setting: ctx.config.evictionOrder, active, choice, historyEvents: ctx.store.historyBounds().events },
  };
}

/** The report as JSON-ready data with ISO timestamps. */
export function statusJson(report: StatusReport): unknown {
  return {
    generatedAt: isoTime(report.nowMs),
    docker: report.docker,
    disk: report.disk,
    unmatchedProtections: report.unmatchedProtections,
    evictions: { ...report.evictions, lastEmergencyAt: isoTime(report.evictions.lastEmergencyMs) },
    evictionOrder: orderJson(report.order),
    images: report.images.map(({ record: r, dangling, containers }) => ({
      id: r.id,
      class: report.ranking.get(r.id)?.class ?? null,
      rank: report.ranking.get(r.id)?.rank ?? null,
      rule: report.ranking.get(r.id)?.rule ?? null,
      tags: r.repoTags,
      digests: r.repoDigests,
      dangling,
      sizeBytes: r.sizeBytes,
      createdAt: isoTime(r.createdMs),
      firstSeenAt: isoTime(r.firstSeenMs),
      lastPulledAt: isoTime(r.lastPulledMs),
      lastUsedAt: isoTime(r.lastUsedMs),
      useCount: r.useCount,
      containers,
    })),
  };
}

function orderJson(order: StatusReport['order']): unknown {
  const { choice } = order;
  return {
    setting: order.setting,
    active: order.active,
    historyEvents: order.historyEvents,
    choice: choice && { reason: choice.reason, chosenAt: isoTime(choice.chosenMs), activeSince: isoTime(choice.sinceMs), jobs: choice.jobs, windowMs: choice.windowMs, scores: choice.scores },
  };
}

/** One line: which order ranks the images, and why. */
function orderLine(order: StatusReport['order'], nowMs: number): string {
  const { choice } = order;
  if (order.setting !== 'auto') return `eviction order: ${order.active} (configured)`;
  if (choice === null) return `eviction order: ${order.active} (auto: no choice yet; the agent chooses from its history every ${formatDuration(AUTO_EVERY_MS)})`;
  return `eviction order: ${order.active} (auto, since ${formatAgo(choice.sinceMs, nowMs)}: ${choice.reason}; checked ${formatAgo(choice.chosenMs, nowMs)} over ${choice.jobs} needs of the last ${formatDuration(choice.windowMs)})`;
}

/** The report as text for a terminal. */
export function statusText(report: StatusReport): string {
  const { disk, nowMs } = report;
  const diskLine =
    disk === null
      ? 'disk: unknown (Docker unreachable and no --path given)'
      : `disk ${disk.path}: ${formatBytes(disk.totalBytes)} total, ${formatBytes(disk.freeBytes)} free (${formatRatio(disk.freeRatio)}), inodes ${formatRatio(disk.freeInodesRatio)} free`;
  const notes = [orderLine(report.order, nowMs)];
  if (!report.docker.reachable) notes.push(`docker ${report.docker.host}: unreachable (${report.docker.error ?? ''}); showing stored state`);
  const { evictions } = report;
  if (evictions.emergency > 0) {
    notes.push(`emergency evictions: ${evictions.emergency} (last ${formatAgo(evictions.lastEmergencyMs, nowMs)}), ${evictions.total} evictions in all`);
  }
  if (report.images.length === 0) return [diskLine, ...notes, 'no images tracked'].join('\n');
  const rows = report.images.map(({ record: r, containers }) => [
    String(report.ranking.get(r.id)?.rank ?? '-'),
    report.ranking.get(r.id)?.class ?? '-',
    tagsCell(r.repoTags),
    shortId(r.id),
    formatBytes(r.sizeBytes),
    formatAgo(r.lastPulledMs, nowMs),
    formatAgo(r.lastUsedMs, nowMs),
    String(r.useCount),
    containers.length > 0 ? containers.map(escapeControl).join(',') : '-',
    escapeControl(report.ranking.get(r.id)?.rule ?? '-'),
  ]);
  return [diskLine, ...notes, renderTable(['RANK', 'CLASS', 'TAGS', 'ID', 'SIZE', 'LAST PULLED', 'LAST USED', 'USES', 'CONTAINERS', 'RULE'], rows)].join('\n');
}

/** Runs `status`; exit code 1 when Docker could not be asked (the stored state is still printed). */
export async function statusCommand(ctx: CommandContext, json: boolean): Promise<number> {
  const report = await gatherStatus(ctx);
  process.stdout.write(`${json ? JSON.stringify(statusJson(report), null, 2) : statusText(report)}\n`);
  warnUnmatchedProtections(report.unmatchedProtections);
  if (report.disk !== null) warnImplausibleThresholds(ctx.config, report.disk);
  if (!report.docker.reachable) {
    process.stderr.write(`image-evictor: cannot reach Docker at ${report.docker.host}: ${report.docker.error ?? ''}\n`);
    return 1;
  }
  return 0;
}
