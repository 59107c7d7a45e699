// History section: one simulated year of a busy runner applied through the real store (every
// pull, use and removal a record change, compaction at every simulated hour as the agent's
// checks do), then `simulate` over its last 30 days as a new process, and the agent's idle
// memory with a whole year kept. Shows the history stays bounded and cheap.
import { execFileSync } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ImageRecord, Layer } from '../agent/core/image';
import { imageBytes } from '../agent/core/replay';
import { measureDisk } from '../agent/disk/disk';
import { liveImageBytes } from '../agent/eviction/order-learner';
import { EvictionOrder } from '../agent/core/order';
import { used } from '../agent/core/usage';
import { formatBytes, formatDuration } from '../agent/core/units';
import { silentLog } from '../agent/log';
import { openStore, type Store } from '../agent/state/store';
import { startAgent } from '../test/harness/cli';
import { waitFor } from '../test/harness/proc';
import { makeTestDir } from '../test/harness/tmp';
import type { Engine } from '../test/harness/engine';
import { serviceEnv } from './overhead';
import { watchProc } from './procstat';
import { median, type Table } from './report';
import { seededRandom } from './trace';
import { PROTECT, simTrace, simWatermarks, studyCapacity } from './sim-tables';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MiB = 2 ** 20;
/** A busy runner: 3,300 jobs a day, each a use, some a pull, some an eviction (`--quick`: 300). */
const BUSY_JOBS_PER_DAY = 3300;
const REPOSITORIES = 300;
const LIVE_IMAGES = 400;

export interface HistoryFigures {
  events: number;
  atMonth: Snapshot;
  atYear: Snapshot;
  /** The same year with `history: 365d`: nothing compacted but the records of evicted images. */
  yearKept: Snapshot;
  simulateMs: number;
  simulateEvents: number;
  /** The same on the order study's seed 15 shape (SHAPE_SEED): a harder month. */
  shapeSimulate: ShapeSimulate;
  agentIdleRssBytes: number;
}

interface Snapshot {
  dbBytes: number;
  historyEvents: number;
  imageRows: number;
  /** What a check's survey reads from the store: live records and layers, uses per repository over all records. */
  surveyReadMs: number;
  rssBytes: number;
}

function dbBytes(path: string): number {
  return ['', '-wal'].reduce((sum, suffix) => sum + (statSync(path + suffix, { throwIfNoEntry: false })?.size ?? 0), 0);
}

function snapshot(store: Store, path: string): Snapshot {
  const times: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    const started = performance.now();
    store.liveImages();
    store.liveLayers();
    store.repositoryUses();
    times.push(performance.now() - started);
  }
  return { dbBytes: dbBytes(path), historyEvents: store.historyBounds().events, imageRows: store.images().size, surveyReadMs: median(times), rssBytes: process.memoryUsage().rss };
}

/**
 * Applies a year ending now: each job uses its repository's current version; a repository builds
 * a new version now and then (a pull); past LIVE_IMAGES the least recently used image is removed.
 */
function applyYear(store: Store, endMs: number, historyMs: number, jobsPerDay: number, onMonth: () => void): void {
  const random = seededRandom(2026);
  const startMs = endMs - 365 * DAY_MS;
  const weights = Array.from({ length: REPOSITORIES }, (_, r) => 1 / (r + 1) ** 0.9);
  const total = weights.reduce((a, b) => a + b, 0);
  const pickRepo = () => {
    let x = random() * total;
    return Math.max(0, weights.findIndex((w) => (x -= w) < 0));
  };
  const current = new Map<number, ImageRecord>();
  const live = new Map<string, ImageRecord>();
  let imageCount = 0;
  let nextCompactionMs = startMs + HOUR_MS;
  const jobs = 365 * jobsPerDay;
  for (let j = 0; j < jobs; j += 1) {
    const atMs = startMs + Math.floor((j * DAY_MS) / jobsPerDay);
    if (atMs >= nextCompactionMs) {
      store.compactHistory(atMs - historyMs, 1_000_000_000);
      nextCompactionMs += HOUR_MS;
    }
    if (j === 30 * jobsPerDay) onMonth();
    const repo = pickRepo();
    let image = current.get(repo);
    if (image === undefined || !live.has(image.id) || random() < 0.03) {
      imageCount += 1;
      const id = `sha256:${imageCount.toString(16).padStart(64, '0')}`;
      image = { id, repoTags: [`registry.example/team/app${repo}:v${imageCount}`], repoDigests: [], sizeBytes: 300 * MiB, createdMs: atMs - HOUR_MS, firstSeenMs: atMs, lastPulledMs: atMs, lastUsedMs: null, useCount: 0, useScore: 0, removedMs: null };
      const layers: Layer[] = [
        { chainId: `base${repo % 6}`, sizeBytes: 200 * MiB },
        { chainId: `deps${repo}`, sizeBytes: 80 * MiB },
        { chainId: `top${imageCount}`, sizeBytes: 20 * MiB },
      ];
      store.save([image]);
      store.saveLayers([[id, layers]]);
      current.set(repo, image);
    }
    image = used(image, atMs, true);
    store.save([image]);
    current.set(repo, image);
    live.set(image.id, image);
    if (live.size > LIVE_IMAGES) {
      let oldest: ImageRecord | null = null;
      for (const r of live.values()) if (oldest === null || (r.lastUsedMs ?? 0) < (oldest.lastUsedMs ?? 0)) oldest = r;
      const gone = oldest as ImageRecord;
      live.delete(gone.id);
      store.save([{ ...gone, removedMs: atMs }]);
    }
  }
}

