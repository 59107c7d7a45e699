// The eviction planner: which images to remove, in what order, and when emergency mode starts.
// Pure: plain data in (images, disk figures, thresholds, nowMs), a plan out.
import { z } from 'zod';
import { formatBytes, type SizeSpec } from './units';
import type { EvictionMode } from './eviction';
import { isDangling, type ImageRecord, type Layer } from './image';
import type { ReuseModel } from './reuse-model';
import { DEFAULT_EVICTION_ORDER, evictionComparator, evictionTiers, repositoryUses, type EvictionOrder, type OrderTier } from './order';
import { claimImages, idleProtectRules, type Disposition, type Rule } from './rules';
import { recencyMs } from './usage';

/** `delete`: a rule removes it at every check; `kept`: a Keep rule, never removed by the agent. */
export const ImageClass = z.enum(['delete', 'candidate', 'protected', 'kept', 'in-use', 'too-young']);
export type ImageClass = z.infer<typeof ImageClass>;
export interface PlannerImage {
  record: ImageRecord;
  /** Layers by chain ID; unknown layers are stood in for by one layer of the image's whole size. */
  layers: Layer[] | null;
  /** Containers, running or stopped, created from the image. */
  containerCount: number;
  /** The image's labels, for `Label(...)` rules. */
  labels?: Record<string, string>;
}

export interface Thresholds {
  lowFree: SizeSpec;
  targetFree: SizeSpec;
  lowFreeInodesRatio: number;
  targetFreeInodesRatio: number;
}

export interface DiskFigures {
  totalBytes: number;
  freeBytes: number;
  totalInodes: number;
  freeInodes: number;
}

export interface PlanInput {
  nowMs: number;
  images: PlannerImage[];
  disk: DiskFigures;
  thresholds: Thresholds;
  minAgeMs: number;
  protect: string[];
  /** Policy rules in order; `protect` patterns act as a Protect rule placed before them. */
  rules?: Rule[];
  /** Which candidate goes first within a class; default DEFAULT_EVICTION_ORDER. */
  order?: EvictionOrder;
  /** Uses per repository over all records, removed images too (`repositoryUses`); default: live images only. */
  repositoryUses?: Map<string, number>;
  /** The `learned` order's model of this host's reuse (core/reuse-model.ts); without one it ranks as LRU. */
  reuseModel?: ReuseModel | null;
  /** `auto`: act only below low, stop at target, protected images only in emergency (until low). `purge`: act now, until target. */
  mode: 'auto' | 'purge';
  /** Purge only: protected images too, after all others. */
  includeProtected: boolean;
}

export interface PlanStep {
  imageId: string;
  tags: string[];
  /** Why it goes, and why before the others: the order's tier (superseded, used once) where one applies. */
  reason: 'rule-delete' | 'dangling' | 'superseded' | 'used-once' | 'largest-idle' | 'farthest-expected-use' | 'least-recently-used' | 'protected';
  mode: EvictionMode;
  recencyMs: number;
  lastUsedMs: number | null;
  /** Bytes this removal frees, given the removals before it: layers no remaining image holds. */
  estimatedBytes: number;
  /** The step is skipped, and the run ends, once free space is at least this... */
  untilFreeBytes: number;
  /** ...and free inodes at least this. */
  untilFreeInodes: number;
}

export interface RankedImage {
  imageId: string;
  class: ImageClass;
  /** Position in the eviction order (1 = first to go); null for kept, in-use and too-young images. */
  rank: number | null;
  /** Where the rule that claimed it was written (`file:line`); null when no rule did. */
  rule: string | null;
}

export interface Plan {
  nowMs: number;
  mode: 'auto' | 'purge';
  totalBytes: number;
  lowBytes: number;
  targetBytes: number;
  lowInodes: number;
  targetInodes: number;
  freeBytes: number;
  freeInodes: number;
  /** Below the low threshold (bytes or inodes); a purge acts without it. */
  underPressure: boolean;
  /** Estimated: protected images must go to get back to low. */
  emergency: boolean;
  steps: PlanStep[];
  estimatedFreeAfterBytes: number;
  ranking: RankedImage[];
  /** See Ranked. */
  unmatchedProtections: string[];
}

/** A threshold no one can have meant on a disk of `totalBytes`: above its size, or above 0 but below 1% of it. */
export function implausibleThresholds(thresholds: Pick<Thresholds, 'lowFree' | 'targetFree'>, totalBytes: number): Array<{ key: 'low-free' | 'target-free'; reason: string }> {
  const found: Array<{ key: 'low-free' | 'target-free'; reason: string }> = [];
  const disk = `the disk (${formatBytes(totalBytes)})`;
  for (const [key, spec] of [['low-free', thresholds.lowFree], ['target-free', thresholds.targetFree]] as const) {
    const bytes = thresholdBytes(spec, totalBytes);
    if (bytes > totalBytes) found.push({ key, reason: `${formatBytes(bytes)} is more than ${disk}: every image would go; use a percentage such as 15%` });
    else if (bytes > 0 && bytes < 0.01 * totalBytes) found.push({ key, reason: `${formatBytes(bytes)} is below 1% of ${disk}: eviction would start too late to help; use a percentage such as 15%` });
  }
  return found;
}

