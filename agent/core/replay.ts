// Replay: a workload (which image each job needed, when) on a simulated disk, with no Docker,
// through one cleanup policy. `simulate`, the `auto` order and bench/ all replay through it.
// Pulls take the missing layers; a pull briefly needs twice its bytes free (compressed download,
// then extraction) and a job whose pull does not fit fails on a full disk.
import { repositoriesOf } from './image';
import { useScoreWithUse } from './usage';

export interface WorkloadLayer {
  /** Chain ID: images that share a base share these. */
  id: string;
  sizeBytes: number;
}

export interface WorkloadImage {
  id: string;
  repoTags: string[];
  layers: WorkloadLayer[];
  /** Build time: what age-based cleaners judge by. */
  createdMs: number;
}

/** One need of an image: a job that pulls it if absent, then holds it for its duration. */
export interface WorkloadJob {
  atMs: number;
  imageId: string;
  durationMs: number;
}

/** Jobs in time order, and every image they name. */
export interface Workload {
  images: WorkloadImage[];
  jobs: WorkloadJob[];
}

/** Bytes of one image: all its layers. */
export function imageBytes(image: WorkloadImage): number {
  return image.layers.reduce((sum, l) => sum + l.sizeBytes, 0);
}

export interface ReplayOutcome {
  contender: string;
  jobs: number;
  downloadedBytes: number;
  /** Bytes every policy must download: each distinct layer of the trace once. */
  compulsoryBytes: number;
  /** Bytes of layers downloaded again after an earlier download (jobs that failed pull nothing). */
  redownloadedBytes: number;
  fullDiskJobs: number;
  evictions: number;
  lowestFreeBytes: number;
}

/** What a cleanup policy may look at and do. */
export interface ReplayHost {
  readonly nowMs: number;
  readonly capacityBytes: number;
  freeBytes(): number;
  /** Images on disk. */
  present(): WorkloadImage[];
  /** Uses per repository over every image ever pulled: the agent's records, removed ones too. */
  repositoryUses(): Map<string, number>;
  inUse(imageId: string): boolean;
  /** Any image of the workload, present or not. */
  image(imageId: string): WorkloadImage;
  /** The image's repositories, parsed once per image (a month's replay has 100,000 jobs). */
  repositories(imageId: string): string[];
  /** When the image was first pulled (records keep it across removals, as the agent's do). */
  firstSeenMs(imageId: string): number;
  lastPulledMs(imageId: string): number;
  lastUsedMs(imageId: string): number;
  useCount(imageId: string): number;
  /** The image's useScore (core/usage.ts) as of its last use. */
  useScore(imageId: string): number;
  /** Bytes removing the image would free now (layers no other present image holds). */
  freedBytes(imageId: string): number;
  /**
   * When the bytes removing the image would free are next needed (the earliest next use of its
   * layers no other present image holds); Infinity if never. Only the offline reference may ask.
   */
  nextNeedMs(imageId: string): number;
  /** Removes an unused image; false if a container uses it (Docker's 409). */
  remove(imageId: string): boolean;
}

/** A cleanup policy. Each hook is optional; `tickMs` sets the period of `onTick`. */
export interface Contender {
  name: string;
  tickMs?: number;
  onTick?(host: ReplayHost): void;
  /** Just before a pull that needs `needBytes` free: only a demand-driven policy acts here. */
  beforePull?(host: ReplayHost, needBytes: number): void;
  /** Right after a pull, as the agent's pull-triggered check. */
  afterPull?(host: ReplayHost): void;
  /** After every job that got its image: what the agent's history records. */
  afterJob?(host: ReplayHost, job: WorkloadJob): void;
}

