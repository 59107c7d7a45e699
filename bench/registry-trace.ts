// A registry's life under a storage cap: pipelines push versions, runners pull them (mostly the
// latest, some recent ones for retries and merge requests, some a pinned release for weeks), and a
// nightly clean-up runs. Compares today's retention rules with the registry planner's pull-LRU
// (agent/core/registry-planner.ts, the code `registry apply` runs) on broken pulls (a pull of a
// deleted tag is a failed CI job) and storage. Each seed draws its own shape.
import { DEFAULTS } from '../agent/config/schema';
import type { BlobRef, RegistryImage } from '../agent/core/registry';
import type { SizeSpec } from '../agent/core/units';
import { choosePullOrder, pressureLikelihood, pullRate, tagLine, type ModelManifest, type PullOrder, type PullRecord } from '../agent/core/pull-model';
import { ownLayerBytes, planRegistry } from '../agent/core/registry-planner';
import { median, times, type Table } from './report';
import { seededRandom } from './trace';

const DAY_MS = 86_400_000;
const MiB = 2 ** 20;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Shape {
  repositories: number;
  days: number;
  /** New versions per repository per day. */
  pushRate: number;
  jobsPerDay: number;
  latestShare: number;
  /** Jobs on one of the 5 versions before the latest: retries, merge requests. */
  recentShare: number;
  /** Jobs on the repository's pinned release, which moves to the latest every `pinDays`. */
  pinnedShare: number;
  pinDays: number;
  zipf: number;
  baseMiB: number;
  ownMiB: [number, number];
}

function drawShape(seed: number): Shape {
  const random = seededRandom((seed ^ 0x2c1b3c6d) >>> 0);
  const between = (lo: number, hi: number) => lo + random() * (hi - lo);
  const latestShare = between(0.5, 0.85);
  const recentShare = between(0.05, 1 - latestShare - 0.02);
  return {
    repositories: Math.round(between(10, 40)),
    days: 60,
    pushRate: Math.exp(between(Math.log(0.3), Math.log(4))),
    jobsPerDay: Math.round(between(200, 1500)),
    latestShare,
    recentShare,
    pinnedShare: 1 - latestShare - recentShare,
    pinDays: between(7, 40),
    zipf: between(0.5, 1.5),
    baseMiB: between(100, 400),
    ownMiB: [between(5, 50), between(60, 300)],
  };
}

interface Version {
  repository: string;
  tag: string;
  digest: string;
  pushedMs: number;
  blobs: BlobRef[];
}

/** What a pull asks for, to tell where broken pulls come from. */
type PullKind = 'latest' | 'recent' | 'pinned' | 'branch';

type Event = { atMs: number; kind: 'push'; version: Version } | { atMs: number; kind: 'pull'; repository: string; wants: PullKind; pick: (versions: Version[], pinned: Version | null) => Version | null };

