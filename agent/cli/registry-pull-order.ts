// The order storage pressure takes a registry's candidates in, shared by `registry plan`, `apply`
// and `status`: learned from the registry's pull log (core/pull-model.ts) when it says enough,
// else least recently pulled first.
import { learnPullModel, pullLog, pullRate } from '../core/pull-model';
import { lastPullMs, type RegistryImage } from '../core/registry';
import { formatDuration } from '../core/units';
import { PULL_LOG_MS } from '../state/registry-store';
import type { RegistryContext } from './registry-context';

/** How storage pressure chose among candidates: learned likelihoods, or least recently pulled first. */
export type PressureOrder = { order: 'learned'; pulls: number; samples: number } | { order: 'least-recently-pulled'; why: string };

/**
 * Each image's expected pulls a day (core/pull-model.ts), learned from this registry's pull log;
 * null with the reason when the log says too little (no listener, or a fresh one).
 */
export function pullRates(ctx: RegistryContext, images: RegistryImage[], nowMs: number): { rates: Map<string, number> | null; order: PressureOrder } {
  const headCounts = ctx.config.registryHeadCounts;
  const sinceMs = nowMs - PULL_LOG_MS;
  const pulls = ctx.store.pulls(sinceMs, headCounts);
  const manifests = ctx.store.modelManifests(sinceMs);
  const model = learnPullModel(manifests, pulls, nowMs);
  if (model === null) return { rates: null, order: { order: 'least-recently-pulled', why: `the pull log says too little to learn from: ${pulls.length} pulls in the last ${formatDuration(PULL_LOG_MS)}` } };
  const log = pullLog(manifests, pulls);
  const rates = new Map<string, number>();
  for (const image of images) {
    const m = image.manifest;
    const modelManifest = { repository: image.repository, digest: m.digest, pushedMs: m.pushedMs, deletedMs: null, topLevel: image.parents.length === 0 };
    rates.set(`${image.repository}@${m.digest}`, pullRate(model, log, modelManifest, nowMs, lastPullMs(m, headCounts)));
  }
  return { rates, order: { order: 'learned', pulls: pulls.length, samples: model.samples } };
}

export function pressureOrderText(order: PressureOrder): string {
  return order.order === 'learned'
    ? `under pressure: least likely to be pulled again first, as learned from ${order.pulls} pulls over the last ${formatDuration(PULL_LOG_MS)}`
    : `under pressure: least recently pulled first (${order.why})`;
}
