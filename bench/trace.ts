// Seeded workload traces: which image each CI job runs, when, for how long. Images are lists of
// layers, and layers are shared the way real images share them (a base under many builds).
import { z } from 'zod';
import type { Workload, WorkloadImage, WorkloadJob, WorkloadLayer } from '../agent/core/replay';

export const TraceFamily = z.enum(['ci', 'uniform', 'scan']);
export type TraceFamily = z.infer<typeof TraceFamily>;

export type TraceLayer = WorkloadLayer;

export interface TraceImage extends WorkloadImage {
  /** repository:tag, its one tag; base images are named `ci/base-*` so a `protect` pattern can find them. */
  ref: string;
}

export type TraceJob = WorkloadJob;

export interface Trace extends Workload {
  family: TraceFamily;
  seed: number;
  images: TraceImage[];
  /** The CI family's parameters, drawn from the seed. */
  shape: CiShape | null;
}

/**
 * What makes one CI workload unlike another. Each seed draws its own, so no order can be tuned to
 * one shape: bench/ reports every order's worst case over many seeds.
 */
export interface CiShape {
  /** Mean life of an older pipeline version's traffic after the next version arrives; 0: dead at once. */
  fadeMs: number;
  /** A just-superseded version's share of its branch's traffic against the current version's 1. */
  oldWeight: number;
  /** Jobs that re-run an earlier job of the last 3 days (retried or re-triggered pipelines). */
  retryShare: number;
  /** Parallel branches per pipeline, each with versions of its own over the pipeline's dependencies. */
  branches: number;
  /** Live pipelines at any time. */
  pipelines: number;
  /** Hours between a branch's versions: drawn between these. */
  versionHours: [number, number];
  /** Service images (databases, caches) and the Zipf exponent of their popularity. */
  services: number;
  zipf: number;
  /** Shares of jobs on a base image, a service image and a one-off tool; pipelines get the rest. */
  baseShare: number;
  serviceShare: number;
  oneOffShare: number;
  /** Multiplies every layer size. */
  sizeScale: number;
  /** Multiplies the mean time between jobs: a runner's pace, from one job every 20 s to one every half hour. */
  gapScale: number;
}

/** The shape bench/ used before the family existed: the one the `superseded-reuse` order was tuned on. */
export const CLASSIC_CI_SHAPE: CiShape = {
  fadeMs: 0,
  oldWeight: 0,
  retryShare: 0,
  branches: 1,
  pipelines: 14,
  versionHours: [6, 24],
  services: 10,
  zipf: 0,
  baseShare: 0.15,
  serviceShare: 0.2,
  oneOffShare: 0.05,
  sizeScale: 1,
  gapScale: 1,
};

/** A CI shape drawn from `seed`, from a stream of its own so that the trace's draws do not shift it. */
export function drawCiShape(seed: number): CiShape {
  const random = seededRandom((seed ^ 0x5bd1e995) >>> 0);
  const between = (lo: number, hi: number) => lo + random() * (hi - lo);
  const versionLo = between(2, 10);
  return {
    // Half the seeds fade within the hour or less, half over up to three days.
    fadeMs: random() < 0.2 ? 0 : Math.exp(between(Math.log(0.1 * HOUR_MS), Math.log(72 * HOUR_MS))),
    oldWeight: between(0.1, 1),
    retryShare: between(0, 0.15),
    branches: 1 + Math.floor(random() * 4),
    pipelines: Math.round(between(6, 20)),
    versionHours: [versionLo, versionLo * between(1.5, 4)],
    services: Math.round(between(6, 30)),
    zipf: between(0.5, 1.5),
    baseShare: between(0.05, 0.25),
    serviceShare: between(0.1, 0.3),
    oneOffShare: between(0.02, 0.15),
    sizeScale: Math.exp(between(Math.log(0.5), Math.log(2))),
    // Drawn last, so the fields above stay what earlier runs drew for each seed.
    gapScale: Math.exp(between(Math.log(0.5), Math.log(40))),
  };
}

export interface TraceOptions {
  family: TraceFamily;
  jobs: number;
  seed: number;
  /** Every layer size is a multiple of this: 1 MiB in the simulator, smaller for the real replay. */
  unitBytes: number;
  /** Mean time between job starts; a CI shape's `gapScale` multiplies it. */
  meanGapMs: number;
  /** Job durations are drawn between these. */
  minDurationMs: number;
  maxDurationMs: number;
  /** The CI family's shape; default: drawn from the seed (drawCiShape). */
  shape?: CiShape;
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
    const made = { id: `i${images.length + 1}`, ref, repoTags: [ref], layers, createdMs };
    images.push(made);
    return made;
  };
  const shape = options.family === 'ci' ? (options.shape ?? drawCiShape(options.seed)) : null;
  const meanGapMs = options.meanGapMs * (shape?.gapScale ?? 1);
  // Job start times: a Poisson process, so bursts happen as on a real runner.
  const starts: number[] = [];
  let t = 0;
  for (let i = 0; i < options.jobs; i += 1) {
    t += Math.round(-Math.log(1 - random()) * meanGapMs);
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
    return { family: 'uniform', seed: options.seed, shape: null, images, jobs: starts.map((at) => job(at, pick(pool))) };
  }

  if (options.family === 'scan') {
    // A small hot set, and most jobs pulling something never seen again (a scan pollutes LRU).
    const hot = Array.from({ length: 30 }, (_, i) => image(`scan/hot-${i}:1`, [layer(between(200, 600)), layer(between(50, 200))], -between(10, 100) * DAY_MS));
    const jobs = starts.map((at) => (random() < 0.3 ? job(at, pick(hot)) : job(at, oneOff(at, null, between(100, 800)))));
    return { family: 'scan', seed: options.seed, shape: null, images, jobs };
  }

  return ciTrace(options, shape as CiShape, { images, starts, random, between, pick, layer, image, job, oneOff });
}

