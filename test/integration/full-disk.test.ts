// A disk that fills to the last block under a running agent, with the state DB on that same
// filesystem: SQLite writes fail and the agent keeps going on what it holds in memory. Docker
// cannot remove an image then either (it rewrites its image metadata first, and gets ENOSPC), so
// the agent retries at every check; once the job that filled the disk goes away and leaves a few
// blocks, the agent evicts back to target and persists what it held.
import { mkdirSync, rmSync } from 'node:fs';
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

/**
 * Fills the filesystem until not one block is left, with files that are not images: first a
 * job's 2 MiB (removed later, as a CI runner removes a failed job), then the rest.
 */
async function fillToZero(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const job = join(dir, 'job');
  await run('dd', ['if=/dev/zero', `of=${job}`, 'bs=1M', 'count=2']);
  // Big blocks first, then smaller ones for the last scraps (small ext4 uses 1 KiB blocks); dd
  // stops on ENOSPC.
  for (const [file, bs] of [['big', '1M'], ['small', '4k'], ['tiny', '1k']] as const) {
    await run('dd', ['if=/dev/zero', `of=${join(dir, file)}`, `bs=${bs}`]);
  }
  return job;
}

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 400 * MiB, label: 'full' });
  for (const name of ['one', 'two', 'three']) images.push(await buildImage({ name: `full/${name}`, layerBytes: [24 * MiB] }));
});

afterAll(async () => {
  await agent?.stop();
  await engine?.stop();
});

test('at 0 bytes free, writes are deferred and checks go on; once a job frees a little, eviction reaches target and state is persisted', async () => {
  const stateDir = join(engine.dataRoot, 'image-evictor-state');
  mkdirSync(stateDir);
  const statePath = join(stateDir, 'state.db');
  for (const image of images) await engine.docker(['pull', '-q', image.ref]);
  agent = startAgent([
    '--docker-host', engine.host,
    '--state', statePath,
    '--interval', '1s',
    '--min-age', '1s',
    '--low-free', `${30 * MiB}B`,
    '--target-free', `${40 * MiB}B`,
  ]);
  await agent.waitForLog('reconcile');
  expect(await freeBytes()).toBeGreaterThan(100 * MiB);

  // The agent is paused while the disk fills. Otherwise, on a slow machine, a check in the middle
  // of the filling evicts, dd takes the freed space as well, and the test no longer knows which
  // disk a log line describes.
  agent.child.kill('SIGSTOP');
  const mark = agent.logs.length;
  let job: string;
  let freeWhenFull: number;
  try {
    job = await fillToZero(join(engine.dataRoot, 'filler'));
    freeWhenFull = await freeBytes();
  } finally {
    agent.child.kill('SIGCONT');
  }
  expect(freeWhenFull).toBe(0);

  // At 0 bytes: the agent's own writes wait in memory, and a whole check completes without a crash.
  await agent.waitForLogAfter(mark, 'state_write_deferred');
  const atZero = await agent.waitForLogAfter(mark, 'eviction_run');
  expect(atZero.freeBytes).toBe(0);
  expect(agent.child.exitCode).toBeNull();

  // The job's files go: 2 MiB, still far below low. The checks evict, now that Docker can. A check
  // already under way when the files go may straddle it (its first removal fails, the next one
  // succeeds) and end with its plan exhausted short of target; the following check finishes.
  const freed = agent.logs.length;
  rmSync(job);
  const evicted = await agent.waitForLogAfter(freed, 'eviction_run', (l) => Number(l.removed) > 0 && l.stoppedBecause === 'target');
  expect(Number(evicted.freeBytes)).toBeGreaterThanOrEqual(40 * MiB);
  expect(await freeBytes()).toBeGreaterThanOrEqual(40 * MiB);
  await agent.waitForLogAfter(mark, 'state_write_recovered');
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
