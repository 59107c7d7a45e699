// Real replay: a CI-like trace against a private dockerd on a small loop-mounted ext4, pulling
// from a local registry. Each job pulls its image if absent and runs a container from it.
// Contenders: no cleanup, periodic `docker image prune -a`, and the agent itself.
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { formatBytes } from '../agent/core/units';
import { measureDisk } from '../agent/disk/disk';
import { startAgent, type AgentProcess } from '../test/harness/cli';
import { makeTestDir } from '../test/harness/tmp';
import { DOCKER_CLI, dockerEnv, startEngine, type Engine } from '../test/harness/engine';
import { run, runOk } from '../test/harness/proc';
import type { Registry } from '../test/harness/registry';
import { agentPlanner, belady, type Watermarks } from '../agent/core/contenders';
import { DEFAULT_EVICTION_ORDER } from '../agent/core/order';
import { replay as simulate } from '../agent/core/replay';
import { watermarksFor } from './baselines';
import { serviceEnv } from './overhead';
import { times, type Table } from './report';
import { drawCiShape, generateTrace, uniqueBytes, type Trace, type TraceImage } from './trace';

const KiB = 1024;
const MiB = 2 ** 20;

export interface ReplaySettings {
  jobs: number;
  seed: number;
  /** Traces replayed with the agent (auto) and the agent with plain LRU: seed, seed + 1, ... */
  traces: number;
  diskBytes: number;
  /** `docker image prune -a` runs before every this many jobs. */
  pruneEveryJobs: number;
}

/** The replay's trace: CI-like, layers in 128 KiB units so ~300 jobs overflow a 2 GiB disk. */
export function replayTrace(settings: Pick<ReplaySettings, 'jobs' | 'seed'>): Trace {
  // Half an hour between jobs in trace time, so pipelines release versions within 300 jobs;
  // the replay itself runs the jobs back to back.
  // The replay's pace is its own (back to back), so the shape's pace is not drawn here.
  const shape = { ...drawCiShape(settings.seed), gapScale: 1 };
  return generateTrace({ family: 'ci', jobs: settings.jobs, seed: settings.seed, unitBytes: 128 * KiB, meanGapMs: 30 * 60_000, minDurationMs: 1000, maxDurationMs: 1000, shape });
}

export interface ReplayPoint {
  job: number;
  freeBytes: number;
}

export interface ReplayResult {
  contender: string;
  /** The trace's seed. */
  seed: number;
  pulledBytes: number;
  fullDiskJobs: number;
  lowestFreeBytes: number;
  evictions: number;
  startFreeBytes: number;
  wallMs: number;
  /** Lowest free space seen during each job. */
  series: ReplayPoint[];
}