interface TraceKit {
  images: TraceImage[];
  starts: number[];
  random: () => number;
  between: (lo: number, hi: number) => number;
  pick: <T>(items: T[]) => T;
  layer: (units: number) => TraceLayer;
  image: (ref: string, layers: TraceLayer[], createdMs: number) => TraceImage;
  job: (atMs: number, target: TraceImage) => TraceJob;
  oneOff: (atMs: number, base: TraceImage | null, units: number) => TraceImage;
}

/** Picks an index with probability proportional to its weight. */
function weighted(random: () => number, weights: number[]): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let r = random() * total;
  const index = weights.findIndex((w) => (r -= w) < 0);
  return index === -1 ? weights.length - 1 : index;
}

/** The CI-like family: bases under pipelines whose versions fade, services by Zipf, retries and one-offs. */
function ciTrace(options: TraceOptions, shape: CiShape, kit: TraceKit): Trace {
  const { random, between, pick, image, job, oneOff } = kit;
  const layer = (units: number) => kit.layer(units * shape.sizeScale);
  // Bases: large, old, and under most jobs (Mesa/GStreamer style).
  const bases = Array.from({ length: 6 }, (_, i) =>
    image(`ci/base-${i}:latest`, [layer(between(300, 600)), layer(between(200, 500)), layer(between(100, 300))], -between(30, 120) * DAY_MS),
  );
  // Services (databases, caches): unrelated to the bases; a few are far busier than the rest.
  const services = Array.from({ length: shape.services }, (_, i) => image(`svc/service-${i}:stable`, [layer(between(80, 250)), layer(between(20, 150))], -between(20, 300) * DAY_MS));
  const serviceWeights = services.map((_, rank) => 1 / (rank + 1) ** shape.zipf);
  // Pipelines live for days. Each branch builds a new version every few hours (a new top layer
  // over the pipeline's dependency layer, over a base); older versions keep fading traffic.
  interface Branch {
    current: TraceImage;
    versionEndMs: number;
    older: Array<{ image: TraceImage; supersededMs: number }>;
  }
  interface Pipeline {
    name: string;
    base: TraceImage;
    deps: TraceLayer;
    endMs: number;
    weight: number;
    branches: Branch[];
  }
  let pipelines: Pipeline[] = [];
  let pipelineCount = 0;
  const versionGap = () => between(shape.versionHours[0], shape.versionHours[1]) * HOUR_MS;
  const version = (p: Pick<Pipeline, 'name' | 'base' | 'deps'>, atMs: number) =>
    image(`pipe/${p.name}:v${kit.images.length + 1}`, [...p.base.layers, p.deps, layer(between(20, 150))], atMs - between(0.1, 1) * HOUR_MS);
  const newPipeline = (atMs: number): Pipeline => {
    pipelineCount += 1;
    const shapeOf = { name: `p${pipelineCount}`, base: pick(bases), deps: layer(between(50, 300)) };
    const branches = Array.from({ length: shape.branches }, () => ({ current: version(shapeOf, atMs), versionEndMs: atMs + versionGap(), older: [] }));
    return { ...shapeOf, endMs: atMs + between(1, 6) * DAY_MS, weight: 1 / pipelineCount ** 0.3, branches };
  };
  const fade = (supersededMs: number, atMs: number) => (shape.fadeMs === 0 ? 0 : shape.oldWeight * Math.exp(-(atMs - supersededMs) / shape.fadeMs));
  const jobs: TraceJob[] = [];
  const pipelineShare = Math.max(0, 1 - shape.baseShare - shape.serviceShare - shape.oneOffShare);
  let retryFrom = 0;
  const kinds = [pipelineShare, shape.baseShare, shape.serviceShare, shape.oneOffShare];
  for (const at of kit.starts) {
    pipelines = pipelines.filter((p) => p.endMs > at);
    while (pipelines.length < shape.pipelines) pipelines.push(newPipeline(at));
    for (const p of pipelines) {
      for (const b of p.branches) {
        if (b.versionEndMs <= at) {
          b.older.push({ image: b.current, supersededMs: at });
          b.current = version(p, at);
          b.versionEndMs = at + versionGap();
        }
        b.older = b.older.filter((o) => fade(o.supersededMs, at) > 0.01);
      }
    }
    if (random() < shape.retryShare && jobs.length > 0) {
      // A retry re-runs a job of the last three days, image and all.
      while ((jobs[retryFrom] as TraceJob).atMs < at - 3 * DAY_MS) retryFrom += 1;
      const earlier = jobs[retryFrom + Math.floor(random() * (jobs.length - retryFrom))] as TraceJob;
      jobs.push({ atMs: at, imageId: earlier.imageId, durationMs: earlier.durationMs });
      continue;
    }
    const kind = weighted(random, kinds);
    if (kind === 0) {
      // Weighted pick: a few pipelines are much busier than the rest.
      const p = pipelines[weighted(random, pipelines.map((q) => q.weight))] as Pipeline;
      const b = pick(p.branches);
      const versions = [b.current, ...b.older.map((o) => o.image)];
      jobs.push(job(at, versions[weighted(random, [1, ...b.older.map((o) => fade(o.supersededMs, at))])] as TraceImage));
    } else if (kind === 1) jobs.push(job(at, pick(bases)));
    else if (kind === 2) jobs.push(job(at, services[weighted(random, serviceWeights)] as TraceImage));
    else jobs.push(job(at, oneOff(at, random() < 0.5 ? pick(bases) : null, between(50, 400))));
  }
  return { family: 'ci', seed: options.seed, shape, images: kit.images, jobs };
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