/** Absolute bytes of a threshold on a filesystem of `totalBytes`. */
export function thresholdBytes(spec: SizeSpec, totalBytes: number): number {
  return spec.kind === 'bytes' ? spec.bytes : Math.ceil(spec.ratio * totalBytes);
}

const CLASS_OF: Record<Disposition, ImageClass> = { delete: 'delete', evict: 'candidate', protect: 'protected', keep: 'kept' };

/** Classifies an image: in use, then too young, beat whatever a rule says. */
export function classify(image: PlannerImage, disposition: Disposition, nowMs: number, minAgeMs: number): ImageClass {
  if (image.containerCount > 0) return 'in-use';
  // A clock that jumped backwards makes recency lie in the future: too young, which is the safe side.
  if (recencyMs(image.record) > nowMs - minAgeMs) return 'too-young';
  return CLASS_OF[disposition];
}

/** The `protect` setting as rules, one per pattern, so one mechanism decides every claim and each protected image names its pattern. */
function protectRules(patterns: string[]): Rule[] {
  return patterns.map((glob) => ({ predicate: { kind: 'reference', glob }, action: { kind: 'protect' }, origin: `protect '${glob}'`, text: `protect: ${glob}` }));
}

/** Reference counts of layers across images, for estimating what a removal frees. */
function layerCounts(images: PlannerImage[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const image of images) for (const layer of layersOf(image)) counts.set(layer.chainId, (counts.get(layer.chainId) ?? 0) + 1);
  return counts;
}

function layersOf(image: PlannerImage): Layer[] {
  const layers = image.layers ?? [{ chainId: `image:${image.record.id}`, sizeBytes: image.record.sizeBytes }];
  // A chain ID names a whole prefix, so it cannot repeat within one image; dedupe defensively anyway.
  return [...new Map(layers.map((l) => [l.chainId, l])).values()];
}

export interface Ranked {
  /** Images not removed. */
  live: PlannerImage[];
  classes: Map<string, ImageClass>;
  /** Images a Delete rule claims, in eviction order. */
  doomed: PlannerImage[];
  /** Candidates in eviction order. */
  candidates: PlannerImage[];
  /** Protected images in eviction order. */
  protectedImages: PlannerImage[];
  /** Every live image: candidates, then protected ones, ranked; in-use and too-young ones unranked. */
  ranking: RankedImage[];
  /** Where each Protect rule that matches no live image was written (`protect '<pattern>'` for the setting). */
  unmatchedProtections: string[];
  /** The eviction order's tier of each live image, for the reason a step gives. */
  tierOf: (record: ImageRecord) => OrderTier;
}

export type RankOptions = Pick<PlanInput, 'protect' | 'nowMs' | 'minAgeMs' | 'rules' | 'order' | 'repositoryUses' | 'reuseModel'>;

/** Classifies images by rules, use and age, and puts them in eviction order; needs no disk figures. */
export function rankImages(images: PlannerImage[], options: RankOptions): Ranked {
  const { protect, nowMs, minAgeMs, rules = [], order = DEFAULT_EVICTION_ORDER } = options;
  const live = images.filter((i) => i.record.removedMs === null);
  const allRules = [...protectRules(protect), ...rules];
  const claims = claimImages(live, allRules, nowMs);
  const claimOf = (i: PlannerImage) => claims.get(i.record.id) ?? { ruleIndex: -1, disposition: 'evict' as const };
  const classes = new Map(live.map((i) => [i.record.id, classify(i, claimOf(i).disposition, nowMs, minAgeMs)]));
  const liveRecords = live.map((i) => i.record);
  const uses = options.repositoryUses ?? repositoryUses(liveRecords);
  const tierOf = evictionTiers(order, liveRecords, uses);
  const layers = new Map(live.map((i) => [i.record.id, i.layers]));
  const compare = evictionComparator(order, liveRecords, nowMs, uses, tierOf, options.reuseModel ?? null, (id) => layers.get(id) ?? null);
  const ofClass = (c: ImageClass) => live.filter((i) => classes.get(i.record.id) === c).sort((a, b) => compare(a.record, b.record));
  const doomed = ofClass('delete');
  const candidates = ofClass('candidate');
  const protectedImages = ofClass('protected');
  const classOf = (i: PlannerImage) => classes.get(i.record.id) as ImageClass;
  const ruleOf = (i: PlannerImage) => allRules[claimOf(i).ruleIndex]?.origin ?? null;
  const ranked = new Set([...doomed, ...candidates, ...protectedImages]);
  const ranking: RankedImage[] = [
    ...[...ranked].map((i, index) => ({ imageId: i.record.id, class: classOf(i), rank: index + 1, rule: ruleOf(i) })),
    ...live.filter((i) => !ranked.has(i)).map((i) => ({ imageId: i.record.id, class: classOf(i), rank: null, rule: ruleOf(i) })),
  ];
  const unmatchedProtections = idleProtectRules(allRules, live, nowMs).map((r) => r.origin);
  return { live, classes, doomed, candidates, protectedImages, ranking, unmatchedProtections, tierOf };
}

