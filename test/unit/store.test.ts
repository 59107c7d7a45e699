// The store against a real SQLite file in a temporary directory.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { migrate, readMigrations } from '../../agent/state/migrate';
import { openStore } from '../../agent/state/store';
import { BUCKETS, CLASSES, REPOSITORY_CLASSES } from '../../agent/core/reuse-model';
import { silentLog } from '../../agent/log';
import { StateError } from '../../agent/errors';
import { fileTestDir } from '../harness/tmp';
import { DAY, MINUTE, record, T0 } from './fixtures';

const root = fileTestDir('store-unit');

function tempPath(): string {
  return join(mkdtempSync(join(root, 'case-')), 'state.db');
}

describe('migrations', () => {
  it('apply in order, once, each recorded', () => {
    const db = new BetterSqlite3(tempPath());
    const migrations = readMigrations();
    expect(migrations.map((m) => m.version)).toEqual([...migrations.map((m) => m.version)].sort((a, b) => a - b));
    expect(migrate(db, migrations, T0)).toEqual(migrations.map((m) => m.version));
    const schemaBefore = db.prepare('SELECT sql FROM sqlite_master ORDER BY name').all();
    expect(migrate(db, migrations, T0 + 1)).toEqual([]);
    expect(db.prepare('SELECT sql FROM sqlite_master ORDER BY name').all()).toEqual(schemaBefore);
    expect(db.prepare('SELECT version, applied_ms FROM schema_migrations').all()).toEqual(migrations.map((m) => ({ version: m.version, applied_ms: T0 })));
    db.close();
  });

  it('start the recorded images\' use scores from their lifetime rate, at most their use count', () => {
    const db = new BetterSqlite3(tempPath());
    const migrations = readMigrations();
    migrate(db, migrations.filter((m) => m.version < 8), T0);
    const insert = db.prepare("INSERT INTO images (id, repo_tags, repo_digests, size_bytes, first_seen_ms, last_used_ms, use_count) VALUES (?, '[]', '[]', 1, ?, ?, ?)");
    insert.run('steady', T0, T0 + 10 * DAY, 30);
    insert.run('burst', T0, T0 + 10 * MINUTE, 2);
    insert.run('unused', T0, null, 0);
    expect(migrate(db, migrations.filter((m) => m.version <= 8), T0)).toEqual([8]);
    const score = (id: string) => (db.prepare('SELECT use_score FROM images WHERE id = ?').get(id) as { use_score: number }).use_score;
    // 3 uses a day, each halved every day: a steady score near 3 / ln 2.
    expect(score('steady')).toBeCloseTo(3 / Math.LN2, 6);
    expect(score('burst')).toBe(2);
    expect(score('unused')).toBe(0);
    db.close();
  });

  it('roll back a failing migration whole', () => {
    const db = new BetterSqlite3(tempPath());
    const bad = [{ version: 1, name: 'bad', sql: 'CREATE TABLE a (x INTEGER); CREATE TABLE a (y INTEGER);' }];
    expect(() => migrate(db, bad, T0)).toThrow(/already exists/);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'a'").all()).toEqual([]);
    expect(db.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get()).toEqual({ n: 0 });
    db.close();
  });
});

