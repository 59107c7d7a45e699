// Seeded workload traces: which image each CI job runs, when, for how long. Images are lists of
// layers, and layers are shared the way real images share them (a base under many builds).
import { z } from 'zod';

export const TraceFamily = z.enum(['ci', 'uniform', 'scan']);
export type TraceFamily = z.infer<typeof TraceFamily>;

export interface TraceLayer {
  id: string;
  sizeBytes: number;
}

export interface TraceImage {
  id: string;
  /** repository:tag; base images are named `ci/base-*` so a `protect` pattern can find them. */
  ref: string;
  layers: TraceLayer[];
  /** Build time: what age-based cleaners judge by. */
  createdMs: number;
}

export interface TraceJob {
  atMs: number;
  imageId: string;
  durationMs: number;
}

export interface Trace {
  family: TraceFamily;
  seed: number;
  images: TraceImage[];
  jobs: TraceJob[];
}

export interface TraceOptions {
  family: TraceFamily;
  jobs: number;
  seed: number;
  /** Every layer size is a multiple of this: 1 MiB in the simulator, smaller for the real replay. */
  unitBytes: number;
  /** Mean time between job starts. */
  meanGapMs: number;
  /** Job durations are drawn between these. */
  minDurationMs: number;
  maxDurationMs: number;
}

/** mulberry32: small, fast, and the same sequence on every machine for a seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** A trace of the family asked for; the same options always give the same trace. */
export function generateTrace(options: TraceOptions): Trace {
  const random = seededRandom(options.seed);
  const between = (lo: number, hi: number) => lo + random() * (hi - lo);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)] as T;
  const images: TraceImage[] = [];
  let layerCount = 0;
  const layer = (units: number): TraceLayer => ({ id: `l${(layerCount += 1)}`, sizeBytes: Math.max(1, Math.round(units)) * options.unitBytes });
  const image = (ref: string, layers: TraceLayer[], createdMs: number): TraceImage => {
    const made = { id: `i${images.length + 1}`, ref, layers, createdMs };
    images.push(made);
    return made;
  };
  // Job start times: a Poisson process, so bursts happen as on a real runner.
  const starts: number[] = [];
  let t = 0;
  for (let i = 0; i < options.jobs; i += 1) {
    t += Math.round(-Math.log(1 - random()) * options.meanGapMs);
    starts.push(t);
  }
  const duration = () => Math.round(between(options.minDurationMs, options.maxDurationMs));
  const job = (atMs: number, target: TraceImage): TraceJob => ({ atMs, imageId: target.id, durationMs: duration() });
  // A one-off: a third-party tool or a throwaway build, built any time in the last year.
  const oneOff = (atMs: number, base: TraceImage | null, units: number) =>
    image(`tail/tool-${images.length + 1}:1`, [...(base?.layers ?? []), layer(units)], atMs - between(0, 365) * DAY_MS);

  if (options.family === 'uniform') {
    // Independent images picked uniformly; a few share a distribution layer.
    const distros = [layer(60), layer(120), layer(30)];
    const pool = Array.from({ length: 120 }, (_, i) =>
      image(`uniform/app-${i}:1`, [pick(distros), layer(between(50, 700))], -between(1, 200) * DAY_MS),
    );
    return { family: 'uniform', seed: options.seed, images, jobs: starts.map((at) => job(at, pick(pool))) };
  }

  if (options.family === 'scan') {
    // A small hot set, and most jobs pulling something never seen again (a scan pollutes LRU).
    const hot = Array.from({ length: 30 }, (_, i) => image(`scan/hot-${i}:1`, [layer(between(200, 600)), layer(between(50, 200))], -between(10, 100) * DAY_MS));
    const jobs = starts.map((at) => (random() < 0.3 ? job(at, pick(hot)) : job(at, oneOff(at, null, between(100, 800)))));
    return { family: 'scan', seed: options.seed, images, jobs };
  }

  // CI-like. Bases: large, old, and under most jobs (Mesa/GStreamer style).
  const bases = Array.from({ length: 6 }, (_, i) =>
    image(`ci/base-${i}:latest`, [layer(between(300, 600)), layer(between(200, 500)), layer(between(100, 300))], -between(30, 120) * DAY_MS),
  );
  // Popular standalone services (databases, caches): unrelated to the bases, used steadily.
  const popular = Array.from({ length: 10 }, (_, i) => image(`svc/service-${i}:stable`, [layer(between(80, 250)), layer(between(20, 150))], -between(20, 300) * DAY_MS));
  // Pipelines: each lives for days, builds a new version every few hours (a new top layer over its
  // dependency layer, itself over a base) and is hot only while it lives.
  interface Pipeline {
    name: string;
    base: TraceImage;
    deps: TraceLayer;
    endMs: number;
    versionEndMs: number;
    current: TraceImage;
    weight: number;
  }
  let pipelines: Pipeline[] = [];
  let pipelineCount = 0;
  const version = (p: Omit<Pipeline, 'current' | 'versionEndMs'>, atMs: number) =>
    image(`pipe/${p.name}:v${images.length + 1}`, [...p.base.layers, p.deps, layer(between(20, 150))], atMs - between(0.1, 1) * HOUR_MS);
  const newPipeline = (atMs: number): Pipeline => {
    pipelineCount += 1;
    const shape = { name: `p${pipelineCount}`, base: pick(bases), deps: layer(between(50, 300)), endMs: atMs + between(1, 6) * DAY_MS, weight: 1 / pipelineCount ** 0.3 };
    return { ...shape, current: version(shape, atMs), versionEndMs: atMs + between(6, 24) * HOUR_MS };
  };
  const jobs: TraceJob[] = [];
  for (const at of starts) {
    pipelines = pipelines.filter((p) => p.endMs > at);
    while (pipelines.length < 14) pipelines.push(newPipeline(at));
    for (const p of pipelines) {
      if (p.versionEndMs <= at) {
        p.current = version(p, at);
        p.versionEndMs = at + between(6, 24) * HOUR_MS;
      }
    }
    const roll = random();
    if (roll < 0.6) {
      // Weighted pick: a few pipelines are much busier than the rest.
      const total = pipelines.reduce((sum, p) => sum + p.weight, 0);
      let r = random() * total;
      const chosen = pipelines.find((p) => (r -= p.weight) < 0) ?? (pipelines[0] as Pipeline);
      jobs.push(job(at, chosen.current));
    } else if (roll < 0.75) jobs.push(job(at, pick(bases)));
    else if (roll < 0.95) jobs.push(job(at, pick(popular)));
    else jobs.push(job(at, oneOff(at, random() < 0.5 ? pick(bases) : null, between(50, 400))));
  }
  return { family: 'ci', seed: options.seed, images, jobs };
}

