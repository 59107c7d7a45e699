// `eviction-order: auto`: replay the runner's recent history under each order and keep the one
// that would have downloaded least. Pure: the agent and bench/ give it a workload and settings.
import { z } from 'zod';
import { agentCheck, agentPlanner, type PlannerSettings } from './contenders';
import { EvictionOrder } from './order';
import { replayLearner } from './reuse-model';
import { replay, type Contender, type ReplayHost, type Workload, type WorkloadImage, type WorkloadJob } from './replay';

/**
 * The orders `auto` chooses among: plain LRU and the two that estimate the next use. The tiered
 * orders (`superseded`, `reuse`, `size`...) have runs far above LRU on bench/'s randomized traces;
 * while `auto` could pick them on days that suited them, the days after cost up to 5% above LRU.
 * Without them: at most 1% above it over the study's 90 runs (bench/RESULTS.md), and fewer replays.
 */
export const AUTO_CANDIDATES: readonly EvictionOrder[] = ['lru', 'learned', 'reuse-interval'];

/**
 * The order `auto` runs before its first choice: `learned`, which is itself plain LRU until this
 * host's history holds REUSE_MIN_GAPS gaps, so it is as safe as `lru` without evidence and better
 * once it has some. Until 2026-11-25 it was `lru`: `auto` then trailed `learned` alone (1.128x
 * against 1.120x the offline order in the median on bench/'s 90 runs). Starting from `learned`:
 * 1.124x, 18 runs better and none worse; on fresh seeds 187-201 median 1.110x to 1.097x, 6 runs
 * better and 1 worse.
 */
export const AUTO_INITIAL_ORDER: EvictionOrder = 'learned';

/** How often `auto` chooses again. */
export const AUTO_EVERY_MS = 6 * 3_600_000;
/**
 * How much history each choice replays (at most the `history` window). A week, not 3 days: on
 * bench/'s randomized traces (12 seeds x 3 disks) a week gave 1.11x the offline order in the
 * median against 1.12x, and never more than 0.2% above plain LRU against 0.5%.
 */
export const AUTO_WINDOW_MS = 7 * 86_400_000;
/** Fewer needs than this say too little about any order: the order stays. */
export const AUTO_MIN_JOBS = 50;

/**
 * Another order must save at least this share of the current one's bytes before `auto` switches:
 * near-ties do not flap. 3% kept a worse order too long (1.112x median against 1.108x at 1% over
 * a week's window, same 36 runs); none at all was no better (1.109x).
 */
export const SWITCH_MARGIN = 0.01;

export const OrderScore = z.object({
  order: EvictionOrder,
  downloadedBytes: z.number().nonnegative(),
  fullDiskJobs: z.number().int().nonnegative(),
});
export type OrderScore = z.infer<typeof OrderScore>;

/** The order `auto` runs with, and the evidence it was chosen on; kept in the state so restarts and `status` see it. */
export const ActiveOrder = z.object({
  order: EvictionOrder,
  /** When the choice was made (it may have kept the order it had). */
  chosenMs: z.number().int(),
  /** When this order became the active one. */
  sinceMs: z.number().int(),
  reason: z.string(),
  /** Jobs and span of the history replayed. */
  jobs: z.number().int().nonnegative(),
  windowMs: z.number().int().nonnegative(),
  scores: z.array(OrderScore),
});
export type ActiveOrder = z.infer<typeof ActiveOrder>;

export interface OrderChoice {
  /** The order to use from now on. */
  order: EvictionOrder;
  /** Whether it differs from the current one. */
  switched: boolean;
  /** Every candidate's replay, best first. */
  scores: OrderScore[];
  /** One line: why this order. */
  reason: string;
}

export interface ChooseInput {
  workload: Workload;
  capacityBytes: number;
  settings: Omit<PlannerSettings, 'order'>;
  current: EvictionOrder;
  candidates?: readonly EvictionOrder[];
  margin?: number;
}

/** Full-disk jobs weigh more than any bytes: an order that fails jobs never wins on bytes. */
function worse(a: OrderScore, b: OrderScore): number {
  return a.fullDiskJobs - b.fullDiskJobs || a.downloadedBytes - b.downloadedBytes;
}