/** Replays `workload` on a disk of `capacityBytes` under one contender. */
export function replay(workload: Workload, capacityBytes: number, contender: Contender): ReplayOutcome {
  const images = new Map(workload.images.map((i) => [i.id, i]));
  const layerRefs = new Map<string, number>();
  const present = new Set<string>();
  const pulledMs = new Map<string, number>();
  const firstSeen = new Map<string, number>();
  const usedMs = new Map<string, number>();
  const uses = new Map<string, number>();
  const scores = new Map<string, number>();
  const running = new Map<string, number>();
  const repoUses = new Map<string, number>();
  let usedBytes = 0;
  let downloaded = 0;
  let redownloaded = 0;
  const everDownloaded = new Set<string>();
  let fullDisk = 0;
  let evictions = 0;
  let lowestFree = capacityBytes;
  let nowMs = 0;

  // Next use of each layer after the current job, from chains precomputed over the job list:
  // `nextLayerUse[j]` holds, for each layer of job j's image, the next job needing that layer.
  const nextLayerUse: number[][] = new Array(workload.jobs.length);
  const upcoming = new Map<string, number>();
  for (let j = workload.jobs.length - 1; j >= 0; j -= 1) {
    const layers = (images.get((workload.jobs[j] as WorkloadJob).imageId) as WorkloadImage).layers;
    nextLayerUse[j] = layers.map((l) => upcoming.get(l.id) ?? Infinity);
    for (const l of layers) upcoming.set(l.id, j);
  }
  const jobTime = (j: number) => (j === Infinity ? Infinity : (workload.jobs[j] as WorkloadJob).atMs);

  const seen = new Set<string>();
  let compulsory = 0;
  for (const job of workload.jobs) {
    for (const l of (images.get(job.imageId) as WorkloadImage).layers) {
      if (!seen.has(l.id)) compulsory += l.sizeBytes;
      seen.add(l.id);
    }
  }

  const image = (id: string) => images.get(id) as WorkloadImage;
  const repositoryCache = new Map<string, string[]>();
  const repositoriesOfImage = (id: string) => {
    let repositories = repositoryCache.get(id);
    if (repositories === undefined) repositoryCache.set(id, (repositories = repositoriesOf(image(id))));
    return repositories;
  };
  const missingBytes = (img: WorkloadImage) => img.layers.reduce((sum, l) => sum + (layerRefs.has(l.id) ? 0 : l.sizeBytes), 0);
  const host: ReplayHost = {
    get nowMs() {
      return nowMs;
    },
    capacityBytes,
    freeBytes: () => capacityBytes - usedBytes,
    present: () => [...present].map(image),
    repositoryUses: () => repoUses,
    inUse: (id) => (running.get(id) ?? 0) > 0,
    image,
    repositories: repositoriesOfImage,
    firstSeenMs: (id) => firstSeen.get(id) ?? 0,
    lastPulledMs: (id) => pulledMs.get(id) ?? 0,
    lastUsedMs: (id) => usedMs.get(id) ?? 0,
    useCount: (id) => uses.get(id) ?? 0,
    useScore: (id) => scores.get(id) ?? 0,
    freedBytes: (id) => image(id).layers.reduce((sum, l) => sum + (layerRefs.get(l.id) === 1 ? l.sizeBytes : 0), 0),
    nextNeedMs: (id) => Math.min(...image(id).layers.filter((l) => layerRefs.get(l.id) === 1).map((l) => jobTime(upcoming.get(l.id) ?? Infinity))),
    remove: (id) => {
      if (!present.has(id) || (running.get(id) ?? 0) > 0) return false;
      present.delete(id);
      for (const l of image(id).layers) {
        const left = (layerRefs.get(l.id) ?? 1) - 1;
        if (left === 0) {
          layerRefs.delete(l.id);
          usedBytes -= l.sizeBytes;
        } else layerRefs.set(l.id, left);
      }
      evictions += 1;
      return true;
    },
  };

  // Running jobs' ends, a binary min-heap on time: sorting them at every job cost simulate a
  // tenth of a month's replay.
  type JobEnd = { atMs: number; imageId: string };
  const ends: JobEnd[] = [];
  const pushEnd = (end: JobEnd) => {
    let i = ends.push(end) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((ends[parent] as JobEnd).atMs <= end.atMs) break;
      ends[i] = ends[parent] as JobEnd;
      i = parent;
    }
    ends[i] = end;
  };
  const popEnd = (): JobEnd => {
    const top = ends[0] as JobEnd;
    const last = ends.pop() as JobEnd;
    if (ends.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= ends.length) break;
      const right = left + 1;
      const child = right < ends.length && (ends[right] as JobEnd).atMs < (ends[left] as JobEnd).atMs ? right : left;
      if ((ends[child] as JobEnd).atMs >= last.atMs) break;
      ends[i] = ends[child] as JobEnd;
      i = child;
    }
    ends[i] = last;
    return top;
  };
  const finishUntil = (t: number) => {
    while (ends.length > 0 && (ends[0] as JobEnd).atMs <= t) {
      const end = popEnd();
      running.set(end.imageId, (running.get(end.imageId) ?? 1) - 1);
    }
  };
  // Ticks start with the workload: a history stamped in epoch time must not tick from 1970.
  let nextTickMs = (workload.jobs[0]?.atMs ?? 0) + (contender.tickMs ?? Infinity);
  const runTicksUntil = (t: number) => {
    while (nextTickMs <= t) {
      finishUntil(nextTickMs);
      nowMs = nextTickMs;
      contender.onTick?.(host);
      nextTickMs += contender.tickMs ?? Infinity;
    }
  };

  workload.jobs.forEach((job, j) => {
    runTicksUntil(job.atMs);
    finishUntil(job.atMs);
    nowMs = job.atMs;
    const img = image(job.imageId);
    img.layers.forEach((l, k) => upcoming.set(l.id, (nextLayerUse[j] as number[])[k] as number));
    const pulling = !present.has(img.id);
    if (pulling) {
      const missing = missingBytes(img);
      // The layers this pull reuses are pinned: removing their other holders frees nothing.
      const pinned = img.layers.filter((l) => layerRefs.has(l.id));
      for (const l of pinned) layerRefs.set(l.id, (layerRefs.get(l.id) as number) + 1);
      contender.beforePull?.(host, 2 * missing);
      for (const l of pinned) layerRefs.set(l.id, (layerRefs.get(l.id) as number) - 1);
      lowestFree = Math.min(lowestFree, capacityBytes - usedBytes - missing);
      if (capacityBytes - usedBytes < 2 * missing) {
        fullDisk += 1;
        return;
      }
      for (const l of img.layers) {
        if (!layerRefs.has(l.id)) {
          usedBytes += l.sizeBytes;
          if (everDownloaded.has(l.id)) redownloaded += l.sizeBytes;
          everDownloaded.add(l.id);
        }
        layerRefs.set(l.id, (layerRefs.get(l.id) ?? 0) + 1);
      }
      present.add(img.id);
      downloaded += missing;
      pulledMs.set(img.id, nowMs);
      if (!firstSeen.has(img.id)) firstSeen.set(img.id, nowMs);
    }
    running.set(img.id, (running.get(img.id) ?? 0) + 1);
    pushEnd({ atMs: job.atMs + job.durationMs, imageId: img.id });
    scores.set(img.id, useScoreWithUse(scores.get(img.id) ?? 0, usedMs.get(img.id) ?? null, nowMs));
    usedMs.set(img.id, nowMs);
    uses.set(img.id, (uses.get(img.id) ?? 0) + 1);
    for (const repository of repositoriesOfImage(img.id)) repoUses.set(repository, (repoUses.get(repository) ?? 0) + 1);
    if (pulling) contender.afterPull?.(host);
    contender.afterJob?.(host, job);
    lowestFree = Math.min(lowestFree, capacityBytes - usedBytes);
  });
  return {
    contender: contender.name,
    jobs: workload.jobs.length,
    downloadedBytes: downloaded,
    compulsoryBytes: compulsory,
    redownloadedBytes: redownloaded,
    fullDiskJobs: fullDisk,
    evictions,
    lowestFreeBytes: lowestFree,
  };
}
