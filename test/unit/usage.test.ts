import { arrived, arrivedImageIds, compareLeastRecent, observe, reconcile, releaseTags, removed, used, useScoreAt } from '../../agent/core/usage';
import { DAY, HOUR, inventoryImage, MINUTE, record, T0 } from './fixtures';

describe('event transitions', () => {
  it('a first pull creates a record seen and pulled at the event time', () => {
    const r = arrived(undefined, inventoryImage('a'), T0 + HOUR);
    expect(r).toMatchObject({ id: 'a', firstSeenMs: T0 + HOUR, lastPulledMs: T0 + HOUR, lastUsedMs: null, useCount: 0, removedMs: null });
  });

  it('a later pull moves lastPulled forward and keeps first seen and uses', () => {
    const before = record('a', { firstSeenMs: T0, lastPulledMs: T0, lastUsedMs: T0 + MINUTE, useCount: 3 });
    expect(arrived(before, inventoryImage('a'), T0 + DAY)).toMatchObject({ firstSeenMs: T0, lastPulledMs: T0 + DAY, lastUsedMs: T0 + MINUTE, useCount: 3 });
  });

  it('a replayed older event never moves timestamps back', () => {
    const before = record('a', { lastPulledMs: T0 + DAY, lastUsedMs: T0 + DAY });
    expect(arrived(before, inventoryImage('a'), T0).lastPulledMs).toBe(T0 + DAY);
    expect(used(before, T0, false).lastUsedMs).toBe(T0 + DAY);
  });

  it.each([
    [true, 1],
    [false, 0],
  ])('use counts only container starts (countsAsUse=%s adds %d)', (counts, added) => {
    const r = used(record('a', { useCount: 2 }), T0 + HOUR, counts);
    expect(r.lastUsedMs).toBe(T0 + HOUR);
    expect(r.useCount).toBe(2 + added);
  });

  it('a use adds one to the use score, which halves every day, and a replayed older use adds its decayed weight', () => {
    const first = used(record('a'), T0, true);
    expect(first.useScore).toBe(1);
    const second = used(first, T0 + DAY, true);
    expect(second.useScore).toBeCloseTo(1.5, 9);
    expect(useScoreAt(second, T0 + 3 * DAY)).toBeCloseTo(0.375, 9);
    // The same two uses told in the other order: the same score, kept as of the later one.
    const replayed = used(used(record('a'), T0 + DAY, true), T0, true);
    expect(replayed.lastUsedMs).toBe(T0 + DAY);
    expect(replayed.useScore).toBeCloseTo(1.5, 9);
    // A container created but not started moves the last use, not the score: it decays to it.
    const created = used(first, T0 + 2 * DAY, false);
    expect(created.useScore).toBeCloseTo(0.25, 9);
    expect(useScoreAt(created, T0 + 2 * DAY)).toBeCloseTo(useScoreAt(first, T0 + 2 * DAY), 9);
  });

  it('delete marks removed once; a delete older than the latest arrival is stale', () => {
    const live = record('a', { lastPulledMs: T0 + HOUR });
    expect(removed(live, T0 + 2 * HOUR).removedMs).toBe(T0 + 2 * HOUR);
    expect(removed(removed(live, T0 + 2 * HOUR), T0 + 3 * HOUR).removedMs).toBe(T0 + 2 * HOUR);
    expect(removed(live, T0 + MINUTE).removedMs).toBeNull();
  });

  it('observe of a removed image revives it with its history', () => {
    const gone = record('a', { removedMs: T0 + HOUR, useCount: 4 });
    expect(observe(gone, inventoryImage('a'), T0 + DAY)).toMatchObject({ removedMs: null, useCount: 4, firstSeenMs: T0 });
  });

  it('a tag moved to a new image is released by the old one', () => {
    const old = record('old', { repoTags: ['r/app:latest', 'r/app:v1'] });
    const other = record('other', { repoTags: ['r/other:latest'] });
    const owner = record('new', { repoTags: ['r/app:latest'] });
    expect(releaseTags([old, other, owner], owner)).toEqual([{ ...old, repoTags: ['r/app:v1'] }]);
  });
});