/** The pushes and pulls of one seed, in time order. */
function registryTrace(seed: number): { shape: Shape; events: Event[] } {
  const shape = drawShape(seed);
  const random = seededRandom(seed);
  const between = (lo: number, hi: number) => lo + random() * (hi - lo);
  const events: Event[] = [];
  let counter = 0;
  const weights = Array.from({ length: shape.repositories }, (_, r) => 1 / (r + 1) ** shape.zipf);
  const total = weights.reduce((a, b) => a + b, 0);
  for (let r = 0; r < shape.repositories; r += 1) {
    const repository = `ci/app-${r}`;
    let base: BlobRef = { digest: `sha256:base-${r}-0`, sizeBytes: Math.round(shape.baseMiB * MiB) };
    let n = 0;
    // One version before the trace starts, so every repository has a latest.
    for (let t = -between(0, 1) * DAY_MS; t < shape.days * DAY_MS; t += (-Math.log(1 - random()) / shape.pushRate) * DAY_MS) {
      if (random() < 0.05) base = { digest: `sha256:base-${r}-${(counter += 1)}`, sizeBytes: Math.round(shape.baseMiB * MiB) };
      n += 1;
      const own = { digest: `sha256:own-${r}-${n}`, sizeBytes: Math.round(between(shape.ownMiB[0], shape.ownMiB[1]) * MiB) };
      events.push({ atMs: Math.max(-DAY_MS, t), kind: 'push', version: { repository, tag: `v${n}`, digest: `sha256:m-${r}-${n}`, pushedMs: Math.max(-DAY_MS, t), blobs: [base, own] } });
    }
  }
  const jobs = shape.jobsPerDay * shape.days;
  for (let j = 0; j < jobs; j += 1) {
    let x = random() * total;
    const r = Math.max(0, weights.findIndex((w) => (x -= w) < 0));
    const u = random();
    const back = 1 + Math.floor(random() * 5);
    const pick =
      u < shape.latestShare
        ? (versions: Version[]) => versions[versions.length - 1] ?? null
        : u < shape.latestShare + shape.recentShare
          ? (versions: Version[]) => versions[Math.max(0, versions.length - 1 - back)] ?? null
          : (_: Version[], pinned: Version | null) => pinned;
    const wants: PullKind = u < shape.latestShare ? 'latest' : u < shape.latestShare + shape.recentShare ? 'recent' : 'pinned';
    events.push({ atMs: random() * shape.days * DAY_MS, kind: 'pull', repository: `ci/app-${r}`, wants, pick });
  }
  events.sort((a, b) => a.atMs - b.atMs || (a.kind === 'push' ? -1 : 1));
  return { shape, events };
}

interface Live {
  version: Version;
  lastPullMs: number | null;
  pulls: number;
}

/** What the registry's state holds of the past: every manifest pushed (with its deletion) and the pulls that found theirs. */
interface Past {
  manifests: Map<string, ModelManifest>;
  pulls: PullRecord[];
  /** Per blob, the manifests pushed with it (the state's registry_blobs, deleted ones too). */
  blobHolders: Map<string, number>;
}

/** A retention policy: given the live tags at night, the digests to delete. */
type Cleanup = (live: Live[], nowMs: number, usedBytes: number, past: Past) => Set<string>;

function storageOf(live: Iterable<Live>): number {
  const blobs = new Map<string, number>();
  for (const l of live) for (const b of l.version.blobs) blobs.set(b.digest, b.sizeBytes);
  return [...blobs.values()].reduce((a, b) => a + b, 0);
}

function perRepository(live: Live[]): Map<string, Live[]> {
  const groups = new Map<string, Live[]>();
  for (const l of live) groups.set(l.version.repository, [...(groups.get(l.version.repository) ?? []), l]);
  return groups;
}

/** GitLab's default cleanup: keep the N most recently pushed tags per repository. */
const keepRecentPushes =
  (n: number): Cleanup =>
  (live) => {
    const doomed = new Set<string>();
    for (const group of perRepository(live).values()) for (const l of group.sort((a, b) => b.version.pushedMs - a.version.pushedMs).slice(n)) doomed.add(l.version.digest);
    return doomed;
  };

/** Age: delete what was pushed more than `days` ago. */
const olderThan =
  (days: number): Cleanup =>
  (live, nowMs) =>
    new Set(live.filter((l) => l.version.pushedMs < nowMs - days * DAY_MS).map((l) => l.version.digest));

/** Harbor's "retain the N most recently pulled" per repository (never pulled rank last, by push). */
const keepRecentPulls =
  (n: number): Cleanup =>
  (live) => {
    const doomed = new Set<string>();
    const rank = (l: Live) => l.lastPullMs ?? l.version.pushedMs - 365 * DAY_MS;
    for (const group of perRepository(live).values()) for (const l of group.sort((a, b) => rank(b) - rank(a)).slice(n)) doomed.add(l.version.digest);
    return doomed;
  };

/** A default threshold as a share of the storage: the cap stands for the storage's size. */
function thresholdShare(spec: SizeSpec): number {
  if (spec.kind !== 'ratio') throw new Error('the registry thresholds default to percentages');
  return spec.ratio;
}

/**
 * The thresholds `registry apply` takes by default (registry-low-free, registry-target-free), for
 * image-evictor and the references alike. Until 2026-11-25 they were the host's 15% and 25%.
 */
