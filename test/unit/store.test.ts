// The store against a real SQLite file in a temporary directory.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { migrate, readMigrations } from '../../agent/state/migrate';
import { openStore } from '../../agent/state/store';
import { silentLog } from '../../agent/log';
import { StateError } from '../../agent/errors';
import { fileTestDir } from '../harness/tmp';
import { record, T0 } from './fixtures';

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
    first.store.save([record('a', { useCount: 3, lastUsedMs: T0 + 5 }), hostile], '1795432835504768459');
    first.store.close();

    const again = openStore(path, silentLog, T0 + 1000).store;
    expect(again.image('a')).toEqual(record('a', { useCount: 3, lastUsedMs: T0 + 5 }));
    expect(again.image('sha256:evil')).toEqual(hostile);
    expect(again.cursor()).toBe('1795432835504768459');
    expect([...again.images().keys()].sort()).toEqual(['a', 'sha256:evil']);
    again.close();
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
