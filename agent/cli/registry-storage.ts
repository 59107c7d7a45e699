// The registry's storage as `registry plan`, `apply` and `status` see it: free space against
// registry-low-free and registry-target-free, and what the last day's pushes took.
import type { Config } from '../config/schema';
import { thresholdBytes } from '../core/planner';
import type { BlobRef, RegistryImage } from '../core/registry';
import { bytesPushedSince } from '../core/registry-planner';
import { measureDisk } from '../disk/disk';
import { escapeControl } from '../log';
import { formatBytes, warnImplausibleThresholds } from './format';

/** The day a nightly run's low-free must hold the pushes of. */
const DAY_MS = 86_400_000;

/** Free space, thresholds in bytes, and the bytes pushed over the last day (null: the state cannot tell yet). */
export interface StorageFigures {
  path: string;
  freeBytes: number;
  totalBytes: number;
  lowFreeBytes: number;
  targetFreeBytes: number;
  pushedLastDayBytes: number | null;
}

/**
 * Measures `registry-storage` (null when none is configured) and warns, on stderr, of a threshold
 * no one can have meant on it, and of a low threshold a day's pushes outgrow: a run leaves about
 * registry-low-free free, and the storage fills until the next one.
 */
export async function measureStorage(config: Config, images: RegistryImage[], blobs: Map<string, BlobRef[]>, nowMs: number): Promise<StorageFigures | null> {
  if (config.registryStoragePath === null) return null;
  const path = config.registryStoragePath;
  const disk = await measureDisk(path);
  const thresholds = { lowFree: config.registryLowFree, targetFree: config.registryTargetFree };
  warnImplausibleThresholds(thresholds, { totalBytes: disk.totalBytes, path }, 'registry-');
  const lowFreeBytes = thresholdBytes(thresholds.lowFree, disk.totalBytes);
  const pushed = bytesPushedSince(images, blobs, nowMs - DAY_MS);
  if (pushed !== null && pushed > lowFreeBytes) {
    process.stderr.write(
      `image-evictor: warning: registry-low-free on ${escapeControl(path)}: ${formatBytes(lowFreeBytes)} is less than the ${formatBytes(pushed)} pushed over the last 24 h: the storage may fill before the next nightly run; raise registry-low-free\n`,
    );
  }
  return { path, freeBytes: disk.freeBytes, totalBytes: disk.totalBytes, lowFreeBytes, targetFreeBytes: Math.max(lowFreeBytes, thresholdBytes(thresholds.targetFree, disk.totalBytes)), pushedLastDayBytes: pushed };
}

/** One line: the storage's free space against its thresholds, so that a plan without pressure says why. */
export function storageText(storage: StorageFigures): string {
  const below = storage.freeBytes < storage.lowFreeBytes;
  return `storage ${escapeControl(storage.path)}: ${formatBytes(storage.freeBytes)} free of ${formatBytes(storage.totalBytes)}, ${below ? 'below' : 'above'} registry-low-free ${formatBytes(storage.lowFreeBytes)}${below ? `: deleting toward registry-target-free ${formatBytes(storage.targetFreeBytes)}` : ': no deletes for space'}`;
}
