// A policy as the agent applies it: rules, container hygiene and build-cache pruning.
import { z } from 'zod';
import { ContainerPolicy, DEFAULT_CONTAINER_POLICY } from './containers';
import type { Rule } from './rules';

export const BuildCachePolicy = z.object({
  /** Under pressure, prune the builder cache before evicting images. */
  pruneUnderPressure: z.boolean(),
  /** Cache to keep when pruning (Docker's keep-storage); 0 prunes all unused cache. */
  keepStorageBytes: z.number().int().nonnegative(),
});
export type BuildCachePolicy = z.infer<typeof BuildCachePolicy>;

export const Policy = z.object({
  /** The file it came from; null for the built-in default (no rules). */
  source: z.string().nullable(),
  rules: z.array(z.custom<Rule>()),
  containers: ContainerPolicy,
  buildCache: BuildCachePolicy,
});
export type Policy = z.infer<typeof Policy>;

export const DEFAULT_POLICY: Policy = {
  source: null,
  rules: [],
  containers: DEFAULT_CONTAINER_POLICY,
  buildCache: { pruneUnderPressure: false, keepStorageBytes: 0 },
};