/** The order study's seed whose month `simulate` found hardest (busy, many images, many evictions). */
const SHAPE_SEED = 15;
const SHAPE_JOBS = 100_000;

interface ShapeSimulate {
  events: number;
  needs: number;
  ms: number;
  /** Evictions per contender, fewest and most: shows the month was replayed on a disk under pressure. */
  evictions: [number, number];
}

/**
 * Records SHAPE_SEED's CI trace through the real store as the agent would (a pull when an image is
 * absent, a use per job, removals least recently used first past the study's middle disk), then
 * times `simulate --since 30d` on it as a new process, on that disk and its thresholds.
 */
async function simulateOnShape(dir: string, log: (line: string) => void): Promise<ShapeSimulate> {
  const path = join(dir, 'shape.db');
  const trace = simTrace('ci', SHAPE_JOBS, SHAPE_SEED);
  const capacityBytes = studyCapacity(trace, 1);
  const marks = simWatermarks(trace, capacityBytes);
  const endMs = Date.now() - 60_000;
  const shift = endMs - (trace.jobs[trace.jobs.length - 1] as { atMs: number }).atMs;
  const { store } = openStore(path, silentLog, Date.now());
  const images = new Map(trace.images.map((i) => [i.id, i]));
  const live = new Map<string, ImageRecord>();
  const known = new Map<string, ImageRecord>();
  let usedBytes = 0;
  log(`history: recording seed ${SHAPE_SEED}'s ${SHAPE_JOBS} jobs through the store`);
  for (const job of trace.jobs) {
    const atMs = job.atMs + shift;
    const image = images.get(job.imageId) as (typeof trace.images)[number];
    let record = live.get(image.id);
    if (record === undefined) {
      const before = known.get(image.id);
      record = { id: `sha256:${Buffer.from(image.id).toString('hex').padStart(64, '0')}`, repoTags: image.repoTags, repoDigests: [], sizeBytes: imageBytes(image), createdMs: Math.round(image.createdMs + shift), firstSeenMs: before?.firstSeenMs ?? atMs, lastPulledMs: atMs, lastUsedMs: before?.lastUsedMs ?? null, useCount: before?.useCount ?? 0, useScore: before?.useScore ?? 0, removedMs: null };
      store.save([record]);
      store.saveLayers([[record.id, image.layers.map((l) => ({ chainId: l.id, sizeBytes: l.sizeBytes }))]]);
      usedBytes += record.sizeBytes;
    }
    record = used(record, atMs, true);
    store.save([record]);
    live.set(image.id, record);
    known.set(image.id, record);
    while (usedBytes > capacityBytes - marks.lowBytes) {
      let oldest: [string, ImageRecord] | null = null;
      for (const entry of live) if (entry[0] !== image.id && (oldest === null || (entry[1].lastUsedMs ?? 0) < (oldest[1].lastUsedMs ?? 0))) oldest = entry;
      if (oldest === null) break;
      const gone = { ...oldest[1], removedMs: atMs };
      live.delete(oldest[0]);
      known.set(oldest[0], gone);
      usedBytes -= gone.sizeBytes;
      store.save([gone]);
    }
  }
  const events = store.historyBounds().events;
  // simulate replays on the disk less what is not images on it now: give it the disk that leaves the study's capacity.
  const disk = await measureDisk(dir);
  const notImages = disk.totalBytes - disk.freeBytes - liveImageBytes(store.liveImages().values(), store.liveLayers());
  store.close();
  const cli = join(__dirname, '..', 'agent', 'cli', 'main.js');
  const args = ['--state', path, '--path', dir, '--protect', PROTECT.join(','), '--low-free', `${marks.lowBytes}B`, '--target-free', `${marks.targetBytes}B`, 'simulate', '--since', '30d', '--disk', `${Math.max(0, notImages) + capacityBytes}B`];
  log(`history: simulate on seed ${SHAPE_SEED}'s month as a new process: ${args.join(' ')}`);
  const started = performance.now();
  const out = execFileSync(process.execPath, [cli, ...args, '--json'], { maxBuffer: 1 << 24 }).toString();
  const ms = performance.now() - started;
  const result = JSON.parse(out) as { needs: number; contenders: Array<{ evictions: number }> };
  const evictions = result.contenders.map((c) => c.evictions);
  return { events, needs: result.needs, ms, evictions: [Math.min(...evictions), Math.max(...evictions)] };
}

