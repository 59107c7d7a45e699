// A damaged state DB is moved aside, never dropped, and rebuilt from the real engine's inventory.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { cli } from '../harness/cli';
import { startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { makeTestDir } from '../harness/tmp';

let engine: Engine;
let dir: string;
let image: BuiltImage;

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 512 * 2 ** 20, label: 'statedb' });
  dir = makeTestDir('statedb');
  image = await buildImage({ name: 'statedb/app', layerBytes: [2 ** 20] });
  await engine.docker(['pull', '-q', image.ref]);
});

afterAll(async () => {
  await engine?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function storedImageIds(statePath: string): string[] {
  const db = new BetterSqlite3(statePath, { readonly: true });
  try {
    return (db.prepare('SELECT id FROM images WHERE removed_ms IS NULL').all() as Array<{ id: string }>).map((r) => r.id);
  } finally {
    db.close();
  }
}

async function statusAt(statePath: string) {
  return cli(['--docker-host', engine.host, '--state', statePath, 'status', '--json']);
}

test('status on an empty engine and empty DB works', async () => {
  const empty = await startEngine({ diskBytes: 256 * 2 ** 20, label: 'empty' });
  try {
    const result = await cli(['--docker-host', empty.host, '--state', join(dir, 'empty.db'), 'status']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^disk .+ free \(\d+(\.\d)?%\), inodes \d+(\.\d)?% free$/m);
    expect(result.stdout).toContain('no images tracked');
  } finally {
    await empty.stop();
  }
});

test.each([
  { name: 'garbage bytes', damage: (path: string) => writeFileSync(path, 'this is not a database, just text '.repeat(200)) },
  {
    name: 'a truncated database',
    damage: (path: string) => {
      const db = new BetterSqlite3(path);
      db.exec('CREATE TABLE filler (x TEXT)');
      const insert = db.prepare('INSERT INTO filler VALUES (?)');
      for (let i = 0; i < 2000; i += 1) insert.run('x'.repeat(100));
      db.pragma('journal_mode = DELETE');
      db.close();
      truncateSync(path, Math.floor(statSync(path).size / 2));
    },
  },
])('$name: moved aside with a timestamp and rebuilt from the inventory', async ({ damage }) => {
  const stateDir = mkdtempSync(join(dir, 'case-'));
  const statePath = join(stateDir, 'state.db');
  damage(statePath);
  const damagedBytes = readFileSync(statePath);

  const result = await statusAt(statePath);
  expect(result.code).toBe(0);
  expect(result.stderr).toContain('"message":"state_db_corrupt"');
  const report = JSON.parse(result.stdout) as { images: Array<{ id: string }> };
  expect(report.images.map((i) => i.id)).toEqual([image.id]);

  const aside = readdirSync(stateDir).filter((f) => /^state\.db\.corrupt-\d{4}-\d\d-\d\dT[\d-]+Z$/.test(f));
  expect(aside).toHaveLength(1);
  expect(readFileSync(join(stateDir, aside[0] as string))).toEqual(damagedBytes);
  expect(storedImageIds(statePath)).toEqual([image.id]);
  expect(statSync(statePath).mode & 0o777).toBe(0o600);

  // The rebuilt DB is healthy: a second run moves nothing aside.
  const again = await statusAt(statePath);
  expect(again.code).toBe(0);
  expect(again.stderr).not.toContain('state_db_corrupt');
  expect(existsSync(statePath)).toBe(true);
});