describe('store', () => {
  it('keeps records and the cursor across reopening, in WAL mode', () => {
    const path = tempPath();
    const first = openStore(path, silentLog, T0);
    expect(first.movedAsideTo).toBeNull();
    const hostile = record('sha256:evil', { repoTags: ["ev'il\u0007\n\"); DROP TABLE images; --:latest"] });
    first.store.save([record('a', { useCount: 3, useScore: 2.75, lastUsedMs: T0 + 5 }), hostile], '1795432835504768459');
    first.store.close();

    const again = openStore(path, silentLog, T0 + 1000).store;
    expect(again.image('a')).toEqual(record('a', { useCount: 3, useScore: 2.75, lastUsedMs: T0 + 5 }));
    expect(again.image('sha256:evil')).toEqual(hostile);
    expect(again.cursor()).toBe('1795432835504768459');
    expect([...again.images().keys()].sort()).toEqual(['a', 'sha256:evil']);
    // No inventory pass yet; then one, kept with what it wrote.
    expect(again.lastInventoryMs()).toBeNull();
    again.saveInventory([record('b')], T0 + 2000);
    again.close();
    const third = openStore(path, silentLog, T0 + 3000).store;
    expect(third.lastInventoryMs()).toBe(T0 + 2000);
    expect(third.image('b')).toEqual(record('b'));
    third.close();
    const raw = new BetterSqlite3(path);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('finds tag holders by index, removed images and moved tags excluded', () => {
    const path = tempPath();
    const { store } = openStore(path, silentLog, T0);
    store.save([
      record('a', { repoTags: ['app:1', 'app:latest'] }),
      record('b', { repoTags: ['app:2'] }),
      record('gone', { repoTags: ['app:1'], removedMs: T0 }),
    ]);
    expect(store.tagHolders(['app:latest', 'app:2']).map((r) => r.id).sort()).toEqual(['a', 'b']);
    // The tag moves: the index follows the record's new tags.
    store.save([record('a', { repoTags: ['app:1'] }), record('b', { repoTags: ['app:2', 'app:latest'] })]);
    expect(store.tagHolders(['app:latest']).map((r) => r.id)).toEqual(['b']);
    expect(store.tagHolders(['app:1']).map((r) => r.id)).toEqual(['a']);
    expect(store.tagHolders([])).toEqual([]);
    store.close();
    // A database from before the index (migration 004) is indexed by the migration itself.
    const old = new BetterSqlite3(tempPath());
    migrate(old, readMigrations().filter((m) => m.version < 4), T0);
    old.prepare("INSERT INTO images (id, repo_tags, first_seen_ms) VALUES ('x', '[\"old:1\"]', 0)").run();
    migrate(old, readMigrations(), T0);
    expect(old.prepare('SELECT tag, image_id FROM image_tags').all()).toEqual([{ tag: 'old:1', image_id: 'x' }]);
    old.close();
  });

  it('moves a damaged file aside with a timestamp, keeping its bytes, and starts empty', () => {
    const path = tempPath();
    writeFileSync(path, 'not sqlite at all '.repeat(100));
    const errors: string[] = [];
    const log = { ...silentLog, error: (event: string) => errors.push(event) };
    const opened = openStore(path, log, T0);
    expect(opened.movedAsideTo).toBe(`${path}.corrupt-2026-11-01T00-00-00-000Z`);
    expect(readdirSync(join(path, '..')).sort()).toEqual(['state.db', 'state.db-shm', 'state.db-wal', 'state.db.corrupt-2026-11-01T00-00-00-000Z']);
    expect(errors).toEqual(['state_db_corrupt']);
    expect(opened.store.images().size).toBe(0);
    opened.store.close();
  });

  it('does not move aside a database it cannot open for other reasons', () => {
    // A parent that is not a directory: nothing to repair, the cause must surface.
    expect(() => openStore('/dev/null/state.db', silentLog, T0)).toThrow(/state database \/dev\/null\/state\.db: cannot create its directory/);
    const dir = mkdtempSync(join(root, 'case-'));
    // A directory where the file should be: not damage, so it must surface as a StateError.
    expect(() => openStore(dir, silentLog, T0)).toThrow(StateError);
  });
});

describe('usage history', () => {
  const DAY_MS = 86_400_000;

  it('every save appends what its records\' changes say happened, in order', () => {
    const { store } = openStore(tempPath(), silentLog, T0);
    const a = record('a', { lastPulledMs: T0 });
    store.save([a]);
    store.save([{ ...a, lastUsedMs: T0 + 1000, useCount: 1 }]);
    store.save([{ ...a, lastUsedMs: T0 + 1000, useCount: 1, repoTags: [] }]);
    store.save([{ ...a, lastUsedMs: T0 + 1000, useCount: 1, removedMs: T0 + 2000 }]);
    expect(store.history(0).map((e) => [e.kind, e.atMs - T0])).toEqual([
      ['pull', 0],
      ['use', 1000],
      ['remove', 2000],
    ]);
    expect(store.historyBounds()).toEqual({ events: 3, firstMs: T0, droppedBeforeMs: null });
    store.close();
  });

  it('compaction drops events past the window and the cap, then removed images no event names; live ones stay', () => {
    const { store } = openStore(tempPath(), silentLog, T0);
    const old = record('old', { lastPulledMs: T0, removedMs: null });
    const live = record('live', { lastPulledMs: T0 });
    store.save([old, live]);
    store.saveLayers([['old', [{ chainId: 'x', sizeBytes: 5 }]], ['live', [{ chainId: 'y', sizeBytes: 5 }]]]);
    store.save([{ ...old, removedMs: T0 + DAY_MS }]);
    const recent = record('recent', { lastPulledMs: T0 + 40 * DAY_MS });
    store.save([recent, { ...recent, lastUsedMs: T0 + 40 * DAY_MS + 1, useCount: 1 }]);
    expect(store.compactHistory(T0 + 10 * DAY_MS, 1_000_000)).toEqual({ events: 3, images: 1 });
    expect([...store.images().keys()].sort()).toEqual(['live', 'recent']);
    expect([...store.liveLayers().keys()]).toEqual(['live']);
    expect(store.history(0).map((e) => e.imageId)).toEqual(['recent', 'recent']);
    expect(store.historyBounds().droppedBeforeMs).toBe(T0 + 40 * DAY_MS);
    // The cap keeps the newest events.
    expect(store.compactHistory(0, 1)).toEqual({ events: 1, images: 0 });
    expect(store.history(0).map((e) => e.kind)).toEqual(['use']);
    store.close();
  });

  it('a clock jump shifts the stored history and the compaction mark recorded before it, and appends nothing', () => {
    const { store } = openStore(tempPath(), silentLog, T0);
    const a = record('a', { lastPulledMs: T0 + 20 * DAY_MS });
    store.save([record('old', { lastPulledMs: T0 }), a, { ...a, lastUsedMs: T0 + 20 * DAY_MS + 1000, useCount: 1 }]);
    store.compactHistory(T0 + 10 * DAY_MS, 1_000_000);
    expect(store.historyBounds().droppedBeforeMs).toBe(T0 + 20 * DAY_MS);
    // The wall clock goes forwards a day, a minute after the use.
    const jump = { skewMs: DAY_MS, prevWallMs: T0 + 20 * DAY_MS + 60_000, nowWallMs: T0 + 21 * DAY_MS + 60_000 };
    const moved = { ...a, lastPulledMs: T0 + 21 * DAY_MS, lastUsedMs: T0 + 21 * DAY_MS + 1000, useCount: 1 };
    store.saveShifted([moved], jump);
    expect(store.image('a')).toEqual(moved);
    expect(store.history(0).map((e) => [e.kind, e.atMs - T0])).toEqual([
      ['pull', 21 * DAY_MS],
      ['use', 21 * DAY_MS + 1000],
    ]);
    expect(store.historyBounds()).toEqual({ events: 2, firstMs: T0 + 21 * DAY_MS, droppedBeforeMs: T0 + 21 * DAY_MS });
    store.close();
  });

  it('a survey reads live records and layers only, while uses per repository count removed images too', () => {
    const { store } = openStore(tempPath(), silentLog, T0);
    const gone = record('gone', { repoTags: ['app:v1'], lastPulledMs: T0, useCount: 4 });
    const live = record('live', { repoTags: ['app:v2', 'app:latest'], lastPulledMs: T0, useCount: 2 });
    store.save([gone, live, { ...gone, removedMs: T0 + 1 }]);
    store.saveLayers([['gone', [{ chainId: 'x', sizeBytes: 5 }]], ['live', [{ chainId: 'y', sizeBytes: 5 }]]]);
    expect([...store.liveImages().keys()]).toEqual(['live']);
    expect([...store.liveLayers().keys()]).toEqual(['live']);
    // Two tags of one repository on one image count its uses once.
    expect(store.repositoryUses()).toEqual(new Map([['app', 6]]));
    expect(store.images().size).toBe(2);
    store.close();
  });

  it('keeps auto\'s choice across a restart, and ignores one it cannot read', () => {
    const path = tempPath();
    const first = openStore(path, silentLog, T0).store;
    expect(first.activeOrder()).toBeNull();
    const choice = { order: 'reuse' as const, chosenMs: T0, sinceMs: T0, reason: 'best on the recent history', jobs: 80, windowMs: DAY_MS, scores: [{ order: 'reuse' as const, downloadedBytes: 10, fullDiskJobs: 0 }] };
    first.saveActiveOrder(choice);
    first.close();
    const second = openStore(path, silentLog, T0).store;
    expect(second.activeOrder()).toEqual(choice);
    second.close();
    const db = new BetterSqlite3(path);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'active_order'").run(JSON.stringify({ ...choice, order: 'no-such-order' }));
    db.close();
    const third = openStore(path, silentLog, T0).store;
    expect(third.activeOrder()).toBeNull();
    third.close();
  });

  it('keeps the learned model across a restart, and learns again over one of an earlier shape', () => {
    const path = tempPath();
    const first = openStore(path, silentLog, T0).store;
    const model = {
      idlePerUseMs: Array.from({ length: CLASSES }, () => new Array<number>(BUCKETS).fill(DAY_MS)),
      repositoryIdlePerUseMs: Array.from({ length: REPOSITORY_CLASSES }, () => new Array<number>(BUCKETS).fill(DAY_MS)),
      gaps: 40,
    };
    first.saveReuseModel(T0, model);
    first.close();
    const second = openStore(path, silentLog, T0).store;
    expect(second.reuseModel()).toEqual({ learnedMs: T0, model });
    second.close();
    // Before 2026-11-24 the model held expected times to the next use, a key of another meaning.
    const db = new BetterSqlite3(path);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'reuse_model'").run(JSON.stringify({ learnedMs: T0, model: { residualMs: model.idlePerUseMs, gaps: 40 } }));
    db.close();
    const third = openStore(path, silentLog, T0).store;
    expect(third.reuseModel()).toBeNull();
    // Before 2026-11-25 there were 10 classes: 5 use counts, superseded or not.
    third.saveReuseModel(T0, { ...model, idlePerUseMs: model.idlePerUseMs.slice(0, 10) });
    expect(third.reuseModel()).toBeNull();
    // Until later on 2026-11-25 there was no table for repositories' gaps.
    const db2 = new BetterSqlite3(path);
    db2.prepare("UPDATE meta SET value = ? WHERE key = 'reuse_model'").run(JSON.stringify({ learnedMs: T0, model: { idlePerUseMs: model.idlePerUseMs, gaps: 40 } }));
    db2.close();
    expect(third.reuseModel()).toBeNull();
    third.close();
  });

  it('the migration starts the history from the records a previous version kept', () => {
    const path = tempPath();
    const db = new BetterSqlite3(path);
    migrate(db, readMigrations().filter((m) => m.version < 5), T0);
    db.prepare("INSERT INTO images (id, first_seen_ms, last_pulled_ms, last_used_ms, use_count, removed_ms, repo_tags) VALUES ('a', ?, ?, ?, 3, ?, '[\"r/a:1\"]')").run(T0, T0, T0 + 5, T0 + 9);
    db.close();
    const { store } = openStore(path, silentLog, T0);
    expect(store.history(0)).toEqual([
      { atMs: T0, kind: 'pull', imageId: 'a', repoTags: ['r/a:1'] },
      { atMs: T0 + 5, kind: 'use', imageId: 'a', repoTags: [] },
      { atMs: T0 + 9, kind: 'remove', imageId: 'a', repoTags: [] },
    ]);
    store.close();
  });
});
