// A disk that fills to 100% under a running agent, with the state DB on that same filesystem:
// SQLite writes fail, yet the agent evicts back to target, then persists what it held in memory.
import { mkdirSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { startAgent, type AgentProcess } from '../harness/cli';
import { startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { run } from '../harness/proc';

const MiB = 2 ** 20;

let engine: Engine;
let agent: AgentProcess | undefined;
const images: BuiltImage[] = [];

async function freeBytes(): Promise<number> {
  const s = await statfs(engine.dataRoot);
  return s.bavail * s.bsize;
}

/** Fills the filesystem until not one block is left, with files that are not images. */
async function fillToZero(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // Big blocks first, then smaller ones for the last scraps (small ext4 uses 1 KiB blocks); dd
  // stops on ENOSPC.
  for (const [file, bs] of [['big', '1M'], ['small', '4k'], ['tiny', '1k']] as const) {
    await run('dd', ['if=/dev/zero', `of=${join(dir, file)}`, `bs=${bs}`]);
  }
}

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 400 * MiB, label: 'full' });
  for (const name of ['one', 'two', 'three']) images.push(await buildImage({ name: `full/${name}`, layerBytes: [24 * MiB] }));
});

afterAll(async () => {
  await agent?.stop();
  await engine?.stop();
});

test('at 0 bytes free, writes are deferred, eviction still reaches target, then state is persisted', async () => {
  const stateDir = join(engine.dataRoot, 'image-evictor-state');
  mkdirSync(stateDir);
  const statePath = join(stateDir, 'state.db');
  for (const image of images) await engine.docker(['pull', '-q', image.ref]);
  agent = startAgent([
    '--docker-host', engine.host,
    '--state', statePath,
    '--interval', '1s',
    '--min-age', '1s',
    '--low-free', String(30 * MiB),
    '--target-free', String(40 * MiB),
  ]);
  await agent.waitForLog('reconcile');
  expect(await freeBytes()).toBeGreaterThan(100 * MiB);

  await fillToZero(join(engine.dataRoot, 'filler'));
  expect(await freeBytes()).toBe(0);

  await agent.waitForLog('state_write_deferred', () => true, 20_000);
  const evicted = await agent.waitForLog('eviction_run', (l) => Number(l.freeBytes) >= 40 * MiB, 30_000);
  expect(evicted.stoppedBecause).toBe('target');
  expect(await freeBytes()).toBeGreaterThanOrEqual(40 * MiB);
  await agent.waitForLog('state_write_recovered', () => true, 20_000);
  expect(await agent.stop()).toBe(0);
  agent = undefined;

  const db = new BetterSqlite3(statePath, { readonly: true });
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const rows = db.prepare('SELECT image_id FROM evictions').all() as Array<{ image_id: string }>;
    expect(rows.length).toBeGreaterThanOrEqual(1);
    for (const row of rows) {
      expect(images.map((i) => i.id)).toContain(row.image_id);
      const record = db.prepare('SELECT removed_ms FROM images WHERE id = ?').get(row.image_id) as { removed_ms: number | null };
      expect(record.removed_ms).not.toBeNull();
    }
  } finally {
    db.close();
  }
});
