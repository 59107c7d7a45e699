// What a removal is, as the planner decides it and the evictions table keeps it. Pure.
import { z } from 'zod';

/** `hygiene`: removed by a Delete rule, with or without pressure. */
export const EvictionMode = z.enum(['hygiene', 'normal', 'emergency', 'purge']);
export type EvictionMode = z.infer<typeof EvictionMode>;

/** One removal, as the evictions table keeps it. */
export const EvictionRecord = z.object({
  atMs: z.number().int(),
  imageId: z.string(),
  tags: z.array(z.string()),
  lastUsedMs: z.number().int().nullable(),
  estimatedBytes: z.number().int(),
  /** Free space after minus before the removal, as measured; null in a dry run. */
  measuredBytes: z.number().int().nullable(),
  mode: EvictionMode,
  dryRun: z.boolean(),
});
export type EvictionRecord = z.infer<typeof EvictionRecord>;
