// Overhead section: the agent's memory and CPU idle and under a burst of 10,000 real Docker
// events, the tracker's ingest rate into SQLite, planning time and `status` time at 10,000 images.
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { formatBytes, formatDuration } from '../agent/core/units';
import type { DockerEvent, ImageRecord } from '../agent/core/image';
import { plan, type PlannerImage } from '../agent/core/planner';
import { createDockerClient } from '../agent/docker/client';
import { silentLog } from '../agent/log';
import { openStore } from '../agent/state/store';
import { ingest } from '../agent/tracking/events';
import { createTracker } from '../agent/tracking/tracker';
import { cli, startAgent } from '../test/harness/cli';
import { makeTestDir } from '../test/harness/tmp';
import { startEngine, type Engine } from '../test/harness/engine';
import { runOk, waitFor } from '../test/harness/proc';
import { watchProc, type ProcWindow } from './procstat';
import { median, type Table } from './report';

const GiB = 2 ** 30;
const IMAGES = 10_000;
const BURST_EVENTS = 10_000;
const BURST_IMAGES = 100;

export interface OverheadFigures {
  idle: ProcWindow;
  burst: ProcWindow;
  /** From the first burst event until the agent's cursor passed the last one. */
  burstIngestMs: number;
  ingestEventsPerSecond: number;
  ingestEventsPerSecondWith10k: number;
  planMedianMs: number;
  statusMedianMs: number;
}

/** The environment systemd/image-evictor.service gives the agent, so the bench measures the service as installed. */
export function serviceEnv(): NodeJS.ProcessEnv {
  const unit = readFileSync(join(__dirname, '..', '..', 'systemd', 'image-evictor.service'), 'utf8');
  return Object.fromEntries([...unit.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1] as string, m[2] as string]));
}

/** Records for `count` images tracked over the last month, as a busy runner would have. */
function syntheticRecords(count: number, nowMs: number): ImageRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `sha256:${i.toString(16).padStart(64, '0')}`,
    repoTags: [`registry.example/group${i % 50}/app${i}:v${i % 7}`],
    repoDigests: [],
    sizeBytes: (100 + (i % 900)) * 2 ** 20,
    createdMs: nowMs - 90 * 86_400_000 + i,
    firstSeenMs: nowMs - 30 * 86_400_000 + i * 100,
    lastPulledMs: nowMs - 30 * 86_400_000 + i * 100,
    lastUsedMs: nowMs - ((i * 7919) % (30 * 86_400)) * 1000,
    useCount: i % 5,
    useScore: (i % 5) / 4,
    removedMs: null,
  }));
}

/** plan() for 10,000 images under pressure, so every image is ranked and the whole order walked. */
function measurePlan(nowMs: number): number {
  const images: PlannerImage[] = syntheticRecords(IMAGES, nowMs).map((record, i) => ({
    record,
    // Fifty bases shared by the images of a group, plus one layer of their own.
    layers: [
      { chainId: `base${i % 50}`, sizeBytes: 500 * 2 ** 20 },
      { chainId: `own${i}`, sizeBytes: record.sizeBytes },
    ],
    containerCount: i % 100 === 0 ? 1 : 0,
  }));
  const runs: number[] = [];
  for (let i = 0; i < 15; i += 1) {
    const start = performance.now();
    plan({
      nowMs,
      images,
      disk: { totalBytes: 10_000 * GiB, freeBytes: 0, totalInodes: 1e9, freeInodes: 1e9 },
      thresholds: { lowFree: { kind: 'ratio', ratio: 0.15 }, targetFree: { kind: 'ratio', ratio: 0.25 }, lowFreeInodesRatio: 0.05, targetFreeInodesRatio: 0.1 },
      minAgeMs: 600_000,
      protect: ['registry.example/group1/**'],
      mode: 'auto',
      includeProtected: false,
    });
    runs.push(performance.now() - start);
  }
  return median(runs);
}

