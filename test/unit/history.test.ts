// The usage history: what a record's change appends, and the workload a history replays as.
import { historyEntries, workloadFromHistory, type HistoryEntry, type HistoryImage } from '../../agent/core/history';
import { HOUR, MINUTE, record, T0 } from './fixtures';

describe('historyEntries', () => {
  it('a new image that arrived appends a pull with its tags', () => {
    expect(historyEntries(undefined, record('a', { lastPulledMs: T0 }), 'event')).toEqual([{ atMs: T0, kind: 'pull', imageId: 'a', repoTags: ['repo/a:latest'] }]);
  });

  it('a later use, a re-pull and a removal each append one entry; unchanged times append none', () => {
    const before = record('a', { lastPulledMs: T0, lastUsedMs: T0 + MINUTE });
    expect(historyEntries(before, { ...before, lastUsedMs: T0 + HOUR, useCount: 1 }, 'event')).toEqual([{ atMs: T0 + HOUR, kind: 'use', imageId: 'a', repoTags: [] }]);
    expect(historyEntries(before, { ...before, repoTags: [] }, 'event')).toEqual([]);
    expect(historyEntries(before, { ...before, lastPulledMs: T0 + 2 * HOUR }, 'event').map((e) => e.kind)).toEqual(['pull']);
    expect(historyEntries(before, { ...before, removedMs: T0 + 3 * HOUR }, 'event')).toEqual([{ atMs: T0 + 3 * HOUR, kind: 'remove', imageId: 'a', repoTags: [] }]);
    // A replayed older use (max semantics) says nothing new.
    expect(historyEntries(before, { ...before, lastUsedMs: T0 + MINUTE }, 'event')).toEqual([]);
  });

  it('an image an inventory pass finds new, or back, appends no pull: only its event knows when it came', () => {
    expect(historyEntries(undefined, record('a', { lastPulledMs: T0 }), 'inventory')).toEqual([]);
    const gone = record('a', { lastPulledMs: T0, removedMs: T0 + HOUR });
    expect(historyEntries(gone, { ...gone, lastPulledMs: T0 + 2 * HOUR, removedMs: null }, 'inventory')).toEqual([]);
    // What it does see happen is kept: a container's use, a removal.
    const live = record('a', { lastPulledMs: T0 });
    expect(historyEntries(live, { ...live, lastUsedMs: T0 + HOUR }, 'inventory').map((e) => e.kind)).toEqual(['use']);
    expect(historyEntries(live, { ...live, removedMs: T0 + HOUR }, 'inventory').map((e) => e.kind)).toEqual(['remove']);
  });
});

describe('workloadFromHistory', () => {
  const entry = (atMs: number, kind: HistoryEntry['kind'], imageId: string, repoTags: string[] = []): HistoryEntry => ({ atMs, kind, imageId, repoTags });
  const images = new Map<string, HistoryImage>([
    ['a', { record: record('a', { repoTags: [] }), layers: [{ chainId: 'base', sizeBytes: 100 }, { chainId: 'a-top', sizeBytes: 10 }] }],
    ['b', { record: record('b', { sizeBytes: 70 }), layers: null }],
  ]);

  it('makes one job per need: a pull and its container within a minute are one; removals are left out', () => {
    const { workload, unknownImages, imagesWithoutLayers } = workloadFromHistory(
      [
        entry(T0, 'pull', 'a', ['pipe/app:v1']),
        entry(T0 + 10_000, 'use', 'a'),
        entry(T0 + 30_000, 'use', 'a'),
        entry(T0 + HOUR, 'use', 'b'),
        entry(T0 + 2 * HOUR, 'remove', 'a'),
        entry(T0 + 3 * HOUR, 'use', 'a'),
        entry(T0 + 4 * HOUR, 'use', 'gone'),
      ],
      images,
    );
    expect(workload.jobs.map((j) => [j.atMs - T0, j.imageId])).toEqual([
      [0, 'a'],
      [HOUR, 'b'],
      [3 * HOUR, 'a'],
    ]);
    expect(unknownImages).toBe(1);
    expect(imagesWithoutLayers).toBe(1);
    const byId = new Map(workload.images.map((i) => [i.id, i]));
    // A dangling image replays under the tags it was pulled with, so its repository still counts.
    expect(byId.get('a')?.repoTags).toEqual(['pipe/app:v1']);
    expect(byId.get('a')?.layers).toEqual([
      { id: 'base', sizeBytes: 100 },
      { id: 'a-top', sizeBytes: 10 },
    ]);
    expect(byId.get('b')?.layers).toEqual([{ id: 'image:b', sizeBytes: 70 }]);
  });
});
