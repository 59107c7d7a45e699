// `simulate`: replays this runner's recorded history through the real planner under every
// eviction order, plain LRU and the offline references: what each would have downloaded here,
// on this disk or another size, with these thresholds or others. Reads the state; writes nothing.
import type { ContenderSpec, PlannerSettings } from '../core/contenders';
import { workloadFromHistory } from '../core/history';
import { EvictionOrder } from '../core/order';
import { thresholdBytes } from '../core/planner';
import type { ReplayOutcome, Workload } from '../core/replay';
import { parseDuration, parseSize } from '../core/units';
import { measureDisk } from '../disk/disk';
import { ConfigError } from '../errors';
import { activeOrderOf, liveImageBytes } from '../eviction/order-learner';
import type { Store } from '../state/store';
import { dataRootOf, type CommandContext } from './context';
import { formatBytes, formatDuration, isoTime, renderTable } from './format';
import { startReplayPool, type ReplayPool } from './replay-threads';

/** Exit code when the history lacks what the replay needs. */
export const EXIT_NO_HISTORY = 3;

export interface SimulateOptions {
  since: string;
  disk?: string;
  json: boolean;
}

/** What the history cannot give: said in one line, exit 3. */
class HistoryGap extends Error {}

interface Replayed {
  name: string;
  /** The eviction order it runs, when it is one of the agent's. */
  order: EvictionOrder | null;
  outcome: ReplayOutcome;
}

function parseOptions(options: SimulateOptions): { sinceMs: number; diskBytes: number | null } {
  const since = parseDuration(options.since);
  if (typeof since !== 'number' || since <= 0) throw new ConfigError('--since', typeof since === 'number' ? 'must be more than 0, e.g. 7d' : since.error);
  if (options.disk === undefined) return { sinceMs: since, diskBytes: null };
  const disk = parseSize(options.disk);
  if ('error' in disk) throw new ConfigError('--disk', disk.error);
  if (disk.kind !== 'bytes' || disk.bytes <= 0) throw new ConfigError('--disk', `'${options.disk}' must be a size such as 200GB, not a percentage`);
  return { sinceMs: since, diskBytes: disk.bytes };
}

/** A duration as a flag value, rounded down to one unit (`112m`, `29d`): formatDuration's `1h 52m` would need quotes. */
function flagDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 120) return `${Math.max(minutes, 1)}m`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours}h` : `${Math.floor(hours / 24)}d`;
}

/** The history since `fromMs` as a workload, or what it lacks. */
function historyWorkload(store: Store, fromMs: number, config: CommandContext['config']): { workload: Workload; notes: string[] } {
  const bounds = store.historyBounds();
  if (bounds.events === 0) throw new HistoryGap(`no usage history in ${config.statePath}: the agent records pulls and uses while \`image-evictor run\` is active`);
  if (bounds.droppedBeforeMs !== null && fromMs < bounds.droppedBeforeMs) {
    const keeps = flagDuration(Date.now() - bounds.droppedBeforeMs);
    throw new HistoryGap(
      `history before ${isoTime(bounds.droppedBeforeMs)} was compacted (history: ${formatDuration(config.historyMs)}, history-max-events: ${config.historyMaxEvents}); use --since ${keeps} or less`,
    );
  }
  const { workload, unknownImages, imagesWithoutLayers } = workloadFromHistory(store.history(fromMs), store.historyImages(fromMs));
  if (workload.jobs.length === 0) throw new HistoryGap(`no pulls or uses recorded since ${isoTime(fromMs)}; the history holds ${bounds.events} events from ${isoTime(bounds.firstMs)}`);
  const notes: string[] = [];
  if (bounds.firstMs !== null && bounds.firstMs > fromMs) notes.push(`the history starts at ${isoTime(bounds.firstMs)}, after the window's start: the agent was not recording before`);
  if (unknownImages > 0) notes.push(`${unknownImages} images named in the history have no record left: their needs are not replayed`);
  if (imagesWithoutLayers > 0) notes.push(`${imagesWithoutLayers} images replayed as one layer of their size (layers not stored): bytes they share count twice`);
  return { workload, notes };
}

/** Where the order in force comes from, in a few words. */
function orderSource(setting: CommandContext['config']['evictionOrder'], store: Store): string {
  if (setting !== 'auto') return 'configured';
  return store.activeOrder() === null ? 'auto, before its first choice' : 'chosen by auto';
}

/** What simulate replays: every order, plain LRU and the two offline references, the optimum last. */
const CONTENDERS: Array<{ name: string; order: EvictionOrder | null; spec: ContenderSpec }> = [
  ...EvictionOrder.options.map((order) => ({ name: `image-evictor (${order})`, order, spec: { kind: 'order' as const, order } })),
  { name: 'plain LRU', order: null, spec: { kind: 'plain-lru' } },
  { name: 'offline order, same thresholds', order: null, spec: { kind: 'offline-order' } },
  { name: 'offline optimum (Belady)', order: null, spec: { kind: 'belady' } },
];