const LOW_SHARE = thresholdShare(DEFAULTS.registryLowFree);
const TARGET_SHARE = thresholdShare(DEFAULTS.registryTargetFree);

/** How much pull log `registry apply` learns from: the state's history window. */
const LOG_WINDOW_MS = 30 * DAY_MS;

/**
 * `registry apply` under a storage cap: the registry planner, no rules, pressure from the cap;
 * with `learn`, the likelihoods of core/pull-model.ts learned from the last 30 days of pulls; with
 * `oracle`, likelihoods known in advance instead (a bench reference, not something online).
 */
const pullLru =
  (capBytes: number, learn = false, oracle?: (digest: string, nowMs: number) => number): Cleanup =>
  (live, nowMs, usedBytes, past) => {
    const images: RegistryImage[] = live.map((l) => ({
      repository: l.version.repository,
      tags: [l.version.tag],
      parents: [],
      manifest: { repository: l.version.repository, digest: l.version.digest, mediaType: MANIFEST, sizeBytes: 0, pushedMs: l.version.pushedMs, lastPullMs: l.lastPullMs, pulls: l.pulls, lastHeadMs: null, heads: 0, deletedMs: null },
    }));
    const blobs = new Map(live.map((l) => [`${l.version.repository}@${l.version.digest}`, l.version.blobs]));
    let likelihood: Map<string, number> | undefined;
    const key = (l: Live) => `${l.version.repository}@${l.version.digest}`;
    const underPressure = capBytes - usedBytes < LOW_SHARE * capBytes;
    // As `registry plan` ranks (cli/registry-pull-order.ts): rates per MiB of each manifest's own layers.
    const ranked = (order: Exclude<PullOrder, 'least-recently-pulled'>, rateOf: (l: Live) => number) => {
      const own = ownLayerBytes(images, blobs, past.blobHolders);
      return pressureLikelihood(order, live.map((l) => ({ key: key(l), rate: rateOf(l), lastWantedMs: Math.max(l.version.pushedMs, l.lastPullMs ?? -Infinity), ownBytes: own.get(key(l)) ?? 0 })));
    };
    if (learn && underPressure) {
      const pulls = past.pulls.filter((p) => p.atMs >= nowMs - LOG_WINDOW_MS);
      const manifests = [...past.manifests.values()].filter((m) => m.deletedMs === null || m.deletedMs >= nowMs - LOG_WINDOW_MS);
      const { order, model, log } = choosePullOrder(manifests, pulls, nowMs);
      if (order !== 'least-recently-pulled' && model !== null && log !== null) likelihood = ranked(order, (l) => pullRate(model, log, past.manifests.get(l.version.digest) as ModelManifest, nowMs));
    }
    if (oracle !== undefined && underPressure) likelihood = ranked('learned', (l) => oracle(l.version.digest, nowMs));
    const plan = planRegistry({
      likelihood,
      images,
      blobs,
      rules: [],
      nowMs,
      headCounts: false,
      minAgeMs: 10 * 60_000,
      pressure: { freeBytes: capBytes - usedBytes, lowBytes: LOW_SHARE * capBytes, targetBytes: TARGET_SHARE * capBytes },
    });
    return new Set(plan.deletions.map((d) => d.digest));
  };

/**
 * The offline reference under the same cap and thresholds: knowing every future pull, it deletes
 * first what is never pulled again, then what is pulled farthest ahead. What it breaks, no online
 * order can avoid at that cap.
 */
const farthestNextPull =
  (capBytes: number, pullsOf: Map<string, number[]>): Cleanup =>
  (live, nowMs, usedBytes) => {
    const doomed = new Set<string>();
    if (capBytes - usedBytes >= LOW_SHARE * capBytes) return doomed;
    const next = new Map(live.map((l) => [l.version.digest, (pullsOf.get(l.version.digest) ?? []).find((t) => t > nowMs) ?? Infinity]));
    const nextPull = (l: Live) => next.get(l.version.digest) as number;
    const order = [...live].filter((l) => nowMs - Math.max(l.version.pushedMs, l.lastPullMs ?? -Infinity) >= 10 * 60_000).sort((a, b) => nextPull(b) - nextPull(a));
    // Blob reference counts: a version's delete frees the blobs no kept version shares.
    const refs = new Map<string, number>();
    for (const l of live) for (const b of l.version.blobs) refs.set(b.digest, (refs.get(b.digest) ?? 0) + 1);
    let used = storageOf(live);
    for (const l of order) {
      if (capBytes - used >= TARGET_SHARE * capBytes) break;
      for (const b of l.version.blobs) {
        const left = (refs.get(b.digest) ?? 0) - 1;
        refs.set(b.digest, left);
        if (left === 0) used -= b.sizeBytes;
      }
      doomed.add(l.version.digest);
    }
    return doomed;
  };

