// Wall-clock jumps: detection against the monotonic clock, shifting what was recorded before one,
// and event deduplication that survives the clock going backwards.
import { clampFuture, detectJump, isAppliedEvent, nextCursor, shiftForJump } from '../../agent/core/clock';
import { DAY, HOUR, MINUTE, record, T0 } from './fixtures';

const SECOND = 1000;

describe('detectJump', () => {
  it.each([
    ['steady', T0 + SECOND, 1000 + SECOND, null],
    ['drift under the tolerance', T0 + SECOND + 4 * SECOND, 1000 + SECOND, null],
    ['forwards two days', T0 + SECOND + 2 * DAY, 1000 + SECOND, 2 * DAY],
    ['backwards an hour', T0 + SECOND - HOUR, 1000 + SECOND, -HOUR],
    ['a suspended machine (both clocks moved) is no jump', T0 + HOUR, 1000 + HOUR, null],
  ])('%s', (_name, wallMs, monoMs, skew) => {
    const jump = detectJump({ wallMs: T0, monoMs: 1000 }, { wallMs, monoMs });
    expect(jump?.skewMs ?? null).toBe(skew);
  });
});

describe('shiftForJump', () => {
  const prevWallMs = T0;
  it('forwards: times before the jump move with it; times recorded after it stay', () => {
    const jump = { skewMs: 2 * DAY, prevWallMs, nowWallMs: T0 + 2 * DAY + SECOND };
    const before = record('a', { firstSeenMs: T0 - DAY, lastPulledMs: T0 - HOUR, lastUsedMs: T0 - MINUTE, createdMs: T0 - 30 * DAY });
    expect(shiftForJump(before, jump)).toEqual({ ...before, firstSeenMs: T0 + DAY, lastPulledMs: T0 + 2 * DAY - HOUR, lastUsedMs: T0 + 2 * DAY - MINUTE });
    const after = record('b', { firstSeenMs: T0 + 2 * DAY + 500, lastPulledMs: T0 + 2 * DAY + 500, lastUsedMs: null });
    expect(shiftForJump(after, jump)).toEqual(after);
  });

  it('backwards: times before the jump (now in the future, or older than the band) move back', () => {
    const jump = { skewMs: -DAY, prevWallMs, nowWallMs: T0 - DAY + SECOND };
    const before = record('a', { firstSeenMs: T0 - 3 * DAY, lastPulledMs: T0 - MINUTE, lastUsedMs: T0 - 2 * MINUTE });
    expect(shiftForJump(before, jump)).toEqual({ ...before, firstSeenMs: T0 - 4 * DAY, lastPulledMs: T0 - DAY - MINUTE, lastUsedMs: T0 - DAY - 2 * MINUTE });
    const after = record('b', { firstSeenMs: T0 - DAY + 500, lastPulledMs: T0 - DAY + 500, lastUsedMs: null });
    expect(shiftForJump(after, jump)).toEqual(after);
  });
});

describe('clampFuture', () => {
  it('brings times in the future back to now; leaves the rest', () => {
    const r = record('a', { firstSeenMs: T0 - DAY, lastPulledMs: T0 + DAY, lastUsedMs: T0 + HOUR });
    expect(clampFuture(r, T0)).toEqual({ ...r, lastPulledMs: T0, lastUsedMs: T0 });
    expect(clampFuture(record('b', { lastPulledMs: T0 + 2 * SECOND }), T0)).toBeNull();
  });
});

describe('event deduplication', () => {
  const cursor = '2000000000000000000';
  it.each([
    ['seen recently by identity', 'k', '1999999999000000000', new Set(['k']), true],
    ['exactly at the persisted cursor (replayed after a restart)', 'k', cursor, new Set<string>(), true],
    ['newer than the cursor', 'k', '2000000000000000001', new Set<string>(), false],
    ['older than the cursor and unseen: the clock went back, it is new', 'k', '1990000000000000000', new Set<string>(), false],
  ])('%s', (_name, key, timeNano, recent, applied) => expect(isAppliedEvent(key, timeNano, cursor, recent)).toBe(applied));

  it.each([
    ['advances', '2000000001000000000', '2000000001000000000'],
    ['keeps the max for a slightly late event', '1999999999000000000', cursor],
    ['follows the clock back past the tolerance', '1999990000000000000', '1999990000000000000'],
  ])('cursor %s', (_name, timeNano, expected) => expect(nextCursor(cursor, timeNano)).toBe(expected));
});

it('skews are whole milliseconds even with a fractional monotonic clock (shifted times are stored as integers)', () => {
  const jump = detectJump({ wallMs: T0, monoMs: 1000.25 }, { wallMs: T0 + DAY, monoMs: 2000.7 });
  expect(Number.isInteger(jump?.skewMs)).toBe(true);
});
