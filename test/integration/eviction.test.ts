// Eviction on a real engine whose data root is a small loop-mounted ext4: LRU order, stop at
// target, protection, emergency mode, min-age, images of stopped containers, and the dry runs.
import { rmSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { cli, startAgent, type AgentProcess } from '../harness/cli';
import { startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { run } from '../harness/proc';
import { DOCKER_CLI, dockerEnv } from '../harness/engine';
import { waitFor } from '../harness/proc';
import { makeTestDir } from '../harness/tmp';

const MiB = 2 ** 20;
const LAYER = 32 * MiB;
const PROTECT = '*/evict/mesa-*:*';

let engine: Engine;
let statePath: string;
const img: Record<string, BuiltImage> = {};

async function freeBytes(): Promise<number> {
  const s = await statfs(engine.dataRoot);
  return s.bavail * s.bsize;
}

async function present(image: BuiltImage): Promise<boolean> {
  return (await run(DOCKER_CLI, ['image', 'inspect', image.id], { env: dockerEnv(engine.host, engine.workDir) })).code === 0;
}

interface EvictionRow {
  image_id: string;
  mode: string;
  estimated_bytes: number;
  measured_bytes: number;
}

function evictionRows(): EvictionRow[] {
  const db = new BetterSqlite3(statePath, { readonly: true });
  try {
    return db.prepare('SELECT image_id, mode, estimated_bytes, measured_bytes FROM evictions ORDER BY id').all() as EvictionRow[];
  } finally {
    db.close();
  }
}

function agentArgs(extra: string[], interval = '1s'): string[] {
  return ['--docker-host', engine.host, '--state', statePath, '--interval', interval, '--protect', PROTECT, ...extra];
}

/** Thresholds as absolute bytes above the current free space. */
async function above(low: number, target: number): Promise<string[]> {
  const free = await freeBytes();
  return ['--low-free', `${Math.round(free + low)}B`, '--target-free', `${Math.round(free + target)}B`];
}

async function use(image: BuiltImage): Promise<number> {
  const at = Date.now();
  await engine.docker(['run', '--rm', '--network', 'none', image.ref]);
  return at;
}

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 900 * MiB, label: 'evict' });
  statePath = join(makeTestDir('evict-state'), 'state.db');
  for (const name of ['a1', 'a2', 'a3', 'a4']) img[name] = await buildImage({ name: `evict/${name}`, layerBytes: [LAYER] });
  for (const name of ['mesa-p1', 'mesa-p2', 'mesa-p3']) img[name] = await buildImage({ name: `evict/${name}`, layerBytes: [LAYER] });
});

afterAll(async () => {
  await engine?.stop();
  rmSync(dirname(statePath), { recursive: true, force: true });
});