/** History rows ever written to the DB, compacted or not: rowids only grow while the newest row stays. */
function historyEventsWritten(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT MAX(seq) AS n FROM history').get() as { n: number | null }).n ?? 0;
  } finally {
    db.close();
  }
}

export async function runHistorySoak(engine: Engine, quick: boolean, log: (line: string) => void): Promise<{ figures: HistoryFigures; table: Table }> {
  const dir = makeTestDir('bench-history');
  try {
    const endMs = Date.now();
    const jobsPerDay = quick ? 300 : BUSY_JOBS_PER_DAY;
    // The default window: 30 days kept, compacted hourly.
    const path = join(dir, 'month.db');
    const { store } = openStore(path, silentLog, endMs);
    let atMonth: Snapshot | null = null;
    log('history: applying a year of a busy runner with history 30d');
    applyYear(store, endMs, 30 * DAY_MS, jobsPerDay, () => (atMonth = snapshot(store, path)));
    store.compactHistory(endMs - 30 * DAY_MS, 1_000_000_000);
    const atYear = snapshot(store, path);
    store.close();
    const events = historyEventsWritten(path);
    log('history: the same year with history 365d');
    const yearPath = join(dir, 'year.db');
    const year = openStore(yearPath, silentLog, endMs).store;
    applyYear(year, endMs, 365 * DAY_MS, jobsPerDay, () => undefined);
    const yearKept = snapshot(year, yearPath);
    year.close();
    log('history: simulate --since 30d as a new process');
    const cli = join(__dirname, '..', 'agent', 'cli', 'main.js');
    const started = performance.now();
    const out = execFileSync(process.execPath, [cli, 'simulate', '--since', '30d', '--state', path, '--path', dir, '--json'], { maxBuffer: 1 << 24 }).toString();
    const simulateMs = performance.now() - started;
    const simulateEvents = (JSON.parse(out) as { needs: number }).needs;
    const shapeSimulate = await simulateOnShape(dir, log);
    log('history: agent idle with a year of history');
    // As the systemd unit runs it (its NODE_OPTIONS), as the overhead section measures idle RSS.
    const agent = startAgent(['--docker-host', engine.host, '--state', yearPath, '--history', '365d', '--path', engine.dataRoot, '--log-level', 'info'], ['--interval', '1h'], serviceEnv());
    let agentIdleRssBytes = 0;
    try {
      // The first check reconciles and lets auto choose over the last 3 days of the year.
      await waitFor('auto\'s first choice', () => (agent.logs.some((l) => l.message.startsWith('eviction_order_')) ? true : undefined), 300_000);
      await sleep(5000);
      const window = await watchProc(agent.child.pid as number, 1000, sleep(20_000));
      agentIdleRssBytes = window.medianRssBytes;
    } finally {
      await agent.stop();
    }
    const figures: HistoryFigures = { events, atMonth: atMonth as unknown as Snapshot, atYear, yearKept, simulateMs, simulateEvents, shapeSimulate, agentIdleRssBytes };
    const row = (label: string, s: Snapshot) => [label, formatBytes(s.dbBytes), String(s.historyEvents), String(s.imageRows), `${s.surveyReadMs.toFixed(1)} ms`, formatBytes(s.rssBytes)];
    return {
      figures,
      table: {
        title: `History: one year of a busy runner (${events} events written: pulls, uses, removals) through the real store`,
        header: ['moment', 'DB size', 'history events kept', 'image rows', 'survey read (median of 5)', 'bench RSS'],
        rows: [row('after 30 days (history 30d)', figures.atMonth), row('after 365 days (history 30d)', atYear), row('after 365 days (history 365d)', yearKept)],
        note: `Compaction at every simulated hour, as the agent's checks do. \`simulate --since 30d\` as a new process over the 30-day DB (${atYear.historyEvents} events): ${simulateEvents} needs (uses of one image less than a minute apart are one) replayed under ${EvictionOrder.options.length} orders and 3 references in ${formatDuration(simulateMs)}; on the order study's seed ${SHAPE_SEED} shape (${SHAPE_JOBS} jobs recorded through the store: ${shapeSimulate.events} events, ${shapeSimulate.needs} needs, its middle disk: ${shapeSimulate.evictions[0]}-${shapeSimulate.evictions[1]} evictions per contender) in ${formatDuration(shapeSimulate.ms)}. Agent idle RSS with the 365-day DB: ${formatBytes(agentIdleRssBytes)}.`,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