interface Outcome {
  brokenPulls: number;
  brokenByKind: Map<PullKind, number>;
  pulls: number;
  meanBytes: number;
  maxBytes: number;
}

function run(events: Event[], days: number, cleanup: Cleanup, pullsOf?: Map<string, number[]>): Outcome {
  const live = new Map<string, Live>();
  const versions = new Map<string, Version[]>();
  const pinned = new Map<string, Version>();
  const nextPin = new Map<string, number>();
  let brokenPulls = 0;
  const brokenByKind = new Map<PullKind, number>();
  let pulls = 0;
  const samples: number[] = [];
  const past: Past = { manifests: new Map(), pulls: [], blobHolders: new Map() };
  let night = 3 * 3_600_000;
  const nightly = (nowMs: number) => {
    const used = storageOf(live.values());
    samples.push(used);
    for (const digest of cleanup([...live.values()], nowMs, used, past)) {
      live.delete(digest);
      (past.manifests.get(digest) as ModelManifest).deletedMs = nowMs;
    }
    samples.push(storageOf(live.values()));
  };
  for (const event of events) {
    while (event.atMs >= night) {
      nightly(night);
      night += DAY_MS;
    }
    if (event.kind === 'push') {
      const list = versions.get(event.version.repository) ?? [];
      list.push(event.version);
      versions.set(event.version.repository, list);
      live.set(event.version.digest, { version: event.version, lastPullMs: null, pulls: 0 });
      for (const b of event.version.blobs) past.blobHolders.set(b.digest, (past.blobHolders.get(b.digest) ?? 0) + 1);
      past.manifests.set(event.version.digest, { repository: event.version.repository, digest: event.version.digest, pushedMs: event.version.pushedMs, deletedMs: null, topLevel: true, line: tagLine([event.version.tag]) });
      continue;
    }
    const list = versions.get(event.repository) ?? [];
    // The pinned release moves to the latest every pinDays (a deployment, a long-lived branch).
    if ((nextPin.get(event.repository) ?? -Infinity) <= event.atMs && list.length > 0) {
      pinned.set(event.repository, list[list.length - 1] as Version);
      nextPin.set(event.repository, event.atMs + PIN_DAYS.value * DAY_MS);
    }
    const wanted = event.pick(list, pinned.get(event.repository) ?? null);
    if (wanted === null) continue;
    pulls += 1;
    pullsOf?.set(wanted.digest, [...(pullsOf.get(wanted.digest) ?? []), event.atMs]);
    const l = live.get(wanted.digest);
    if (l === undefined) {
      brokenPulls += 1;
      brokenByKind.set(event.wants, (brokenByKind.get(event.wants) ?? 0) + 1);
    } else {
      l.lastPullMs = event.atMs;
      l.pulls += 1;
      past.pulls.push({ repository: wanted.repository, digest: wanted.digest, atMs: event.atMs });
    }
  }
  while (night < days * DAY_MS) {
    nightly(night);
    night += DAY_MS;
  }
  return { brokenPulls, brokenByKind, pulls, meanBytes: samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length), maxBytes: Math.max(...samples) };
}

/** The rate oracle's horizon: long enough to see a quiet repository's pinned release pulled again. */
const ORACLE_DAYS = 7;

/** The pin period of the trace being run (set per seed; the pick functions read the shared list). */
const PIN_DAYS = { value: 14 };

/**
 * Runs a capped policy, lowering its cap until its peak storage is no more than `limitBytes`:
 * nightly clean-ups let storage pass the cap during the day, and the goal is fewer broken pulls
 * at no more storage than the others. Each try scales the cap by the overshoot; a few suffice.
 */