describe('reconcile', () => {
  const nowMs = T0 + DAY;

  it('an image that appeared while away gets its pull time from LastTagTime, else created time', () => {
    const changed = reconcile({
      records: new Map(),
      inventory: [inventoryImage('tagged', { lastTagTimeMs: T0 + HOUR }), inventoryImage('untagged', { createdMs: T0 - DAY })],
      containers: [],
      nowMs,
      lastInventoryMs: null,
    });
    expect(changed.find((r) => r.id === 'tagged')).toMatchObject({ lastPulledMs: T0 + HOUR, firstSeenMs: nowMs, lastUsedMs: null });
    expect(changed.find((r) => r.id === 'untagged')).toMatchObject({ lastPulledMs: T0 - DAY });
  });

  it('dates an image new to the records no earlier than the previous inventory pass, which did not see it', () => {
    const records = new Map([['known', record('known', { lastPulledMs: T0 })]]);
    const inventory = [
      inventoryImage('known'),
      inventoryImage('built-long-ago', { createdMs: T0 - 30 * DAY }),
      inventoryImage('tagged-since', { lastTagTimeMs: nowMs - HOUR }),
      inventoryImage('no-times', { createdMs: null }),
    ];
    const changed = reconcile({ records, inventory, containers: [], nowMs, lastInventoryMs: nowMs - 2 * HOUR });
    expect(changed.find((r) => r.id === 'built-long-ago')).toMatchObject({ lastPulledMs: nowMs - 2 * HOUR });
    expect(changed.find((r) => r.id === 'tagged-since')).toMatchObject({ lastPulledMs: nowMs - HOUR });
    expect(changed.find((r) => r.id === 'no-times')).toMatchObject({ lastPulledMs: nowMs - 2 * HOUR });
    // A record it already holds keeps its own times.
    expect(changed.find((r) => r.id === 'known')).toBeUndefined();
  });

  it('marks vanished images removed, leaves already-removed ones, counts containers as uses', () => {
    const records = new Map([
      ['kept', record('kept')],
      ['gone', record('gone')],
      ['old-gone', record('old-gone', { removedMs: T0 + HOUR })],
      ['running', record('running')],
      ['stopped', record('stopped', { lastUsedMs: T0 })],
    ]);
    const containers = [
      { id: 'c1', name: 'job', imageId: 'running', state: 'running', createdMs: T0 + HOUR },
      { id: 'c2', name: 'old-job', imageId: 'stopped', state: 'exited', createdMs: T0 + 2 * HOUR },
      { id: 'c3', name: 'older-job', imageId: 'stopped', state: 'exited', createdMs: T0 + HOUR },
    ];
    const inventory = ['kept', 'running', 'stopped'].map((id) => inventoryImage(id));
    const changed = reconcile({ records, inventory, containers, nowMs, lastInventoryMs: T0 });
    expect(changed.map((r) => r.id).sort()).toEqual(['gone', 'running', 'stopped']);
    expect(changed.find((r) => r.id === 'gone')?.removedMs).toBe(nowMs);
    expect(changed.find((r) => r.id === 'running')).toMatchObject({ lastUsedMs: nowMs, useCount: 0 });
    expect(changed.find((r) => r.id === 'stopped')).toMatchObject({ lastUsedMs: T0 + 2 * HOUR, useCount: 0 });
  });

  it('returns nothing when records already match Docker', () => {
    const records = new Map([['a', record('a')]]);
    expect(reconcile({ records, inventory: [inventoryImage('a')], containers: [], nowMs, lastInventoryMs: T0 })).toEqual([]);
  });

  it('asks for inspect data only for images new to the records', () => {
    const records = new Map([
      ['known', record('known')],
      ['back', record('back', { removedMs: T0 })],
    ]);
    expect(arrivedImageIds(records, [inventoryImage('known'), inventoryImage('back'), inventoryImage('new')])).toEqual(['back', 'new']);
  });
});

describe('least-recent order', () => {
  it('uses the later of last used and last pulled, else first seen; ties by image ID', () => {
    const rows = [
      record('used-late', { lastUsedMs: T0 + 3 * HOUR }),
      record('pulled-only', { lastPulledMs: T0 + 2 * HOUR }),
      record('seen-only', { lastPulledMs: null, firstSeenMs: T0 + HOUR }),
      record('never-pulled-but-used', { lastPulledMs: null, lastUsedMs: T0 + 150 * MINUTE }),
      record('tie-b', { lastUsedMs: T0 + 4 * HOUR }),
      record('tie-a', { lastUsedMs: T0 + 4 * HOUR }),
      record('used-early-pulled-late', { lastPulledMs: T0 + 5 * HOUR, lastUsedMs: T0 + 30 * MINUTE }),
    ];
    expect([...rows].sort(compareLeastRecent).map((r) => r.id)).toEqual([
      'seen-only',
      'pulled-only',
      'never-pulled-but-used',
      'used-late',
      'tie-a',
      'tie-b',
      'used-early-pulled-late',
    ]);
  });
});
