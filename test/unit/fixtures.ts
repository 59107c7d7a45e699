// Plain-data builders for pure-code tests.
import type { ImageRecord, InventoryImage } from '../../agent/core/image';

export const T0 = Date.parse('2026-11-01T00:00:00Z');
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export function inventoryImage(id: string, overrides: Partial<InventoryImage> = {}): InventoryImage {
  return { id, repoTags: [`repo/${id}:latest`], repoDigests: [], sizeBytes: 1000, createdMs: T0 - 30 * DAY, lastTagTimeMs: null, labels: {}, ...overrides };
}

export function record(id: string, overrides: Partial<ImageRecord> = {}): ImageRecord {
  return {
    id,
    repoTags: [`repo/${id}:latest`],
    repoDigests: [],
    sizeBytes: 1000,
    createdMs: T0 - 30 * DAY,
    firstSeenMs: T0,
    lastPulledMs: T0,
    lastUsedMs: null,
    useCount: 0,
    useScore: 0,
    removedMs: null,
    ...overrides,
  };
}