/** A state DB holding 10,000 live records. */
function seededStore(path: string, nowMs: number): void {
  const { store } = openStore(path, silentLog, nowMs);
  store.save(syntheticRecords(IMAGES, nowMs));
  store.close();
}

/** Wall time of `status` (a new process each run) over a DB of 10,000 images. */
async function measureStatus(dbPath: string): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    const start = performance.now();
    // Docker unreachable on purpose: a reachable engine would mark the synthetic images removed.
    const ran = await cli(['status', '--state', dbPath, '--docker-host', 'unix:///nonexistent/docker.sock']);
    runs.push(performance.now() - start);
    if (!ran.stdout.includes('app9999')) throw new Error(`status did not list the 10,000 images (exit ${ran.code}): ${ran.stderr.slice(-400)}`);
  }
  return median(runs);
}

/** Applies the recorded events through a fresh tracker onto `dbPath`; events per second. */
async function measureIngest(engine: Engine, events: DockerEvent[], dbPath: string, nowMs: number): Promise<number> {
  const { store } = openStore(dbPath, silentLog, nowMs);
  const tracker = createTracker({ docker: createDockerClient(engine.host), store, log: silentLog });
  const start = performance.now();
  // The agent's own path: in order, with overlapping Docker lookups (agent/tracking/events.ts).
  await ingest(tracker, events);
  const seconds = (performance.now() - start) / 1000;
  store.close();
  return events.length / seconds;
}

function cursorOf(dbPath: string): bigint {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT value FROM meta WHERE key = 'event_cursor_nano'").get() as { value: string } | undefined;
    return BigInt(row?.value ?? '0');
  } finally {
    db.close();
  }
}

