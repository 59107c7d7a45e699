// Wall-clock jumps: detected by comparing the wall clock with the monotonic one, and absorbed by
// shifting the times recorded before the jump, so "used a minute ago" stays a minute ago. Pure.
import type { ImageRecord } from './image';

/** Skews below this are ordinary drift and NTP slewing, not jumps. */
export const CLOCK_JUMP_TOLERANCE_MS = 5_000;

export interface ClockSample {
  wallMs: number;
  monoMs: number;
}

export interface ClockJump {
  /** How far the wall clock moved beyond real elapsed time: positive forwards, negative backwards. */
  skewMs: number;
  /** The wall clock at the previous sample and now. */
  prevWallMs: number;
  nowWallMs: number;
}

/** The jump between two samples, or null when the wall clock kept pace with the monotonic one. */
export function detectJump(prev: ClockSample, next: ClockSample): ClockJump | null {
  // Whole milliseconds: the shifted times are stored as integers.
  const skewMs = Math.round(next.wallMs - prev.wallMs - (next.monoMs - prev.monoMs));
  return Math.abs(skewMs) > CLOCK_JUMP_TOLERANCE_MS ? { skewMs, prevWallMs: prev.wallMs, nowWallMs: next.wallMs } : null;
}

/**
 * The band of times recorded after the jump. Times recorded after it lie between the previous
 * sample's wall time moved by the skew and now; everything else (including times "in the future"
 * after a backward jump) predates it. A time in that band is taken as after: the safe reading,
 * since it makes the image look more recent, never less.
 */
export function afterJumpBand(jump: ClockJump): { fromMs: number; toMs: number } {
  return { fromMs: jump.prevWallMs + jump.skewMs, toMs: jump.nowWallMs };
}

function beforeJump(timeMs: number, jump: ClockJump): boolean {
  const band = afterJumpBand(jump);
  return timeMs < band.fromMs || timeMs > band.toMs;
}

/** A time moved by the skew when it was recorded before the jump. */
export function shiftedTime(timeMs: number, jump: ClockJump): number {
  return beforeJump(timeMs, jump) ? timeMs + jump.skewMs : timeMs;
}

function shifted(timeMs: number | null, jump: ClockJump): number | null {
  return timeMs === null ? null : shiftedTime(timeMs, jump);
}

/** The record with its pre-jump times moved by the skew; creation time (the builder's clock) stays. */
export function shiftForJump(record: ImageRecord, jump: ClockJump): ImageRecord {
  return {
    ...record,
    firstSeenMs: shifted(record.firstSeenMs, jump) as number,
    lastPulledMs: shifted(record.lastPulledMs, jump),
    lastUsedMs: shifted(record.lastUsedMs, jump),
    removedMs: shifted(record.removedMs, jump),
  };
}

/**
 * Times beyond `nowMs` (a clock set back while no agent ran to see the jump) are brought back to
 * `nowMs`: the image counts as used just now, too young to evict for min-age, then ordinary.
 * Returns null when nothing was in the future.
 */
export function clampFuture(record: ImageRecord, nowMs: number): ImageRecord | null {
  const limit = nowMs + CLOCK_JUMP_TOLERANCE_MS;
  const clamp = (t: number | null) => (t !== null && t > limit ? nowMs : t);
  const after = { ...record, firstSeenMs: clamp(record.firstSeenMs) as number, lastPulledMs: clamp(record.lastPulledMs), lastUsedMs: clamp(record.lastUsedMs) };
  return after.firstSeenMs !== record.firstSeenMs || after.lastPulledMs !== record.lastPulledMs || after.lastUsedMs !== record.lastUsedMs ? after : null;
}

/**
 * Whether an event was applied already. The live stream, a catch-up and a replay after reconnect
 * can each bring the same event: it is known by identity among those applied recently, or by
 * sitting exactly at the persisted cursor (the last one applied before a restart; Docker replays
 * from `since=cursor`, so nothing older comes back). Older events arrive only after the clock went
 * backwards, and they are new.
 */
export function isAppliedEvent(key: string, timeNano: string, cursorNano: string | null, recentKeys: ReadonlySet<string>): boolean {
  return recentKeys.has(key) || (cursorNano !== null && timeNano === cursorNano);
}

/** The cursor after applying an event: the latest time seen, unless the clock went back past the tolerance. */
export function nextCursor(cursorNano: string | null, timeNano: string): string {
  if (cursorNano === null) return timeNano;
  const back = BigInt(cursorNano) - BigInt(timeNano);
  return back > BigInt(CLOCK_JUMP_TOLERANCE_MS) * 1_000_000n || back < 0n ? timeNano : cursorNano;
}
