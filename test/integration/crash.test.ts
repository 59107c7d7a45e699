// The agent killed with SIGKILL in the middle of an eviction run: on restart the state DB is
// intact, tracked timestamps are unchanged, and eviction resumes to target.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { startAgent } from '../harness/cli';
import { startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { waitFor } from '../harness/proc';
import { makeTestDir } from '../harness/tmp';

const MiB = 2 ** 20;
const LAYER = 4 * MiB;
const COUNT = 20;

let engine: Engine;
let statePath: string;
const images: BuiltImage[] = [];

interface Row {
  id: string;
  first_seen_ms: number;
  last_pulled_ms: number | null;
  last_used_ms: number | null;
  use_count: number;
}

function readState(): { integrity: unknown; rows: Row[]; evicted: string[] } {
  const db = new BetterSqlite3(statePath, { readonly: true });
  try {
    return {
      integrity: db.pragma('integrity_check', { simple: true }),
      rows: db.prepare('SELECT id, first_seen_ms, last_pulled_ms, last_used_ms, use_count FROM images ORDER BY id').all() as Row[],
      evicted: (db.prepare('SELECT image_id FROM evictions ORDER BY id').all() as Array<{ image_id: string }>).map((r) => r.image_id),
    };
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 500 * MiB, label: 'crash' });
  statePath = join(makeTestDir('crash-state'), 'state.db');
  for (let i = 0; i < COUNT; i += 1) images.push(await buildImage({ name: `crash/i${i}`, layerBytes: [LAYER] }));
});

afterAll(async () => {
  await engine?.stop();
  rmSync(dirname(statePath), { recursive: true, force: true });
});

test('SIGKILL mid-eviction: DB intact, timestamps unchanged, eviction resumes', async () => {
  const common = ['--docker-host', engine.host, '--state', statePath, '--interval', '1s', '--min-age', '1s'];
  const tracker = startAgent([...common, '--low-free', '1%', '--target-free', '2%', '--log-level', 'debug']);
  await tracker.waitForLog('docker_events_connected');
  for (const image of images) await engine.docker(['pull', '-q', image.ref]);
  const used = images.slice(0, 5);
  for (const image of used) await engine.docker(['run', '--rm', '--network', 'none', image.ref]);
  // Events apply in order, and a container's start is the last event of a use the agent tracks:
  // once the last start is applied, everything above is recorded, and no replay can change it.
  const starts = () => tracker.logs.filter((l) => l.message === 'docker_event' && l.type === 'container' && l.action === 'start').length;
  await waitFor('every use recorded', () => (starts() === used.length ? true : undefined));
  expect(await tracker.stop()).toBe(0);
  const before = readState().rows;
  expect(before).toHaveLength(images.length);
  await waitFor('min-age to pass', () => (Date.now() > Math.max(...before.map((r) => r.last_used_ms ?? 0)) + 1500 ? true : undefined));

  // A target no eviction can reach: the run goes through every image, so a kill after the
  // first removal lands in its middle.
  const thresholds = ['--low-free', '98%', '--target-free', '99%'];
  const victim = startAgent([...common, ...thresholds]);
  // Killed the moment its first removal is logged: the other removals take seconds at least.
  victim.onLog('eviction', () => victim.child.kill('SIGKILL'));
  await victim.waitForLog('eviction');
  expect(await victim.stop()).toBeNull();

  const afterCrash = readState();
  expect(afterCrash.integrity).toBe('ok');
  expect(afterCrash.evicted.length).toBeGreaterThanOrEqual(1);
  expect(afterCrash.evicted.length).toBeLessThan(images.length);

  const resumed = startAgent([...common, ...thresholds]);
  try {
    await resumed.waitForLog('eviction');
    await waitFor('every image evicted', async () => ((await engine.docker(['image', 'ls', '-q'])).trim() === '' ? true : undefined));
  } finally {
    expect(await resumed.stop()).toBe(0);
  }
  const final = readState();
  expect(final.integrity).toBe('ok');
  // Each image removed once; a kill between Docker's removal and the row's write may lose a row.
  expect(new Set(final.evicted).size).toBe(final.evicted.length);
  expect(final.evicted.length).toBeGreaterThanOrEqual(images.length - 1);
  for (const id of final.evicted) expect(images.map((i) => i.id)).toContain(id);
  // What the agent knew of each image survived the kill untouched (removal aside).
  const strip = (rows: Row[]) => rows.map(({ id, first_seen_ms, last_pulled_ms, last_used_ms, use_count }) => ({ id, first_seen_ms, last_pulled_ms, last_used_ms, use_count }));
  expect(strip(final.rows)).toEqual(strip(before));
});