/** Why an image goes first among those of its tier, per order. */
const WITHIN_TIER_REASON: Record<EvictionOrder, PlanStep['reason']> = {
  lru: 'least-recently-used',
  superseded: 'least-recently-used',
  reuse: 'least-recently-used',
  'superseded-reuse': 'least-recently-used',
  size: 'largest-idle',
  'reuse-interval': 'farthest-expected-use',
  learned: 'farthest-expected-use',
};

/** Plans evictions for the disk and images given. */
export function plan(input: PlanInput): Plan {
  const { nowMs, disk, thresholds } = input;
  const { live, classes, doomed, candidates, protectedImages, ranking, unmatchedProtections, tierOf } = rankImages(input.images, input);
  const lowBytes = thresholdBytes(thresholds.lowFree, disk.totalBytes);
  // A byte target below a percentage low (possible only on some disks) would stop before low: lift it.
  const targetBytes = Math.max(thresholdBytes(thresholds.targetFree, disk.totalBytes), lowBytes);
  const lowInodes = Math.ceil(thresholds.lowFreeInodesRatio * disk.totalInodes);
  const targetInodes = Math.ceil(thresholds.targetFreeInodesRatio * disk.totalInodes);
  const underPressure = disk.freeBytes < lowBytes || disk.freeInodes < lowInodes;

  const counts = layerCounts(live);
  const steps: PlanStep[] = [];
  let estimatedFree = disk.freeBytes;
  const stepReason = (record: ImageRecord, mode: EvictionMode): PlanStep['reason'] => {
    if (mode === 'hygiene') return 'rule-delete';
    if (classes.get(record.id) === 'protected') return 'protected';
    if (isDangling(record)) return 'dangling';
    const order = input.order ?? DEFAULT_EVICTION_ORDER;
    // `learned` without a model yet ranks as LRU, and says so.
    return tierOf(record) ?? (order === 'learned' && (input.reuseModel ?? null) === null ? 'least-recently-used' : WITHIN_TIER_REASON[order]);
  };
  const take = (image: PlannerImage, mode: EvictionMode, untilFreeBytes: number, untilFreeInodes: number) => {
    let freed = 0;
    for (const layer of layersOf(image)) {
      const left = (counts.get(layer.chainId) ?? 1) - 1;
      counts.set(layer.chainId, left);
      if (left === 0) freed += layer.sizeBytes;
    }
    estimatedFree += freed;
    const { record } = image;
    steps.push({
      imageId: record.id,
      tags: record.repoTags,
      reason: stepReason(record, mode),
      mode,
      recencyMs: recencyMs(record),
      lastUsedMs: record.lastUsedMs,
      estimatedBytes: freed,
      untilFreeBytes,
      untilFreeInodes,
    });
  };
  // Inode savings cannot be estimated: while inodes are short, every candidate stays in the plan
  // and the evictor stops on the measured figures.
  const inodesShort = (until: number) => disk.freeInodes < until;

  // Delete rules are hygiene: their images go at every check, pressure or not, and never end a run.
  for (const image of doomed) take(image, 'hygiene', Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const acting = input.mode === 'purge' || underPressure;
  if (acting) {
    const normalMode: EvictionMode = input.mode === 'purge' ? 'purge' : 'normal';
    for (const image of candidates) {
      if (estimatedFree >= targetBytes && !inodesShort(targetInodes)) break;
      take(image, normalMode, targetBytes, targetInodes);
    }
  }
  // Emergency: the others are exhausted and free space is still below low. Protected images go,
  // least recently used first, only until low (a purge with --emergency: until target).
  const emergencyUntilBytes = input.mode === 'purge' ? targetBytes : lowBytes;
  const emergencyUntilInodes = input.mode === 'purge' ? targetInodes : lowInodes;
  const emergency =
    (input.mode === 'auto' && acting) || (input.mode === 'purge' && input.includeProtected)
      ? estimatedFree < emergencyUntilBytes || inodesShort(emergencyUntilInodes)
      : false;
  if (emergency) {
    for (const image of protectedImages) {
      if (estimatedFree >= emergencyUntilBytes && !inodesShort(emergencyUntilInodes)) break;
      take(image, input.mode === 'purge' ? 'purge' : 'emergency', emergencyUntilBytes, emergencyUntilInodes);
    }
  }
  return {
    nowMs,
    mode: input.mode,
    totalBytes: disk.totalBytes,
    lowBytes,
    targetBytes,
    lowInodes,
    targetInodes,
    freeBytes: disk.freeBytes,
    freeInodes: disk.freeInodes,
    underPressure,
    emergency: emergency && steps.some((s) => s.reason === 'protected'),
    steps,
    estimatedFreeAfterBytes: estimatedFree,
    ranking,
    unmatchedProtections,
  };
}