function atNoMoreStorage(limitBytes: number, runCapped: (capBytes: number) => Outcome): Outcome {
  let capBytes = limitBytes;
  let outcome = runCapped(capBytes);
  for (let attempt = 0; attempt < 5 && outcome.maxBytes > limitBytes; attempt += 1) {
    capBytes *= (limitBytes / outcome.maxBytes) * 0.995;
    outcome = runCapped(capBytes);
  }
  return outcome;
}

export interface RegistryStudy {
  table: Table;
  /** Per contender: broken pulls per seed, and max storage over the cap's reference per seed. */
  broken: Map<string, number[]>;
  storageRatio: Map<string, number[]>;
  /** The names of today's rules, apart from image-evictor and the references that know the future. */
  baselines: string[];
}

/** Today's retention rules, each run free of any cap. */
const BASELINES: Array<[string, Cleanup]> = [
  ['keep 10 most recently pushed per repository (GitLab default)', keepRecentPushes(10)],
  ['delete pushed more than 30 days ago', olderThan(30)],
  ['retain 10 most recently pulled per repository (Harbor)', keepRecentPulls(10)],
];

/** An index drawn with probability proportional to its weight (one draw of `random`). */
function pickWeighted(random: () => number, weights: number[]): number {
  let x = random() * weights.reduce((a, b) => a + b, 0);
  return Math.max(0, weights.findIndex((w) => (x -= w) < 0));
}

/**
 * A second family, drawn apart from the first so that a claim holds beyond one generator: each
 * repository has a main line and up to 5 other branch slots (Zipf weights), each pushing its own
 * tags; a slot's branch ends after a while (merged) and a new one takes its place, so whole
 * lineages die. Runners pull a branch's version k back with a geometric fade (k = 0 most often,
 * no limit). No pinned release.
 */
function branchTrace(seed: number): { days: number; events: Event[] } {
  const random = seededRandom((seed ^ 0x5bd1e995) >>> 0);
  const between = (lo: number, hi: number) => lo + random() * (hi - lo);
  const days = 60;
  const repositories = Math.round(between(10, 40));
  const pushRate = Math.exp(between(Math.log(0.3), Math.log(4)));
  const jobsPerDay = Math.round(between(200, 1500));
  const zipf = between(0.5, 1.5);
  const fade = between(0.2, 0.7);
  const baseMiB = between(100, 400);
  const ownMiB = [between(5, 50), between(60, 300)] as const;
  const events: Event[] = [];
  const repoWeights = Array.from({ length: repositories }, (_, r) => 1 / (r + 1) ** zipf);
  const pickIndex = (weights: number[]) => pickWeighted(random, weights);
  const slots = Array.from({ length: repositories }, () => 1 + Math.floor(random() * 6));
  const slotWeights = slots.map((n) => Array.from({ length: n }, (_, b) => 1 / (b + 1)));
  // Slot 0 is main and never ends; the others' branches last lifeDays each, then the next starts.
  const lifeDays = slots.map((n) => Array.from({ length: n }, (_, b) => (b === 0 ? Infinity : between(2, 14))));
  const branchAt = (r: number, b: number, atMs: number) => `b${b}.${Number.isFinite(lifeDays[r]?.[b]) ? Math.floor(atMs / ((lifeDays[r]?.[b] as number) * DAY_MS)) : 0}`;
  for (let r = 0; r < repositories; r += 1) {
    const repository = `ci/app-${r}`;
    const base: BlobRef = { digest: `sha256:base-${r}`, sizeBytes: Math.round(baseMiB * MiB) };
    let n = 0;
    for (let t = -between(0, 1) * DAY_MS; t < days * DAY_MS; t += (-Math.log(1 - random()) / pushRate) * DAY_MS) {
      n += 1;
      const b = pickIndex(slotWeights[r] as number[]);
      const own = { digest: `sha256:own-${r}-${n}`, sizeBytes: Math.round(between(ownMiB[0], ownMiB[1]) * MiB) };
      events.push({ atMs: Math.max(-DAY_MS, t), kind: 'push', version: { repository, tag: `${branchAt(r, b, t)}-${n}`, digest: `sha256:m-${r}-${n}`, pushedMs: Math.max(-DAY_MS, t), blobs: [base, own] } });
    }
  }
  for (let j = 0; j < jobsPerDay * days; j += 1) {
    const r = pickIndex(repoWeights);
    const b = pickIndex(slotWeights[r] as number[]);
    const atMs = random() * days * DAY_MS;
    const prefix = `${branchAt(r, b, atMs)}-`;
    let back = 0;
    while (random() < fade) back += 1;
    const pick = (versions: Version[]) => {
      const line = versions.filter((v) => v.tag.startsWith(prefix));
      return line[line.length - 1 - back] ?? null;
    };
    events.push({ atMs, kind: 'pull', repository: `ci/app-${r}`, wants: 'branch', pick });
  }
  events.sort((a, b) => a.atMs - b.atMs || (a.kind === 'push' ? -1 : 1));
  return { days, events };
}

