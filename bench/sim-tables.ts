// Simulator section of the report: every trace family at several disk sizes, through the agent's planner and
// the baselines; then the eviction-order study on the CI-like trace.
import { formatBytes } from '../agent/core/units';
import { EvictionOrder } from '../agent/core/order';
import {
  agentPlanner,
  belady,
  fifo,
  noCleanup,
  offlineWatermark,
  periodicAgeBased,
  periodicPruneAll,
  plainLru,
  watermarksFor,
  type Watermarks,
} from './contenders';
import { times, type Table } from './report';
import { simulate, type SimResult } from './simulator';
import { replayTrace, replayWatermarks } from './replay';
import { generateTrace, uniqueBytes, type Trace, type TraceFamily } from './trace';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const MIN = 60_000;

/** What an operator of these runners would configure: bases protected, defaults otherwise. */
export const PROTECT = ['ci/base-*'];

export interface SimSettings {
  jobs: number;
  /** Jobs in the one long CI-like run. */
  longJobs: number;
  seed: number;
}

/** Disk sizes per family, chosen where the contenders part ways (larger disks need no eviction). */
const DISKS_GIB: Record<TraceFamily, number[]> = { ci: [12, 16, 20], uniform: [14, 21, 28], scan: [16, 24, 32] };

export function simTrace(family: TraceFamily, jobs: number, seed: number): Trace {
  return generateTrace({ family, jobs, seed, unitBytes: MiB, meanGapMs: 45_000, minDurationMs: 2 * MIN, maxDurationMs: 15 * MIN });
}

/** The agent's default interval and min-age, on the operator's thresholds. */
function simWatermarks(trace: Trace, capacityBytes: number): Watermarks {
  return watermarksFor(trace, capacityBytes, { intervalMs: 5 * MIN, minAgeMs: 10 * MIN });
}

export interface SimRow extends SimResult {
  family: TraceFamily;
  capacityBytes: number;
}

function contendersFor(marks: Watermarks, order: EvictionOrder) {
  return [
    agentPlanner(`image-evictor (${order})`, marks, PROTECT, order),
    noCleanup,
    periodicPruneAll(60 * MIN),
    periodicAgeBased(60 * MIN, 60 * MIN),
    fifo(marks),
    plainLru(marks),
    offlineWatermark(marks),
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
function runFamily(trace: Trace, order: EvictionOrder, disksGib: number[]): { rows: SimRow[]; tables: Table[] } {
  const rows: SimRow[] = [];
  const tables: Table[] = [];
  for (const gib of disksGib) {
    const capacityBytes = gib * GiB;
    const marks = simWatermarks(trace, capacityBytes);
    const results = contendersFor(marks, order).map((c) => ({ ...simulate(trace, capacityBytes, c), family: trace.family, capacityBytes }));
    rows.push(...results);
    const reference = results[results.length - 1] as SimResult;
    const lru = results.find((r) => r.contender === 'plain LRU');
    tables.push({
      title: `Simulator: ${trace.family}, ${trace.jobs.length} jobs, ${gib} GiB disk (low ${formatBytes(marks.lowBytes)}, target ${formatBytes(marks.targetBytes)})`,
      header: HEADER,
      rows: results.map((r) => row(r, reference, lru)),
      note: `Compulsory bytes (each distinct layer once): ${formatBytes(reference.compulsoryBytes)}. ${trace.images.length} images, ${formatBytes(uniqueBytes(trace.images))} of distinct layers.`,
    });
  }
  return { rows, tables };
}

export interface OrderStudy {
  table: Table;
  rows: SimRow[];
}

interface Regime {
  label: string;
  trace: (seed: number) => Trace;
  capacitiesBytes: number[];
  marks: (trace: Trace, capacityBytes: number) => Watermarks;
}

const mean = (values: number[]) => (values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length);

/** Every eviction order through the real planner, on CI-like traces of several seeds and two scales. */
export function studyOrders(settings: SimSettings): OrderStudy {
  const rows: SimRow[] = [];
  const tableRows: string[][] = [];
  const seeds = Array.from({ length: 5 }, (_, i) => settings.seed + i);
  const regimes: Regime[] = [
    { label: `${settings.jobs} jobs`, trace: (seed) => simTrace('ci', settings.jobs, seed), capacitiesBytes: DISKS_GIB.ci.map((g) => g * GiB), marks: simWatermarks },
    // The real replay's scale: 300 jobs, 128 KiB units, the free space of 1.5 and 2 GiB ext4.
    { label: '300 jobs (replay scale)', trace: (seed) => replayTrace({ jobs: 300, seed }), capacitiesBytes: [1.42 * GiB, 1.9 * GiB], marks: replayWatermarks },
  ];
  for (const regime of regimes) {
    for (const capacityBytes of regime.capacitiesBytes) {
      const ratios = new Map<string, number[]>();
      const reRatios = new Map<string, number[]>();
      for (const seed of seeds) {
        const trace = regime.trace(seed);
        const marks = regime.marks(trace, capacityBytes);
        const results = [
          ...EvictionOrder.options.map((o) => simulate(trace, capacityBytes, agentPlanner(o, marks, PROTECT, o))),
          simulate(trace, capacityBytes, plainLru(marks)),
          simulate(trace, capacityBytes, offlineWatermark(marks)),
          simulate(trace, capacityBytes, belady),
        ];
        rows.push(...results.map((r) => ({ ...r, family: 'ci' as const, capacityBytes })));
        const optimum = results[results.length - 1] as SimResult;
        const lru = results[results.length - 3] as SimResult;
        const reLru = lru.redownloadedBytes;
        for (const r of results) {
          ratios.set(r.contender, [...(ratios.get(r.contender) ?? []), r.downloadedBytes / optimum.downloadedBytes]);
          // Seeds where plain LRU re-downloads nothing say nothing about this ratio.
          if (reLru > 0) reRatios.set(r.contender, [...(reRatios.get(r.contender) ?? []), r.redownloadedBytes / reLru]);
        }
      }
      for (const [name, values] of ratios) {
        tableRows.push([regime.label, formatBytes(capacityBytes), name, ...values.map(times), times(mean(values)), times(mean(reRatios.get(name) ?? []))]);
      }
    }
  }
  return {
    rows,
    table: {
      title: `Eviction orders through the planner, CI-like traces, seeds ${seeds[0]}-${seeds[seeds.length - 1]}: downloaded vs the offline optimum`,
      header: ['trace', 'disk', 'order', ...seeds.map((s) => `seed ${s}`), 'mean', 're-dl vs plain LRU (mean)'],
      rows: tableRows,
      note: 'Protect `ci/base-*` for every order. "offline order, agent trigger" evicts farthest-next-need first under the agent\'s thresholds: the best any order can do there; the gap from it to the optimum is the free-space headroom the thresholds keep.',
    },
  };
}

export interface SimSection {
  tables: Table[];
  rows: SimRow[];
  study: OrderStudy;
}

/** The whole simulator section. */
export function runSimulator(settings: SimSettings, order: EvictionOrder): SimSection {
  const tables: Table[] = [];
  const rows: SimRow[] = [];
  for (const family of ['ci', 'uniform', 'scan'] as const) {
    const result = runFamily(simTrace(family, settings.jobs, settings.seed), order, DISKS_GIB[family]);
    tables.push(...result.tables);
    rows.push(...result.rows);
  }
  // One long CI-like run, on the middle disk size.
  const long = runFamily(simTrace('ci', settings.longJobs, settings.seed), order, [DISKS_GIB.ci[1] as number]);
  return { tables: [...tables, ...long.tables], rows: [...rows, ...long.rows], study: studyOrders(settings) };
}
