// The order storage pressure takes a registry's candidates in, shared by `registry plan`, `apply`
// and `status`: learned from the registry's pull log (core/pull-model.ts) when the log says
// enough and its last week says the learned order would have lost fewer pulls; else least
// recently pulled first.
import { choosePullOrder, pullRate, type PullOrderTrial } from '../core/pull-model';
import { lastPullMs, type RegistryImage } from '../core/registry';
import { formatDuration } from '../core/units';
import { PULL_LOG_MS } from '../state/registry-store';
import type { RegistryContext } from './registry-context';

/** How storage pressure chose among candidates: learned rates, or least recently pulled first; and why. */
export type PressureOrder =
  | { order: 'learned'; pulls: number; samples: number; reason: string; trial: PullOrderTrial }
  | { order: 'least-recently-pulled'; pulls: number; reason: string; trial: PullOrderTrial | null };

/**
 * Each image's expected pulls a day (core/pull-model.ts), learned from this registry's pull log
 * and kept only when the log's last week says they beat least recently pulled first; null, with
 * the reason, otherwise.
 */
export function pullRates(ctx: RegistryContext, images: RegistryImage[], nowMs: number): { rates: Map<string, number> | null; order: PressureOrder } {
  const headCounts = ctx.config.registryHeadCounts;
  const sinceMs = nowMs - PULL_LOG_MS;
  const pulls = ctx.store.pulls(sinceMs, headCounts);
  const manifests = ctx.store.modelManifests(sinceMs);
  const choice = choosePullOrder(manifests, pulls, nowMs);
  if (choice.model === null || choice.log === null || choice.trial === null) {
    return { rates: null, order: { order: 'least-recently-pulled', pulls: pulls.length, reason: choice.reason, trial: choice.trial } };
  }
  const rates = new Map<string, number>();
  for (const image of images) {
    const m = image.manifest;
    const modelManifest = { repository: image.repository, digest: m.digest, pushedMs: m.pushedMs, deletedMs: null, topLevel: image.parents.length === 0 };
    rates.set(`${image.repository}@${m.digest}`, pullRate(choice.model, choice.log, modelManifest, nowMs, lastPullMs(m, headCounts)));
  }
  return { rates, order: { order: 'learned', pulls: pulls.length, samples: choice.model.samples, reason: choice.reason, trial: choice.trial } };
}

export function pressureOrderText(order: PressureOrder): string {
  const from = `${order.pulls} pulls logged over the last ${formatDuration(PULL_LOG_MS)}`;
  return order.order === 'learned'
    ? `under pressure: least likely to be pulled again first, as learned from ${from} (${order.reason})`
    : `under pressure: least recently pulled first (${from}: ${order.reason})`;
}