describe('the agent under disk pressure', () => {
  let lastUseMs = 0;

  test('tracks pulls and uses while the disk has room (no eviction)', async () => {
    const agent = startAgent(agentArgs(['--low-free', '1%', '--target-free', '2%', '--min-age', '2s']));
    try {
      await agent.waitForLog('docker_events_connected');
      for (const name of ['mesa-p1', 'a1', 'a2', 'a3', 'a4']) await engine.docker(['pull', '-q', (img[name] as BuiltImage).ref]);
      // Last-use order, oldest first: a3, a1, mesa-p1 (protected), a4, a2.
      for (const name of ['a3', 'a1', 'mesa-p1', 'a4', 'a2']) lastUseMs = await use(img[name] as BuiltImage);
      await waitFor('a2 use recorded', async () => {
        const result = await cli(['--docker-host', engine.host, '--state', statePath, 'status', '--json']);
        const images = (JSON.parse(result.stdout) as { images: Array<{ id: string; lastUsedAt: string | null }> }).images;
        return images.find((i) => i.id === img.a2?.id)?.lastUsedAt ? true : undefined;
      });
      expect(agent.logs.filter((l) => l.message === 'eviction')).toEqual([]);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
  });

  test('run --dry-run logs the LRU evictions it would make and removes nothing', async () => {
    await waitFor('min-age to pass since the last use', () => (Date.now() > lastUseMs + 2500 ? true : undefined));
    const agent = startAgent(agentArgs([...(await above(LAYER, 2.5 * LAYER)), '--min-age', '2s']), ['--dry-run']);
    try {
      await agent.waitForLog('eviction_run');
      const wouldRemove = agent.logs.filter((l) => l.message === 'eviction_dry_run').map((l) => l.imageId);
      expect(wouldRemove).toEqual([img.a3?.id, img.a1?.id, img.a4?.id]);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
    for (const image of Object.values(img).filter((i) => i.ref.includes('/evict/a') || i.ref.includes('mesa-p1'))) expect(await present(image)).toBe(true);
    expect(evictionRows()).toEqual([]);
  });

  test('evicts in exact LRU order, skips the protected image, stops at target', async () => {
    const targetArgs = await above(LAYER, 2.5 * LAYER);
    const targetBytes = parseInt(targetArgs[3] as string, 10);
    const agent = startAgent(agentArgs([...targetArgs, '--min-age', '2s']));
    try {
      await agent.waitForLog('eviction_run');
      const removed = agent.logs.filter((l) => l.message === 'eviction').map((l) => l.imageId);
      expect(removed).toEqual([img.a3?.id, img.a1?.id, img.a4?.id]);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
    expect(await present(img.a3 as BuiltImage)).toBe(false);
    expect(await present(img.a1 as BuiltImage)).toBe(false);
    expect(await present(img.a4 as BuiltImage)).toBe(false);
    expect(await present(img['mesa-p1'] as BuiltImage)).toBe(true);
    expect(await present(img.a2 as BuiltImage)).toBe(true);
    expect(await freeBytes()).toBeGreaterThanOrEqual(targetBytes);
    const rows = evictionRows();
    expect(rows.map((r) => [r.image_id, r.mode])).toEqual([
      [img.a3?.id, 'normal'],
      [img.a1?.id, 'normal'],
      [img.a4?.id, 'normal'],
    ]);
    for (const row of rows) expect(row.measured_bytes).toBeGreaterThan(0.9 * LAYER);
  });

  test('emergency: with only protected images left, they go LRU first, until low only', async () => {
    // a2 now backs a stopped container: in use, never a candidate.
    await engine.docker(['create', '--name', 'stopped-job', '--network', 'none', img.a2?.ref as string]);
    for (const name of ['mesa-p2', 'mesa-p3']) await engine.docker(['pull', '-q', (img[name] as BuiltImage).ref]);
    const tracker = startAgent(agentArgs(['--low-free', '1%', '--target-free', '2%', '--min-age', '2s']));
    try {
      await tracker.waitForLog('docker_events_connected');
      // Protected last-use order: mesa-p1 (earlier test), then mesa-p2, then mesa-p3.
      await use(img['mesa-p2'] as BuiltImage);
      lastUseMs = await use(img['mesa-p3'] as BuiltImage);
      await tracker.waitForLog('reconcile', (l) => Date.parse(String(l.timestamp)) > lastUseMs + 1000);
    } finally {
      expect(await tracker.stop()).toBe(0);
    }
    await waitFor('min-age to pass since the last use', () => (Date.now() > lastUseMs + 2500 ? true : undefined));

    // Target beyond what the three protected images hold together (3.5 > 3 layers), yet inside the
    // disk: emergency must stop at low, not chase the target.
    const lowAndTarget = await above(1.5 * LAYER, 3.5 * LAYER);
    const lowBytes = parseInt(lowAndTarget[1] as string, 10);
    const agent = startAgent(agentArgs([...lowAndTarget, '--min-age', '2s']));
    try {
      await agent.waitForLog('eviction_run');
      expect(agent.logs.some((l) => l.message === 'emergency')).toBe(true);
      const removed = agent.logs.filter((l) => l.message === 'eviction').map((l) => [l.imageId, l.mode]);
      expect(removed).toEqual([
        [img['mesa-p1']?.id, 'emergency'],
        [img['mesa-p2']?.id, 'emergency'],
      ]);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
    expect(await freeBytes()).toBeGreaterThanOrEqual(lowBytes);
    expect(await present(img['mesa-p3'] as BuiltImage)).toBe(true);
    expect(await present(img.a2 as BuiltImage)).toBe(true);
    expect(evictionRows().filter((r) => r.mode === 'emergency').map((r) => r.image_id)).toEqual([img['mesa-p1']?.id, img['mesa-p2']?.id]);

    const status = await cli(['--docker-host', engine.host, '--state', statePath, '--min-age', '2s', '--protect', PROTECT, 'status', '--json']);
    const report = JSON.parse(status.stdout) as { evictions: { emergency: number }; images: Array<{ id: string; class: string }> };
    expect(report.evictions.emergency).toBe(2);
    expect(report.images.find((i) => i.id === img.a2?.id)?.class).toBe('in-use');
    expect(report.images.find((i) => i.id === img['mesa-p3']?.id)?.class).toBe('protected');
  });

  test('a pull between two polls triggers a check within seconds', async () => {
    for (const name of ['a3', 'a4']) await engine.docker(['pull', '-q', (img[name] as BuiltImage).ref]);
    const pulledMs = Date.now();
    await waitFor('min-age to pass since the pulls', () => (Date.now() > pulledMs + 2500 ? true : undefined));
    // Not under pressure now; one more pull of LAYER bytes will be. The interval is an hour, so only
    // the check that follows the pull event can act.
    const free = await freeBytes();
    const agent = startAgent(agentArgs(['--min-age', '2s', '--low-free', `${free - 0.5 * LAYER}B`, '--target-free', `${free + 0.5 * LAYER}B`], '1h'));
    try {
      await agent.waitForLog('reconcile');
      expect(agent.logs.some((l) => l.message === 'pressure')).toBe(false);
      // Any eviction before the hour is up comes from the check the pull event triggered.
      await engine.docker(['pull', '-q', img.a1?.ref as string]);
      const eviction = await agent.waitForLog('eviction');
      expect(eviction.imageId).toBe(img.a3?.id);
      expect(await present(img.a1 as BuiltImage)).toBe(true);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
  });
});