/** Runs the overhead measurements on a private engine. */
export async function runOverhead(log: (line: string) => void): Promise<{ figures: OverheadFigures; table: Table }> {
  const nowMs = Date.now();
  log('overhead: planning 10,000 images');
  const planMedianMs = measurePlan(nowMs);
  const work = makeTestDir('bench-overhead');
  const engine = await startEngine({ diskBytes: GiB, label: 'overhead' });
  let agent: ReturnType<typeof startAgent> | null = null;
  try {
    // A hundred tiny images, imported (no registry needed); the burst tags and untags them.
    mkdirSync(join(work, 'root', 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(work, 'root', 'bin', 'busybox'));
    const imageIds: string[] = [];
    const docker = createDockerClient(engine.host);
    for (let i = 0; i < BURST_IMAGES; i += 1) {
      writeFileSync(join(work, 'root', 'id'), String(i));
      await runOk('tar', ['-C', join(work, 'root'), '-cf', join(work, 'tiny.tar'), 'bin', 'id']);
      await engine.docker(['import', join(work, 'tiny.tar'), `bench/tiny${i}:1`]);
      const id = (await docker.inspectImage(`bench/tiny${i}:1`))?.id;
      if (id === undefined) throw new Error(`imported image bench/tiny${i}:1 is missing`);
      imageIds.push(id);
    }

    const agentDb = join(work, 'agent.db');
    agent = startAgent(['--docker-host', engine.host, '--state', agentDb, '--path', engine.dataRoot], ['--interval', '5m'], serviceEnv());
    await agent.waitForLog('docker_events_connected');
    const pid = agent.child.pid as number;
    await sleep(3000);
    log('overhead: agent idle for 20 s');
    const idle = await watchProc(pid, 500, sleep(20_000));

    // Record the burst's events as Docker sends them, to replay through a tracker afterwards.
    const abort = new AbortController();
    const recorded: DockerEvent[] = [];
    const stream = await docker.events(null, abort.signal);
    const recording = (async () => {
      for await (const event of stream) recorded.push(event);
    })().catch(() => undefined);
    log(`overhead: burst of ${BURST_EVENTS} tag/untag events`);
    const burstStart = performance.now();
    const burstDone = (async () => {
      const tags = Array.from({ length: BURST_EVENTS / 2 }, (_, i) => `bench/burst:${i}`);
      const owner = (i: number) => imageIds[i % BURST_IMAGES] as string;
      for (let i = 0; i < tags.length; i += 16) await Promise.all(tags.slice(i, i + 16).map((t, k) => docker.tagImage(owner(i + k), t)));
      for (let i = 0; i < tags.length; i += 16) await Promise.all(tags.slice(i, i + 16).map((t) => docker.removeImage(t)));
      await waitFor('all burst events recorded', () => (recorded.length >= BURST_EVENTS ? true : undefined), 60_000);
      const last = recorded.reduce((max, e) => (BigInt(e.timeNano) > max ? BigInt(e.timeNano) : max), 0n);
      await waitFor('the agent to apply the burst', () => (cursorOf(agentDb) >= last ? true : undefined), 600_000);
    })();
    const burst = await watchProc(pid, 250, burstDone);
    const burstIngestMs = performance.now() - burstStart;
    abort.abort();
    await recording;
    const events = recorded.slice(0, BURST_EVENTS);

    log('overhead: ingest through a fresh tracker (empty DB, then 10,000 images)');
    const ingestEventsPerSecond = await measureIngest(engine, events, join(work, 'ingest-empty.db'), nowMs);
    const seeded = join(work, 'ingest-10k.db');
    seededStore(seeded, nowMs);
    const ingestEventsPerSecondWith10k = await measureIngest(engine, events, seeded, nowMs);
    const statusDb = join(work, 'status.db');
    seededStore(statusDb, nowMs);
    log('overhead: status over 10,000 images');
    const statusMedianMs = await measureStatus(statusDb);

    const figures = { idle, burst, burstIngestMs, ingestEventsPerSecond, ingestEventsPerSecondWith10k, planMedianMs, statusMedianMs };
    return { figures, table: overheadTable(figures) };
  } finally {
    await agent?.stop();
    await engine.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function overheadTable(f: OverheadFigures): Table {
  const pass = (ok: boolean) => (ok ? 'met' : 'NOT met');
  return {
    title: 'Overhead',
    header: ['measure', 'value', 'target', ''],
    rows: [
      ['agent RSS idle (median of 40 samples)', formatBytes(f.idle.medianRssBytes), '< 80 MB', pass(f.idle.medianRssBytes < 80e6)],
      ['agent CPU idle', `${(f.idle.cpuShare * 100).toFixed(2)}% of a core`, '', ''],
      [`agent RSS during ${BURST_EVENTS} events (median / peak)`, `${formatBytes(f.burst.medianRssBytes)} / ${formatBytes(f.burst.peakRssBytes)}`, '', ''],
      ['agent CPU during the burst', `${(f.burst.cpuShare * 100).toFixed(0)}% of a core`, '', ''],
      ['burst: first event until the agent applied the last', formatDuration(Math.round(f.burstIngestMs)), '', ''],
      ['ingest through the tracker, empty DB', `${Math.round(f.ingestEventsPerSecond)} events/s`, '>= 5000 events/s', pass(f.ingestEventsPerSecond >= 5000)],
      ['ingest through the tracker, 10,000 images in DB', `${Math.round(f.ingestEventsPerSecondWith10k)} events/s`, '>= 5000 events/s', pass(f.ingestEventsPerSecondWith10k >= 5000)],
      ['plan, 10,000 images (median of 15)', `${f.planMedianMs.toFixed(1)} ms`, '< 100 ms', pass(f.planMedianMs < 100)],
      ['status, 10,000 images (new process, median of 5)', `${Math.round(f.statusMedianMs)} ms`, '< 1 s', pass(f.statusMedianMs < 1000)],
    ],
    note: 'Ingest replays the burst\'s 10,000 recorded Docker events through a fresh tracker (agent/tracking/tracker.ts) on a real SQLite file and the real engine (each event inspects its image). `status` runs with Docker unreachable, so it lists the stored 10,000 images instead of reconciling them away.',
  };
}
