// Assembles the planner's plain-data input from a tracker survey, a disk measurement and the config.
import type { Config } from '../config/schema';
import type { EvictionOrder } from '../core/order';
import type { PlanInput, PlannerImage, RankOptions } from '../core/planner';
import type { ReuseModel } from '../core/reuse-model';
import type { DiskUsage } from '../disk/disk';
import type { Survey } from '../tracking/tracker';

export interface PlanRequest {
  mode: PlanInput['mode'];
  includeProtected: boolean;
}

/** Live images with their layers and how many containers use each. */
export function plannerImages(survey: Survey): PlannerImage[] {
  const containerCount = new Map<string, number>();
  for (const c of survey.containers) containerCount.set(c.imageId, (containerCount.get(c.imageId) ?? 0) + 1);
  return [...survey.records.values()]
    .filter((r) => r.removedMs === null)
    .map((record) => ({
      record,
      layers: survey.layers.get(record.id) ?? null,
      containerCount: containerCount.get(record.id) ?? 0,
      labels: survey.labels.get(record.id) ?? {},
    }));
}

/** What ranking needs besides the images: `plan` and `status` rank alike. */
export function rankOptions(config: Config, survey: Survey, nowMs: number, order: EvictionOrder, reuseModel: ReuseModel | null = null): RankOptions {
  return {
    reuseModel,
    nowMs,
    minAgeMs: config.minAgeMs,
    protect: config.protect,
    rules: config.policy.rules,
    order,
    repositoryUses: survey.repositoryUses,
  };
}

/** The planner's input for this moment. */
export function planInput(config: Config, survey: Survey, disk: DiskUsage, nowMs: number, request: PlanRequest, order: EvictionOrder, reuseModel: ReuseModel | null = null): PlanInput {
  return {
    ...rankOptions(config, survey, nowMs, order, reuseModel),
    images: plannerImages(survey),
    disk,
    thresholds: {
      lowFree: config.lowFree,
      targetFree: config.targetFree,
      lowFreeInodesRatio: config.lowFreeInodesRatio,
      targetFreeInodesRatio: config.targetFreeInodesRatio,
    },
    mode: request.mode,
    includeProtected: request.includeProtected,
  };
}
