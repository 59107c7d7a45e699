// Eviction orders on plain records: each puts the image its rule names first.
import type { ImageRecord } from '../../agent/core/image';
import { evictionComparator, repositoryUses, type EvictionOrder } from '../../agent/core/order';
import { DAY, HOUR, record, T0 } from './fixtures';

const NOW = T0 + 10 * DAY;

function img(id: string, tag: string | null, usedAgoMs: number, useCount: number, sizeBytes = 100): ImageRecord {
  return record(id, { repoTags: tag === null ? [] : [tag], lastUsedMs: NOW - usedAgoMs, lastPulledMs: NOW - usedAgoMs, useCount, sizeBytes });
}

// old-once: used once, 5 h ago. busy: used often, 6 h ago (least recent). v1 superseded by v2.
const images = [
  img('busy', 'svc/db:1', 6 * HOUR, 40),
  img('old-once', 'tool/lint:1', 5 * HOUR, 1),
  img('v1', 'pipe/app:v1', 4 * HOUR, 12),
  img('v2', 'pipe/app:v2', 1 * HOUR, 3),
  img('dangling', null, 1 * HOUR, 2),
  img('big', 'huge/thing:1', 2 * HOUR, 9, 100_000),
];

function order(name: EvictionOrder): string[] {
  return [...images].sort(evictionComparator(name, images, NOW)).map((r) => r.id);
}

describe('eviction orders', () => {
  it.each<[EvictionOrder, string[]]>([
    ['lru', ['dangling', 'busy', 'old-once', 'v1', 'big', 'v2']],
    ['superseded', ['dangling', 'v1', 'busy', 'old-once', 'big', 'v2']],
    ['reuse', ['dangling', 'old-once', 'busy', 'v1', 'big', 'v2']],
    ['superseded-reuse', ['dangling', 'v1', 'old-once', 'busy', 'big', 'v2']],
    ['size', ['dangling', 'big', 'busy', 'old-once', 'v1', 'v2']],
  ])('%s', (name, expected) => {
    expect(order(name)).toEqual(expected);
  });

  it('an image tagged in two repositories is superseded only when both have newer pulls', () => {
    const both = img('both', 'a/x:1', 5 * HOUR, 1);
    const withSecond = { ...both, repoTags: ['a/x:1', 'b/y:1'] };
    const newerA = img('newer-a', 'a/x:2', 1 * HOUR, 1);
    const old = img('old', 'c/z:1', 6 * HOUR, 5);
    const set = [withSecond, newerA, old];
    expect([...set].sort(evictionComparator('superseded', set, NOW)).map((r) => r.id)).toEqual(['old', 'both', 'newer-a']);
  });

  it('counts uses of removed images of the same repository, given as history', () => {
    const fresh = img('v3', 'pipe/busy:v3', 1 * HOUR, 1);
    const tool = img('tool', 'tail/tool:1', 30 * 60_000, 1);
    const removed = { ...img('v2', 'pipe/busy:v2', 9 * HOUR, 25), removedMs: NOW - 2 * HOUR };
    const live = [fresh, tool];
    // Without history both look like one-offs: the older goes first.
    expect([...live].sort(evictionComparator('reuse', live, NOW)).map((r) => r.id)).toEqual(['v3', 'tool']);
    // With it, v3's repository has been used 26 times: the tool goes first.
    expect([...live].sort(evictionComparator('reuse', live, NOW, repositoryUses([...live, removed]))).map((r) => r.id)).toEqual(['tool', 'v3']);
  });
});

describe('reuse-interval', () => {
  it('of two images idle as long, the one used twice a day goes before the one used every few minutes', () => {
    const frequent = record('frequent', { repoTags: ['svc/db:1'], firstSeenMs: NOW - 10 * HOUR, lastPulledMs: NOW - 10 * HOUR, lastUsedMs: NOW - HOUR, useCount: 100 });
    const rare = record('rare', { repoTags: ['svc/report:1'], firstSeenMs: NOW - 5 * DAY, lastPulledMs: NOW - 5 * DAY, lastUsedMs: NOW - HOUR, useCount: 10 });
    const once = record('once', { repoTags: ['tool/scan:1'], firstSeenMs: NOW - 30 * 60_000, lastPulledMs: NOW - 30 * 60_000, lastUsedMs: NOW - 30 * 60_000, useCount: 1 });
    const all = [frequent, rare, once];
    // The one-off goes first although it is the most recent, as under `reuse`.
    expect([...all].sort(evictionComparator('reuse-interval', all, NOW)).map((r) => r.id)).toEqual(['once', 'rare', 'frequent']);
    expect([...all].sort(evictionComparator('lru', all, NOW)).map((r) => r.id)).toEqual(['frequent', 'rare', 'once']);
  });

  it('an image with one use borrows its repository\'s interval', () => {
    const v1 = record('v1', { repoTags: ['pipe/app:v1'], firstSeenMs: NOW - 10 * HOUR, lastUsedMs: NOW - 5 * HOUR, useCount: 50 });
    const v2 = record('v2', { repoTags: ['pipe/app:v2'], firstSeenMs: NOW - 2 * HOUR, lastPulledMs: NOW - 2 * HOUR, lastUsedMs: NOW - 2 * HOUR, useCount: 1 });
    const weekly = record('weekly', { repoTags: ['svc/weekly:1'], firstSeenMs: NOW - 21 * DAY, lastUsedMs: NOW - 3 * HOUR, useCount: 4 });
    const all = [v1, v2, weekly];
    // v2 (used once, but its repository is busy) is expected again soon: it goes last.
    expect([...all].sort(evictionComparator('reuse-interval', all, NOW)).map((r) => r.id)).toEqual(['weekly', 'v1', 'v2']);
  });
});
