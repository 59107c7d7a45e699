// Simulator section of the report: every trace family at several disk sizes, through the agent's planner and
// the baselines; then the eviction-order study on the CI-like trace.
import { formatBytes, formatDuration } from '../agent/core/units';
import { EvictionOrder, type OrderSetting } from '../agent/core/order';
import { AUTO_EVERY_MS, AUTO_INITIAL_ORDER, AUTO_WINDOW_MS, autoPlanner } from '../agent/core/auto';
import { agentPlanner, belady, fifo, offlineWatermark, plainLru, type Watermarks } from '../agent/core/contenders';
import { replay as simulate, type Contender, type ReplayOutcome as SimResult } from '../agent/core/replay';
import { noCleanup, periodicAgeBased, periodicPruneAll, rateOracle, watermarksFor } from './baselines';
import { median, times, type Table } from './report';
import { dailyWorkingSetBytes, generateTrace, uniqueBytes, type Trace, type TraceFamily } from './trace';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const MIN = 60_000;

/** What an operator of these runners would configure: bases protected, defaults otherwise. */
export const PROTECT = ['ci/base-*'];

export interface SimSettings {
  jobs: number;
  /** Jobs per seed in the order study (smaller: it replays 8 contenders on 3 disks per seed). */
  studyJobs: number;
  /** Jobs in the one long CI-like run. */
  longJobs: number;
  seed: number;
}

/** Disk sizes of the uniform and scan families, chosen where the contenders part ways; CI disks follow each trace (studyCapacity). */
const DISKS_GIB: Record<Exclude<TraceFamily, 'ci'>, number[]> = { uniform: [14, 21, 28], scan: [16, 24, 32] };

/** Mean time between jobs in the simulator, before a CI shape's pace (gapScale) multiplies it. */
const SIM_GAP_MS = 45_000;

export function simTrace(family: TraceFamily, jobs: number, seed: number): Trace {
  return generateTrace({ family, jobs, seed, unitBytes: MiB, meanGapMs: SIM_GAP_MS, minDurationMs: 2 * MIN, maxDurationMs: 15 * MIN });
}

/** The agent's default interval and min-age, on the operator's thresholds. */
export function simWatermarks(trace: Trace, capacityBytes: number): Watermarks {
  return watermarksFor(trace, capacityBytes, { intervalMs: 5 * MIN, minAgeMs: 10 * MIN });
}

export interface SimRow extends SimResult {
  family: TraceFamily;
  capacityBytes: number;
}

/** The agent as configured with `setting`: a fixed order, or `auto` choosing one from what it saw. */
export function agentContender(name: string, marks: Watermarks, setting: OrderSetting): Contender {
  return setting === 'auto'
    ? autoPlanner(name, { marks, protect: PROTECT }, AUTO_TIMING)
    : agentPlanner(name, { marks, protect: PROTECT, order: setting });
}

/** How the simulated agent runs `auto`: as the agent does (agent/eviction/order-learner.ts). */
const AUTO_TIMING = { everyMs: AUTO_EVERY_MS, windowMs: AUTO_WINDOW_MS, initial: AUTO_INITIAL_ORDER };

function contendersFor(marks: Watermarks, order: OrderSetting) {
  return [
    agentContender(`image-evictor (${order})`, marks, order),
    noCleanup,
    periodicPruneAll(60 * MIN),
    periodicAgeBased(60 * MIN, 60 * MIN),
    fifo(marks),
    plainLru(marks),
    offlineWatermark(marks, PROTECT),
    belady,
  ];
}

function row(r: SimRow, reference: SimResult, lru: SimResult | undefined): string[] {
  const re = (x: SimResult) => x.redownloadedBytes;
  return [
    r.contender,
    formatBytes(r.downloadedBytes),
    formatBytes(re(r)),
    times(r.downloadedBytes / reference.downloadedBytes),
    lru ? times(re(r) / re(lru)) : '',
    String(r.fullDiskJobs),
    String(r.evictions),
  ];
}

const HEADER = ['contender', 'downloaded', 're-downloaded', 'vs optimum', 're-dl vs LRU', 'full-disk jobs', 'evictions'];

