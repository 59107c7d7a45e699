// What commands print, in one place, so every command shows a size, an age, an image or a removal
// the same way: sizes with their share of the disk, ages, short IDs, the tags cell, tables.
import { implausibleThresholds, type Thresholds } from '../core/planner';
import type { StepOutcome } from '../eviction/evictor';
import { escapeControl } from '../log';
import { formatBytes, formatDuration } from '../core/units';

export { formatBytes, formatDuration, formatRatio, formatShare } from '../core/units';

/** An epoch-milliseconds time as ISO 8601 text, for JSON output; null stays null. */
export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** How long ago `thenMs` was: `3d 4h ago`, `never` when unknown. */
export function formatAgo(thenMs: number | null, nowMs: number): string {
  if (thenMs === null) return 'never';
  const deltaMs = nowMs - thenMs;
  if (deltaMs < 0) return `in ${formatDuration(-deltaMs)}`;
  return `${formatDuration(deltaMs)} ago`;
}

/** The 12-hex-digit form Docker prints. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** An image's tags in a table cell: escaped (names are untrusted), comma-separated, `<none>` if none. */
export function tagsCell(tags: string[]): string {
  return tags.length > 0 ? tags.map(escapeControl).join(',') : '<none>';
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Writes one stderr line per protect pattern or Protect rule that matches no image: it protects nothing. */
export function warnUnmatchedProtections(unmatched: string[]): void {
  for (const origin of unmatched) process.stderr.write(`image-evictor: warning: ${escapeControl(origin)} matches no image: it protects nothing\n`);
}

/**
 * Writes one stderr line per threshold no one can have meant on this disk (one-shots warn; the
 * agent refuses to start). `prefix` names the registry's keys (`registry-low-free`).
 */
export function warnImplausibleThresholds(thresholds: Pick<Thresholds, 'lowFree' | 'targetFree'>, disk: { totalBytes: number; path: string }, prefix = ''): void {
  for (const { key, reason } of implausibleThresholds(thresholds, disk.totalBytes)) {
    process.stderr.write(`image-evictor: warning: ${prefix}${key} on ${escapeControl(disk.path)}: ${reason}\n`);
  }
}

/** Image removals as a table, or `nothing removed`. */
export function outcomesText(outcomes: StepOutcome[]): string {
  const rows = outcomes.map((o) => [
    o.result,
    o.mode,
    tagsCell(o.tags),
    shortId(o.imageId),
    formatBytes(o.estimatedBytes),
    o.measuredBytes === null ? '-' : formatBytes(o.measuredBytes),
  ]);
  return rows.length > 0 ? renderTable(['RESULT', 'MODE', 'TAGS', 'ID', 'ESTIMATE', 'FREED'], rows) : 'nothing removed';
}