/** Bytes of one image: all its layers. */
export function imageBytes(image: TraceImage): number {
  return image.layers.reduce((sum, l) => sum + l.sizeBytes, 0);
}

/** Bytes of the distinct layers a set of images holds. */
export function uniqueBytes(images: Iterable<TraceImage>): number {
  const layers = new Map<string, number>();
  for (const image of images) for (const l of image.layers) layers.set(l.id, l.sizeBytes);
  let sum = 0;
  for (const size of layers.values()) sum += size;
  return sum;
}

/**
 * Median over days of the bytes of distinct images used at least twice that day: the daily
 * working set worth caching (an image used once gains nothing from staying).
 */
export function dailyWorkingSetBytes(trace: Trace): number {
  const byId = new Map(trace.images.map((i) => [i.id, i]));
  const days = new Map<number, Map<string, number>>();
  for (const j of trace.jobs) {
    const day = Math.floor(j.atMs / DAY_MS);
    const uses = days.get(day) ?? new Map<string, number>();
    uses.set(j.imageId, (uses.get(j.imageId) ?? 0) + 1);
    days.set(day, uses);
  }
  const sizes = [...days.values()]
    .map((uses) => uniqueBytes([...uses].filter(([, n]) => n > 1).map(([id]) => byId.get(id) as TraceImage)))
    .sort((a, b) => a - b);
  return sizes[Math.floor(sizes.length / 2)] ?? 0;
}