/** Runs one trace on each disk size; returns rows and a table per disk. */
function runFamily(trace: Trace, order: OrderSetting, capacities: number[]): { rows: SimRow[]; tables: Table[] } {
  const rows: SimRow[] = [];
  const tables: Table[] = [];
  for (const capacityBytes of capacities) {
    const marks = simWatermarks(trace, capacityBytes);
    const results = contendersFor(marks, order).map((c) => ({ ...simulate(trace, capacityBytes, c), family: trace.family, capacityBytes }));
    rows.push(...results);
    const reference = results[results.length - 1] as SimResult;
    const lru = results.find((r) => r.contender === 'plain LRU');
    tables.push({
      title: `Simulator: ${trace.family}, ${trace.jobs.length} jobs, ${formatBytes(capacityBytes)} disk (low ${formatBytes(marks.lowBytes)}, target ${formatBytes(marks.targetBytes)})`,
      header: HEADER,
      rows: results.map((r) => row(r, reference, lru)),
      note: `Compulsory bytes (each distinct layer once): ${formatBytes(reference.compulsoryBytes)}. ${trace.images.length} images, ${formatBytes(uniqueBytes(trace.images))} of distinct layers.`,
    });
  }
  return { rows, tables };
}

export interface OrderStudy {
  tables: Table[];
  rows: SimRow[];
  /** Per contender and disk level: ratios to the offline order under the same watermarks, one per seed. */
  ratios: Map<string, number[]>;
  /** Per contender: the worst seed's bytes over plain LRU's. */
  worstVsLru: Map<string, number>;
}

/** Disk sizes of the study, relative to each trace: protected bases, the watermarks, and a share of the daily working set. */
const PRESSURES = [0.5, 1, 2];

/** The disk that holds the protected bases, the agent's headroom, and `share` of the daily working set. */
export function studyCapacity(trace: Trace, share: number): number {
  const bases = uniqueBytes(trace.images.filter((i) => i.ref.startsWith('ci/base-')));
  const working = dailyWorkingSetBytes(trace);
  // Solve capacity = bases + share * working + low + 5% headroom, with low = max(15%, 2 x largest).
  const guess = (bases + share * working) / 0.8;
  return Math.ceil(Math.max(guess, bases + share * working + watermarksFor(trace, guess, { intervalMs: 0, minAgeMs: 0 }).targetBytes));
}

export const STUDY_CONTENDERS: OrderSetting[] = ['auto', ...EvictionOrder.options];

/** The rate oracle's horizon: how many uses each image gets in the next day. */
const RATE_HORIZON_MS = 24 * 3_600_000;

/** The study's row for the best single order of each run, picked with hindsight: the floor for choosing one order per run. */
export const HINDSIGHT = 'best order per run, in hindsight';

/**
 * Every order, `auto`, plain LRU and the offline references through the real planner, on CI
 * traces whose shape each seed draws (bench/trace.ts drawCiShape), at three disk sizes.
 * Reports each contender's median and worst seed: the default is chosen by the worst case.
 */