/**
 * A third family, written after the registry's thresholds were chosen (2026-11-25). Per repository, dev builds
 * every day (tag dev-N, pulled while newest, a little after), and 1-4 maintained release lines
 * (tag M.P): a new major every 10-40 days retires the oldest line; each maintained line gets a
 * patch every 1-7 days. Release jobs pick a maintained line (newest most often), then its latest
 * patch, or an older patch with a geometric fade (deployments pinned to a patch).
 */
function releaseTrace(seed: number): { days: number; events: Event[] } {
  const random = seededRandom((seed ^ 0x1b873593) >>> 0);
  const between = (lo: number, hi: number) => lo + random() * (hi - lo);
  const days = 60;
  const repositories = Math.round(between(8, 30));
  const jobsPerDay = Math.round(between(200, 1500));
  const zipf = between(0.5, 1.5);
  const devShare = between(0.2, 0.7);
  const lines = 1 + Math.floor(random() * 4);
  const lineEveryDays = between(10, 40);
  const patchEveryDays = between(1, 7);
  const devPerDay = between(1, 6);
  const fade = between(0.1, 0.6);
  const baseMiB = between(100, 400);
  const ownMiB = [between(5, 50), between(60, 300)] as const;
  const events: Event[] = [];
  const repoWeights = Array.from({ length: repositories }, (_, r) => 1 / (r + 1) ** zipf);
  const pickIndex = (weights: number[]) => pickWeighted(random, weights);
  let counter = 0;
  for (let r = 0; r < repositories; r += 1) {
    const repository = `ci/app-${r}`;
    const base: BlobRef = { digest: `sha256:base-${r}`, sizeBytes: Math.round(baseMiB * MiB) };
    const push = (t: number, tag: string) => {
      counter += 1;
      const own = { digest: `sha256:own-${r}-${counter}`, sizeBytes: Math.round(between(ownMiB[0], ownMiB[1]) * MiB) };
      events.push({ atMs: t, kind: 'push', version: { repository, tag, digest: `sha256:m-${r}-${counter}`, pushedMs: t, blobs: [base, own] } });
    };
    let n = 0;
    for (let t = -between(0, 1) * DAY_MS; t < days * DAY_MS; t += (-Math.log(1 - random()) / devPerDay) * DAY_MS) push(t, `dev-${(n += 1)}`);
    // Majors start every lineEveryDays, the first ones before the trace so that `lines` are maintained from the start.
    const offset = between(0, lineEveryDays);
    for (let major = 1; ; major += 1) {
      const startMs = (offset + (major - 1 - lines) * lineEveryDays) * DAY_MS;
      if (startMs >= days * DAY_MS) break;
      const endMs = startMs + lines * lineEveryDays * DAY_MS;
      let patch = 0;
      for (let t = startMs; t < Math.min(endMs, days * DAY_MS); t += (-Math.log(1 - random()) * patchEveryDays) * DAY_MS) {
        if (t >= -DAY_MS) push(t, `${major}.${patch}`);
        patch += 1;
      }
    }
  }
  for (let j = 0; j < jobsPerDay * days; j += 1) {
    const r = pickIndex(repoWeights);
    const atMs = random() * days * DAY_MS;
    if (random() < devShare) {
      const back = random() < 0.9 ? 0 : 1 + Math.floor(random() * 3);
      const pick = (versions: Version[]) => versions.filter((v) => v.tag.startsWith('dev-')).at(-1 - back) ?? null;
      events.push({ atMs, kind: 'pull', repository: `ci/app-${r}`, wants: 'latest', pick });
      continue;
    }
    const lineRank = pickIndex(Array.from({ length: lines }, (_, i) => 1 / (i + 1)));
    let back = 0;
    while (random() < fade) back += 1;
    const pick = (versions: Version[]) => {
      const majors = [...new Set(versions.filter((v) => !v.tag.startsWith('dev-')).map((v) => Number(v.tag.split('.')[0])))].sort((a, b) => b - a);
      const major = majors[Math.min(lineRank, majors.length - 1)];
      if (major === undefined) return null;
      return versions.filter((v) => v.tag.startsWith(`${major}.`)).at(-1 - back) ?? null;
    };
    events.push({ atMs, kind: 'pull', repository: `ci/app-${r}`, wants: back === 0 ? 'latest' : 'pinned', pick });
  }
  events.sort((a, b) => a.atMs - b.atMs || (a.kind === 'push' ? -1 : 1));
  return { days, events };
}