/** Builds every trace image on the builder (layers shared through the build cache) and pushes it. */
export async function buildTraceImages(trace: Trace, builder: Engine, registry: Registry, log: (line: string) => void): Promise<void> {
  const work = makeTestDir('bench-build');
  const env = dockerEnv(builder.host, builder.workDir);
  try {
    const layerDir = join(work, 'layers');
    mkdirSync(layerDir);
    const written = new Set<string>();
    const writeLayer = (id: string, sizeBytes: number) => {
      if (written.has(id)) return;
      const fd = openSync(join(layerDir, id), 'w');
      for (let left = sizeBytes; left > 0; left -= MiB) writeSync(fd, randomBytes(Math.min(MiB, left)));
      closeSync(fd);
      written.add(id);
    };
    const used = new Set(trace.jobs.map((j) => j.imageId));
    const images = trace.images.filter((i) => used.has(i.id));
    let built = 0;
    for (const image of images) {
      const context = join(work, 'ctx', image.id);
      mkdirSync(context, { recursive: true });
      // Hard links: each context holds only its own layers, and equal files give equal layers.
      linkSync('/bin/busybox', join(context, 'busybox'));
      const lines = ['FROM scratch', 'COPY busybox /bin/busybox'];
      for (const layer of image.layers) {
        writeLayer(layer.id, layer.sizeBytes);
        linkSync(join(layerDir, layer.id), join(context, layer.id));
        lines.push(`COPY ${layer.id} /data/${layer.id}`);
      }
      lines.push('CMD ["/bin/busybox", "true"]');
      writeFileSync(join(context, 'Dockerfile'), `${lines.join('\n')}\n`);
      const ref = `${registry.address}/${image.ref}`;
      await runOk(DOCKER_CLI, ['build', '-q', '-t', ref, context], { env });
      await runOk(DOCKER_CLI, ['push', '-q', ref], { env });
      rmSync(context, { recursive: true, force: true });
      built += 1;
      if (built % 20 === 0) log(`replay: built and pushed ${built}/${images.length} images`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Bytes of blobs the registry served since `offset` in its log (combined log format). */
function blobBytesServed(registry: Registry, offset: number): number {
  const text = readFileSync(registry.logFile, 'utf8').slice(offset);
  let sum = 0;
  for (const match of text.matchAll(/"GET \/v2\/\S+\/blobs\/sha256:[0-9a-f]+ HTTP\/[\d.]+" (200|206) (\d+)/g)) sum += Number(match[2]);
  return sum;
}

/** The thresholds the agent runs with: the simulator's rule (low covers twice the largest pull). */
export function replayWatermarks(trace: Trace, capacityBytes: number): Watermarks {
  // The real agent checks every second of wall time; the simulator counts trace time (30 min
  // between jobs), where a check after every pull plus one a minute is the same behaviour.
  return watermarksFor(trace, capacityBytes, { intervalMs: 60_000, minAgeMs: 2000 });
}

type Kind = 'none' | 'prune' | 'agent' | 'agent-lru';

const CONTENDER_NAME: Record<Kind, (settings: ReplaySettings) => string> = {
  none: () => 'no cleanup',
  prune: (s) => `docker image prune -a every ${s.pruneEveryJobs} jobs`,
  agent: () => 'image-evictor run (eviction-order auto)',
  'agent-lru': () => 'image-evictor run --eviction-order lru',
};

/** Replays the trace under one contender on a fresh engine. */
async function replayOne(kind: Kind, trace: Trace, settings: ReplaySettings, registry: Registry, log: (line: string) => void): Promise<ReplayResult> {
  const engine = await startEngine({ diskBytes: settings.diskBytes, label: `replay-${kind}` });
  const env = dockerEnv(engine.host, engine.workDir);
  const docker = (args: string[]) => run(DOCKER_CLI, args, { env });
  let agent: AgentProcess | null = null;
  const stateDir = makeTestDir('bench-state');
  try {
    const startFreeBytes = (await measureDisk(engine.dataRoot)).freeBytes;
    const marks = replayWatermarks(trace, startFreeBytes);
    if (kind === 'agent' || kind === 'agent-lru') {
      agent = startAgent([
        '--docker-host', engine.host,
        '--state', join(stateDir, 'state.db'),
        '--path', engine.dataRoot,
        '--low-free', `${marks.lowBytes}B`,
        '--target-free', `${marks.targetBytes}B`,
        '--min-age', '2s',
        '--protect', '*/ci/base-*',
        '--log-level', 'info',
        ...(kind === 'agent-lru' ? ['--eviction-order', 'lru'] : []),
      ], ['--interval', '1s'], serviceEnv());
      await agent.waitForLog('docker_events_connected');
    }
    const logOffset = statSync(registry.logFile).size;
    const byId = new Map(trace.images.map((i) => [i.id, i]));
    // Free space sampled all along, so the transient low of a pull is seen too.
    let lowestInJob = Infinity;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        lowestInJob = Math.min(lowestInJob, (await measureDisk(engine.dataRoot)).freeBytes);
        await sleep(50);
      }
    })();
    const series: ReplayPoint[] = [];
    let fullDiskJobs = 0;
    let evictions = 0;
    const started = performance.now();
    const full = (stderr: string) => /no space left on device/i.test(stderr);
    for (const [index, job] of trace.jobs.entries()) {
      if (kind === 'prune' && index > 0 && index % settings.pruneEveryJobs === 0) {
        const before = (await docker(['images', '-q', '--no-trunc'])).stdout.trim().split('\n').filter(Boolean).length;
        await docker(['image', 'prune', '-a', '-f']);
        const after = (await docker(['images', '-q', '--no-trunc'])).stdout.trim().split('\n').filter(Boolean).length;
        evictions += before - after;
      }
      const ref = `${registry.address}/${(byId.get(job.imageId) as TraceImage).ref}`;
      lowestInJob = (await measureDisk(engine.dataRoot)).freeBytes;
      let ok = true;
      if ((await docker(['image', 'inspect', '--format', '{{.Id}}', ref])).code !== 0) {
        const pulled = await docker(['pull', '-q', ref]);
        if (pulled.code !== 0) {
          if (!full(pulled.stderr)) throw new Error(`pull ${ref} failed: ${pulled.stderr}`);
          fullDiskJobs += 1;
          ok = false;
        }
      }
      if (ok) {
        const ran = await docker(['run', '--rm', '--network', 'none', ref]);
        if (ran.code !== 0) {
          if (!full(ran.stderr)) throw new Error(`run ${ref} failed: ${ran.stderr}`);
          fullDiskJobs += 1;
        }
      }
      lowestInJob = Math.min(lowestInJob, (await measureDisk(engine.dataRoot)).freeBytes);
      series.push({ job: index + 1, freeBytes: lowestInJob });
      if ((index + 1) % 50 === 0) log(`replay ${kind}: ${index + 1}/${trace.jobs.length} jobs, ${fullDiskJobs} failed on a full disk`);
    }
    sampling = false;
    await sampler;
    const wallMs = performance.now() - started;
    if (agent) {
      await agent.stop();
      const db = new Database(join(stateDir, 'state.db'), { readonly: true });
      evictions = (db.prepare('SELECT COUNT(*) AS n FROM evictions WHERE dry_run = 0').get() as { n: number }).n;
      db.close();
      agent = null;
    }
    return {
      contender: CONTENDER_NAME[kind](settings),
      seed: trace.seed,
      pulledBytes: blobBytesServed(registry, logOffset),
      fullDiskJobs,
      lowestFreeBytes: Math.min(...series.map((p) => p.freeBytes)),
      evictions,
      startFreeBytes,
      wallMs,
      series,
    };
  } finally {
    await agent?.stop();
    await engine.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

export interface ReplaySection {
  results: ReplayResult[];
  table: Table;
  /** The simulator on the same trace and usable disk. */
  simBeladyBytes: number;
  simAgentBytes: number;
  marks: Watermarks;
  trace: Trace;
}

/** Builds the images, replays under each contender, and compares with the simulator. */
export async function runReplay(settings: ReplaySettings, registry: Registry, builder: Engine, log: (line: string) => void): Promise<ReplaySection> {
  const results: ReplayResult[] = [];
  let first: { trace: Trace; startFreeBytes: number } | null = null;
  const rows: string[][] = [];
  for (let t = 0; t < settings.traces; t += 1) {
    const trace = replayTrace({ jobs: settings.jobs, seed: settings.seed + t });
    // The builder's 8 GiB holds one trace's images: the last trace's go first.
    if (t > 0) {
      await builder.docker(['image', 'prune', '-a', '-f']);
      await builder.docker(['builder', 'prune', '-a', '-f']);
    }
    log(`replay: seed ${trace.seed}: building ${new Set(trace.jobs.map((j) => j.imageId)).size} images (${formatBytes(uniqueBytes(trace.images))} of distinct layers)`);
    await buildTraceImages(trace, builder, registry, log);
    // No cleanup and cron prune on the first trace only: they need no seeds to show how they fail.
    const kinds: Kind[] = t === 0 ? ['none', 'prune', 'agent', 'agent-lru'] : ['agent', 'agent-lru'];
    const mine: ReplayResult[] = [];
    for (const kind of kinds) {
      log(`replay: seed ${trace.seed}: ${kind}`);
      mine.push(await replayOne(kind, trace, settings, registry, log));
    }
    const startFreeBytes = (mine[0] as ReplayResult).startFreeBytes;
    first ??= { trace, startFreeBytes };
    const optimum = simulate(trace, startFreeBytes, belady).downloadedBytes;
    for (const r of mine) {
      rows.push([String(trace.seed), r.contender, formatBytes(r.pulledBytes), times(r.pulledBytes / optimum), String(r.fullDiskJobs), formatBytes(r.lowestFreeBytes), String(r.evictions), `${Math.round(r.wallMs / 1000)} s`]);
    }
    results.push(...mine);
  }
  const { trace, startFreeBytes } = first as { trace: Trace; startFreeBytes: number };
  const marks = replayWatermarks(trace, startFreeBytes);
  const simBeladyBytes = simulate(trace, startFreeBytes, belady).downloadedBytes;
  const simAgentBytes = simulate(trace, startFreeBytes, agentPlanner('agent', { marks, protect: ['ci/base-*'], order: DEFAULT_EVICTION_ORDER })).downloadedBytes;
  const table: Table = {
    title: `Real replay: ${settings.traces} randomized CI traces of ${settings.jobs} jobs, ${formatBytes(settings.diskBytes)} ext4 (${formatBytes(startFreeBytes)} free at start), local registry`,
    header: ['seed', 'contender', 'bytes pulled', 'vs simulator optimum', 'jobs failed on full disk', 'lowest free', 'evictions', 'wall time'],
    rows,
    note: [
      `Bytes pulled: blob bytes the registry served (its access log). Simulator on seed ${trace.seed} and the same free space: offline optimum ${formatBytes(simBeladyBytes)}, the agent's planner (${DEFAULT_EVICTION_ORDER}) ${formatBytes(simAgentBytes)}.`,
      `Agent thresholds: low twice the largest image (${formatBytes(marks.lowBytes)} on seed ${trace.seed}), target 5% of the disk above, min-age 2s, bases protected.`,
      'The replay runs a trace of days in minutes: `auto` chooses every 6 h of wall time, so here it runs its starting order throughout.',
    ].join(' '),
  };
  return { results, table, simBeladyBytes, simAgentBytes, marks, trace };
}