export function studyOrders(settings: SimSettings & { seeds: number }, progress: (line: string) => void = () => undefined): OrderStudy {
  const rows: SimRow[] = [];
  const seeds = Array.from({ length: settings.seeds }, (_, i) => settings.seed + i);
  const ratios = new Map<string, number[]>();
  const vsLru = new Map<string, number[]>();
  const perPressure = new Map<string, Map<number, number[]>>();
  const push = <K>(map: Map<K, number[]>, key: K, value: number) => map.set(key, [...(map.get(key) ?? []), value]);
  for (const seed of seeds) {
    const trace = simTrace('ci', settings.studyJobs, seed);
    for (const pressure of PRESSURES) {
      const capacityBytes = studyCapacity(trace, pressure);
      const marks = simWatermarks(trace, capacityBytes);
      const lru = simulate(trace, capacityBytes, plainLru(marks));
      const reference = simulate(trace, capacityBytes, offlineWatermark(marks, PROTECT));
      const results = [
        ...STUDY_CONTENDERS.map((o) => simulate(trace, capacityBytes, agentContender(o, marks, o))),
        lru,
        reference,
        simulate(trace, capacityBytes, rateOracle(trace, marks, PROTECT, RATE_HORIZON_MS)),
        simulate(trace, capacityBytes, belady),
      ];
      rows.push(...results.map((r) => ({ ...r, family: 'ci' as const, capacityBytes })));
      // The floor of any way of choosing among the orders: each run's best, known afterwards.
      const orders = results.filter((r) => (EvictionOrder.options as readonly string[]).includes(r.contender));
      const hindsight = { ...orders.reduce((a, b) => (b.downloadedBytes < a.downloadedBytes ? b : a)), contender: HINDSIGHT };
      for (const r of [...results, hindsight]) {
        const ratio = r.downloadedBytes / reference.downloadedBytes;
        push(ratios, r.contender, ratio);
        push(vsLru, r.contender, r.downloadedBytes / lru.downloadedBytes);
        const byPressure = perPressure.get(r.contender) ?? new Map<number, number[]>();
        push(byPressure, pressure, ratio);
        perPressure.set(r.contender, byPressure);
      }
    }
    progress(`order study: seed ${seed} done (${seed - settings.seed + 1}/${seeds.length})`);
  }
  const worst = (values: number[]) => Math.max(...values);
  const worstVsLru = new Map([...vsLru].map(([name, values]) => [name, worst(values)]));
  const summary: string[][] = [...ratios].map(([name, values]) => [
    name,
    times(median(values)),
    times(worst(values)),
    ...PRESSURES.map((p) => times(worst(perPressure.get(name)?.get(p) ?? []))),
    times(median(vsLru.get(name) ?? [])),
    times(worstVsLru.get(name) ?? NaN),
  ]);
  const shapes: string[][] = seeds.map((seed) => {
    const shape = simTrace('ci', 10, seed).shape;
    return shape
      ? [String(seed), formatDuration(SIM_GAP_MS * shape.gapScale), shape.fadeMs === 0 ? 'dead at once' : `${(shape.fadeMs / 3_600_000).toFixed(1)} h`, shape.oldWeight.toFixed(2), `${(shape.retryShare * 100).toFixed(0)}%`, String(shape.branches), String(shape.pipelines), shape.zipf.toFixed(2), `${(shape.oneOffShare * 100).toFixed(0)}%`, `${(shape.baseShare * 100).toFixed(0)}%`, shape.sizeScale.toFixed(2)]
      : [String(seed)];
  });
  return {
    rows,
    ratios,
    worstVsLru,
    tables: [
      {
        title: `Eviction orders over ${seeds.length} randomized CI traces (seeds ${seeds[0]}-${seeds[seeds.length - 1]}, ${settings.studyJobs} jobs each, 3 disk sizes): downloaded vs the offline order under the same watermarks`,
        header: ['contender', 'median', 'worst', ...PRESSURES.map((p) => `worst, disk ${p}x working set`), 'vs plain LRU (median)', 'vs plain LRU (worst seed)'],
        rows: summary,
        note: 'The reference evicts farthest-next-need first under the agent\'s trigger, thresholds and protect list: near the best any order can do there (it ignores sizes, so an order can now and then beat it). The hindsight row takes each run\'s best single order, known afterwards: no choice of one order per run does better (switching within a run could, a little). The rate oracle knows how many times each image is used in the next 24 h (not when) and removes the least used first: what a perfect estimate of the coming use rate would give an online order. Protect `ci/base-*` for every contender but plain LRU and Belady; the offline order and the rate oracle take protected images only in emergency, as the agent does. Disk sizes: the protected bases, the agent\'s low and target headroom, and 0.5x, 1x or 2x the median daily working set (images used at least twice a day).',
      },
      {
        title: 'The CI shapes the study drew (bench/trace.ts drawCiShape)',
        header: ['seed', 'mean job gap', 'old versions fade', 'old weight', 'retries', 'branches', 'pipelines', 'Zipf', 'one-offs', 'bases', 'size scale'],
        rows: shapes,
      },
    ],
  };
}

export interface SimSection {
  tables: Table[];
  rows: SimRow[];
}

/** The whole simulator section. */
export function runSimulator(settings: SimSettings, order: OrderSetting): SimSection {
  const tables: Table[] = [];
  const rows: SimRow[] = [];
  for (const family of ['ci', 'uniform', 'scan'] as const) {
    const trace = simTrace(family, settings.jobs, settings.seed);
    const result = runFamily(trace, order, family === 'ci' ? PRESSURES.map((p) => studyCapacity(trace, p)) : DISKS_GIB[family].map((g) => g * GiB));
    tables.push(...result.tables);
    rows.push(...result.rows);
  }
  // One long CI-like run, on the middle disk size.
  const longTrace = simTrace('ci', settings.longJobs, settings.seed);
  const long = runFamily(longTrace, order, [studyCapacity(longTrace, 1)]);
  return { tables: [...tables, ...long.tables], rows: [...rows, ...long.rows] };
}