export type RegistryFamily = 'pinned' | 'branches' | 'releases';

/**
 * Per seed: today's rules (GitLab keep 10, age 30 days, Harbor retain 10 most recently pulled)
 * run free; pull-LRU and the offline reference are held to the smallest peak storage any of them reached.
 */
export function studyRegistryRetention(seeds: number, firstSeed: number, family: RegistryFamily = 'pinned'): RegistryStudy {
  const broken = new Map<string, number[]>();
  const storageRatio = new Map<string, number[]>();
  const push = (map: Map<string, number[]>, key: string, value: number) => map.set(key, [...(map.get(key) ?? []), value]);
  const brokenShare = new Map<string, number[]>();
  const learnedByKind = new Map<PullKind, number>();
  for (let seed = firstSeed; seed < firstSeed + seeds; seed += 1) {
    const pinned = family === 'pinned' ? registryTrace(seed) : null;
    const { days, events } = pinned !== null ? { days: pinned.shape.days, events: pinned.events } : family === 'branches' ? branchTrace(seed) : releaseTrace(seed);
    // The branch family has no pinned release: its picks never read it.
    PIN_DAYS.value = pinned?.shape.pinDays ?? 14;
    // Which version each pull wants does not depend on what was deleted: one pass records them.
    const pullsOf = new Map<string, number[]>();
    const outcomes = BASELINES.map(([name, cleanup], i) => [name, run(events, days, cleanup, i === 0 ? pullsOf : undefined)] as const);
    const limitBytes = Math.min(...outcomes.map(([, o]) => o.maxBytes));
    const ours = atNoMoreStorage(limitBytes, (cap) => run(events, days, pullLru(cap)));
    const learned = atNoMoreStorage(limitBytes, (cap) => run(events, days, pullLru(cap, true)));
    const offline = atNoMoreStorage(limitBytes, (cap) => run(events, days, farthestNextPull(cap, pullsOf)));
    // What a perfect estimate of each tag's coming pulls would give the same planner: the gap
    // between it and the learned likelihoods is estimation, not storage.
    const pullsWithin = (digest: string, nowMs: number) => (pullsOf.get(digest) ?? []).filter((t) => t > nowMs && t <= nowMs + ORACLE_DAYS * DAY_MS).length;
    const oracle = atNoMoreStorage(limitBytes, (cap) => run(events, days, pullLru(cap, false, pullsWithin)));
    for (const [kind, n] of learned.brokenByKind) learnedByKind.set(kind, (learnedByKind.get(kind) ?? 0) + n);
    for (const [name, o] of [...outcomes, ['image-evictor pull-LRU (no pull log), peak storage held to the smallest peak above', ours] as const, ['image-evictor as registry apply runs it (order chosen by its pull log), same storage', learned] as const, ['offline reference: farthest next pull first, same storage and thresholds', offline] as const, [`rate oracle (not online: the same planner, knowing each tag's pulls in the next ${ORACLE_DAYS} days), same storage`, oracle] as const]) {
      push(broken, name, o.brokenPulls);
      push(brokenShare, name, o.brokenPulls / Math.max(1, o.pulls));
      push(storageRatio, name, o.maxBytes / limitBytes);
    }
  }
  const learnedBroken = [...learnedByKind.values()].reduce((a, b) => a + b, 0);
  const shareOf = (kind: PullKind) => `${Math.round((100 * (learnedByKind.get(kind) ?? 0)) / Math.max(1, learnedBroken))}%`;
  const rows = [...broken].map(([name, values]) => [
    name,
    String(median(values)),
    String(Math.max(...values)),
    `${values.filter((v) => v === 0).length}/${values.length}`,
    `${(Math.max(...(brokenShare.get(name) ?? [0])) * 100).toFixed(2)}%`,
    times(Math.max(...(storageRatio.get(name) ?? [0]))),
  ]);
  return {
    broken,
    storageRatio,
    baselines: BASELINES.map(([name]) => name),
    table: {
      title: `Registry retention over ${seeds} randomized registry traces${family === 'branches' ? ' of the branch family' : family === 'releases' ? ' of the release family' : ''} (seeds ${firstSeed}-${firstSeed + seeds - 1}, 60 days each): pulls of deleted tags (each a failed CI job) and peak storage`,
      header: ['policy (nightly)', 'broken pulls, median', 'broken pulls, worst seed', 'seeds with none', 'worst share of pulls broken', 'peak storage vs the smallest peak of the first three, worst seed'],
      rows,
      note:
        family === 'releases'
          ? 'A third family, written after the registry\'s thresholds (15% and 16%) were chosen: per repository, dev builds every day (pulled while newest, a few a little after) and 1-4 maintained release lines; a new major every 10-40 days retires the oldest line, each maintained line gets a patch every 1-7 days; release jobs pick a maintained line (the newest most often) and its latest patch, or an older one with a geometric fade (deployments pinned to a patch). Storage held as above, same thresholds, references and rate oracle.'
          : family === 'branches'
            ? 'A second family, written after the learned order and before its trial (the shares the trial deletes were then set on seeds 7-12 of both families): per repository a main line and up to 5 branch slots (Zipf weights) pushing their own tags; a branch ends after 2-14 days and a new one takes its slot; runners pull a branch version k back with a geometric fade (0.2-0.7, no limit); no pinned release. Storage held as above, same thresholds, references and rate oracle.'
            : 'Pipelines push versions (0.3-4 a day per repository, 10-40 repositories, Zipf popularity); runners pull the latest (50-85%), one of the 5 before it (retries, merge requests) or a pinned release that moves every 7-40 days. Image-evictor\'s cap starts, per seed, at the smallest peak storage of the three other policies and is lowered until its own peak (storage just before a nightly clean-up) is no more than that: broken pulls at no more storage. (Until 2026-11-24 the cap was that peak itself, and storage grew past it between clean-ups by up to 4%.) With a pull log (what `registry listen` records), `registry apply` ranks by what it learned from the last 30 days of that log (agent/core/pull-model.ts): the least likely to be pulled again first, or that order and least recently pulled first together (each manifest\'s places in both summed), whichever the last week of the log says would have lost fewest pulls, least recently pulled first included; without a log, the least recently pulled. Of its broken pulls, ' +
              `${shareOf('pinned')} asked for a pinned release (a version a quiet repository keeps pulling, rarely, long after newer ones arrived), ${shareOf('recent')} for one of the 5 before the latest, ${shareOf('latest')} for the latest. ` +
              'The offline reference knows every future pull and is held to the same storage, with the same thresholds and min-age: what it breaks, no online policy can avoid. ' +
              `The rate oracle runs the same planner as \`registry apply\`, ranking by each tag\'s pulls in the next ${ORACLE_DAYS} days instead of the learned likelihoods: the storage suffices, what image-evictor\'s order breaks is estimation. ` +
              'Garbage collection right after each nightly clean-up.',
    },
  };
}