/**
 * Replays `workload` under each candidate and picks the best; switches away from `current` only
 * when the best needs at least `margin` fewer bytes (or fewer full-disk jobs), so that near-ties
 * do not make the order flap from one evaluation to the next.
 */
export function chooseOrder(input: ChooseInput): OrderChoice {
  const { current, margin = SWITCH_MARGIN } = input;
  const candidates = input.candidates ?? AUTO_CANDIDATES;
  const scores = [...new Set([current, ...candidates])].map((order) => {
    const outcome = replay(input.workload, input.capacityBytes, agentPlanner(order, { ...input.settings, order }));
    return { order, downloadedBytes: outcome.downloadedBytes, fullDiskJobs: outcome.fullDiskJobs };
  });
  const ranked = [...scores].sort(worse);
  const best = ranked[0] as OrderScore;
  const now = scores[0] as OrderScore;
  const clearlyBetter = best.fullDiskJobs < now.fullDiskJobs || best.downloadedBytes < (1 - margin) * now.downloadedBytes;
  if (best.order === current || !clearlyBetter) {
    return { order: current, switched: false, scores: ranked, reason: best.order === current ? 'best on the recent history' : `within ${Math.round(margin * 100)}% of the best (${best.order})` };
  }
  const reason =
    best.fullDiskJobs < now.fullDiskJobs
      ? `would have failed ${now.fullDiskJobs - best.fullDiskJobs} fewer jobs on a full disk than ${current} (${best.fullDiskJobs} vs ${now.fullDiskJobs})`
      : `would have downloaded ${pct(1 - best.downloadedBytes / Math.max(1, now.downloadedBytes))} less than ${current}`;
  return { order: best.order, switched: true, scores: ranked, reason };
}

function pct(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

export interface AutoSettings {
  /** How often the order is chosen anew. */
  everyMs: number;
  /** How much recent history each choice replays. */
  windowMs: number;
  /** The order before the first choice. */
  initial: EvictionOrder;
}

/**
 * The agent with `eviction-order: auto`: it records what it sees (as the history table does),
 * and every `everyMs` replays the last `windowMs` of it to choose its order (core/auto.ts).
 */
export function autoPlanner(name: string, settings: Omit<PlannerSettings, 'order'>, auto: AutoSettings, onChoice?: (choice: OrderChoice, atMs: number) => void): Contender {
  const jobs: WorkloadJob[] = [];
  const images = new Map<string, WorkloadImage>();
  let order = auto.initial;
  let nextChoiceMs: number | null = null;
  let windowStart = 0;
  const learner = replayLearner();
  const check = (host: ReplayHost) => {
    nextChoiceMs ??= host.nowMs + auto.everyMs;
    if (host.nowMs >= nextChoiceMs) {
      nextChoiceMs = host.nowMs + auto.everyMs;
      while (windowStart < jobs.length && (jobs[windowStart] as WorkloadJob).atMs < host.nowMs - auto.windowMs) windowStart += 1;
      const window = jobs.slice(windowStart);
      // As the agent: too little history keeps the order.
      if (window.length < AUTO_MIN_JOBS) return agentCheck(host, { ...settings, order, reuseModel: learner.modelAt(host.nowMs) });
      const workload = { jobs: window, images: [...new Set(window.map((j) => j.imageId))].map((id) => images.get(id) as WorkloadImage) };
      const choice = chooseOrder({ workload, capacityBytes: host.capacityBytes, settings, current: order });
      onChoice?.(choice, host.nowMs);
      order = choice.order;
    }
    agentCheck(host, { ...settings, order, reuseModel: learner.modelAt(host.nowMs) });
  };
  return {
    name,
    tickMs: settings.marks.intervalMs,
    onTick: check,
    afterPull: check,
    afterJob: (host, job) => {
      jobs.push(job);
      learner.observe(job, host.repositories(job.imageId));
      if (!images.has(job.imageId)) images.set(job.imageId, host.image(job.imageId));
    },
  };
}
