// The order storage pressure takes a registry's candidates in, shared by `registry plan`, `apply`
// and `status`: chosen by the registry's own pull log (core/pull-model.ts) when the log says
// enough: the learned rates, their blend with recency, or least recently pulled first, whichever
// its last week says would have lost fewest pulls.
import { choosePullOrder, pressureLikelihood, pullRate, tagLine, type PullOrder, type PullOrderTrial } from '../core/pull-model';
import { lastPullMs, lastWantedMs, type BlobRef, type RegistryImage } from '../core/registry';
import { ownLayerBytes } from '../core/registry-planner';
import { formatDuration } from '../core/units';
import { PULL_LOG_MS } from '../state/registry-store';
import type { RegistryContext } from './registry-context';

/** How storage pressure chose among candidates, and why. */
export type PressureOrder =
  | { order: Exclude<PullOrder, 'least-recently-pulled'>; pulls: number; samples: number; reason: string; trial: PullOrderTrial }
  | { order: 'least-recently-pulled'; pulls: number; reason: string; trial: PullOrderTrial | null };

/** Per image (`repository@digest`): what pressure ranks it by, shown by `plan --json` and `status`. */
export interface PressureRates {
  /** Expected pulls a day. */
  perDay: Map<string, number>;
  /** The bytes of its own layers (ownLayerBytes), which the learned order divides the rate by. */
  ownBytes: Map<string, number>;
}

/**
 * Each image's expected pulls a day (core/pull-model.ts), learned from this registry's pull log,
 * with the bytes of its own layers, and the planner's likelihood under the order the log's last
 * week chose (the rates per MiB of those layers, or their blend with recency); both null, with
 * the reason, under least recently pulled first.
 */
export function pullRates(ctx: RegistryContext, images: RegistryImage[], blobs: Map<string, BlobRef[]>, nowMs: number): { rates: PressureRates | null; likelihood: Map<string, number> | null; order: PressureOrder } {
  const headCounts = ctx.config.registryHeadCounts;
  const sinceMs = nowMs - PULL_LOG_MS;
  const pulls = ctx.store.pulls(sinceMs, headCounts);
  const manifests = ctx.store.modelManifests(sinceMs);
  const choice = choosePullOrder(manifests, pulls, nowMs);
  if (choice.order === 'least-recently-pulled' || choice.model === null || choice.log === null || choice.trial === null) {
    return { rates: null, likelihood: null, order: { order: 'least-recently-pulled', pulls: pulls.length, reason: choice.reason, trial: choice.trial } };
  }
  const { model, log } = choice;
  // Each image in the line the model counted it in (its first tag's), else its tags now.
  const lines = new Map(manifests.map((m) => [`${m.repository}@${m.digest}`, m.line]));
  const perDay = new Map<string, number>();
  const own = ownLayerBytes(images, blobs, ctx.store.blobHolders());
  const entries = images.map((image) => {
    const m = image.manifest;
    const line = lines.get(`${image.repository}@${m.digest}`) ?? tagLine(image.tags);
    const modelManifest = { repository: image.repository, digest: m.digest, pushedMs: m.pushedMs, deletedMs: null, topLevel: image.parents.length === 0, line };
    const key = `${image.repository}@${m.digest}`;
    const entry = { key, rate: pullRate(model, log, modelManifest, nowMs, lastPullMs(m, headCounts)), lastWantedMs: lastWantedMs(m, headCounts), ownBytes: own.get(key) ?? 0 };
    perDay.set(entry.key, entry.rate);
    return entry;
  });
  const likelihood = pressureLikelihood(choice.order, entries);
  return { rates: { perDay, ownBytes: own }, likelihood, order: { order: choice.order, pulls: pulls.length, samples: model.samples, reason: choice.reason, trial: choice.trial } };
}

/** The JSON fields that say why an image ranks where it does: none under least recently pulled first. */
export function rankedBy(rates: PressureRates | null, key: string): { expectedPullsPerDay?: number | null; ownLayerBytes?: number | null } {
  return rates === null ? {} : { expectedPullsPerDay: rates.perDay.get(key) ?? null, ownLayerBytes: rates.ownBytes.get(key) ?? null };
}

export function pressureOrderText(order: PressureOrder): string {
  const from = `${order.pulls} pulls logged over the last ${formatDuration(PULL_LOG_MS)}`;
  if (order.order === 'learned') return `under pressure: least likely to be pulled again first, as learned from ${from} (${order.reason})`;
  if (order.order === 'blended') return `under pressure: least likely to be pulled again, as learned from ${from}, and least recently pulled, together (${order.reason})`;
  return `under pressure: least recently pulled first (${from}: ${order.reason})`;
}