/** Runs `simulate`; exit 3 when the history lacks what the replay needs. */
export async function simulateCommand(ctx: CommandContext, options: SimulateOptions): Promise<number> {
  const { sinceMs, diskBytes } = parseOptions(options);
  // The threads load their modules while this one reads the history.
  const pool = startReplayPool(undefined, CONTENDERS.length);
  try {
    return await simulateWith(ctx, options, pool, sinceMs, diskBytes);
  } finally {
    await pool.close();
  }
}

async function simulateWith(ctx: CommandContext, options: SimulateOptions, pool: ReplayPool, sinceMs: number, diskBytes: number | null): Promise<number> {
  const { config, store } = ctx;
  const nowMs = ctx.clock();
  let history;
  try {
    history = historyWorkload(store, nowMs - sinceMs, config);
  } catch (error) {
    if (!(error instanceof HistoryGap)) throw error;
    process.stderr.write(`image-evictor: simulate: ${error.message}\n`);
    return EXIT_NO_HISTORY;
  }
  const { workload, notes } = history;
  // The replayed disk is what images may use: the disk less what is not images now.
  const disk = await measureDisk(await dataRootOf(ctx));
  const otherBytes = Math.max(0, disk.totalBytes - disk.freeBytes - liveImageBytes(store.liveImages().values(), store.liveLayers()));
  const totalBytes = diskBytes ?? disk.totalBytes;
  const capacityBytes = Math.max(0, totalBytes - otherBytes);
  const lowBytes = thresholdBytes(config.lowFree, totalBytes);
  const settings: Omit<PlannerSettings, 'order'> = {
    marks: { lowBytes, targetBytes: Math.max(thresholdBytes(config.targetFree, totalBytes), lowBytes), intervalMs: config.intervalMs, minAgeMs: config.minAgeMs },
    protect: config.protect,
    rules: config.policy.rules,
  };
  const started = Date.now();
  // `learned` relearns its model every 6 replayed hours: its replay costs about twice another's, so it goes first.
  const dispatch = CONTENDERS.map((_, i) => i).sort((a, b) => Number(CONTENDERS[b]?.order === 'learned') - Number(CONTENDERS[a]?.order === 'learned'));
  const outcomes = await pool.run({ workload, capacityBytes, settings }, CONTENDERS.map((c) => c.spec), dispatch);
  const runs: Replayed[] = CONTENDERS.map((c, i) => ({ name: c.name, order: c.order, outcome: outcomes[i] as ReplayOutcome }));
  const replayMs = Date.now() - started;
  const optimum = (runs[runs.length - 1] as Replayed).outcome;
  const active = activeOrderOf(config, store);
  const first = (workload.jobs[0] as { atMs: number }).atMs;
  const last = (workload.jobs[workload.jobs.length - 1] as { atMs: number }).atMs;
  const ratio = (o: ReplayOutcome) => (optimum.downloadedBytes === 0 ? 1 : o.downloadedBytes / optimum.downloadedBytes);
  if (options.json) {
    const json = {
      from: isoTime(first),
      to: isoTime(last),
      needs: workload.jobs.length,
      images: workload.images.length,
      diskBytes: totalBytes,
      imageCapacityBytes: capacityBytes,
      lowBytes: settings.marks.lowBytes,
      targetBytes: settings.marks.targetBytes,
      activeOrder: active,
      orderSetting: config.evictionOrder,
      replayMs,
      notes,
      contenders: runs.map((r) => ({
        name: r.name,
        order: r.order,
        downloadedBytes: r.outcome.downloadedBytes,
        redownloadedBytes: r.outcome.redownloadedBytes,
        compulsoryBytes: r.outcome.compulsoryBytes,
        vsOptimum: Number(ratio(r.outcome).toFixed(4)),
        fullDiskJobs: r.outcome.fullDiskJobs,
        evictions: r.outcome.evictions,
      })),
    };
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `Replayed ${workload.jobs.length} needs of ${workload.images.length} images, ${isoTime(first)} to ${isoTime(last)} (${formatDuration(last - first)}), in ${formatDuration(replayMs)}`,
    `Disk ${formatBytes(totalBytes)}${diskBytes === null ? ' (this one)' : ''}, of which ${formatBytes(capacityBytes)} for images (${formatBytes(otherBytes)} is not images now); low ${formatBytes(settings.marks.lowBytes)} free, target ${formatBytes(settings.marks.targetBytes)}`,
    `Order in force: ${active} (${orderSource(config.evictionOrder, store)}); every contender starts from an empty cache`,
    '',
    renderTable(
      ['contender', 'downloaded', 're-downloaded', 'vs optimum', 'full-disk jobs', 'evictions'],
      runs.map((r) => [
        `${r.order === active ? '* ' : '  '}${r.name}`,
        formatBytes(r.outcome.downloadedBytes),
        formatBytes(r.outcome.redownloadedBytes),
        `${ratio(r.outcome).toFixed(2)}x`,
        String(r.outcome.fullDiskJobs),
        String(r.outcome.evictions),
      ]),
    ),
    '',
    `Compulsory (each layer once): ${formatBytes(optimum.compulsoryBytes)}. Full-disk jobs: needs whose pull would not have fit.`,
    ...notes.map((n) => `note: ${n}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
