// `plan` and `purge` as CLI processes on a real engine: layer-sharing estimates against measured
// bytes, min-age, images of stopped containers, protected images and --emergency, exit codes.
import { rmSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { cli, startAgent } from '../harness/cli';
import { DOCKER_CLI, dockerEnv, startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { run } from '../harness/proc';
import { backdateUsage } from '../harness/state';
import { makeTestDir } from '../harness/tmp';

const MiB = 2 ** 20;
const HOUR = 3_600_000;
// `young` is pulled last and stays young for ten minutes: no step of this file takes that long.
// The others are moved an hour into the past in the state, well beyond min-age.
const MIN_AGE = ['--min-age', '10m'];
const PROTECT = ['--protect', '*/share/mesa-*:*'];

let engine: Engine;
let statePath: string;
let base: BuiltImage;
let s1: BuiltImage;
let s2: BuiltImage;
let pinned: BuiltImage;
let mesa: BuiltImage;
let young: BuiltImage;

async function freeBytes(): Promise<number> {
  const s = await statfs(engine.dataRoot);
  return s.bavail * s.bsize;
}

async function present(image: BuiltImage): Promise<boolean> {
  return (await run(DOCKER_CLI, ['image', 'inspect', image.id], { env: dockerEnv(engine.host, engine.workDir) })).code === 0;
}

function ie(args: string[]) {
  return cli(['--docker-host', engine.host, '--state', statePath, ...MIN_AGE, ...PROTECT, ...args]);
}

interface PlanJson {
  underPressure: boolean;
  emergency: boolean;
  steps: Array<{ imageId: string; mode: string; reason: string; estimatedBytes: number }>;
}

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 700 * MiB, label: 'purge' });
  statePath = join(makeTestDir('purge-state'), 'state.db');
  base = await buildImage({ name: 'share/base', layerBytes: [48 * MiB] });
  s1 = await buildImage({ name: 'share/s1', from: base.ref, layerBytes: [8 * MiB] });
  s2 = await buildImage({ name: 'share/s2', from: base.ref, layerBytes: [16 * MiB] });
  pinned = await buildImage({ name: 'share/pinned', layerBytes: [4 * MiB] });
  mesa = await buildImage({ name: 'share/mesa-base', layerBytes: [4 * MiB] });
  young = await buildImage({ name: 'share/young', layerBytes: [4 * MiB] });
  // As on a real runner, the agent sees the pulls happen: a plain pull leaves no LastTagTime on
  // the image, so only the pull event can tell that `young` arrived a moment ago.
  const agent = startAgent(['--docker-host', engine.host, '--state', statePath, '--low-free', '1%', '--target-free', '2%', '--log-level', 'debug']);
  try {
    await agent.waitForLog('docker_events_connected');
    for (const image of [s1, s2, pinned, mesa, young]) await engine.docker(['pull', '-q', image.ref]);
    await engine.docker(['create', '--name', 'stopped-job', '--network', 'none', pinned.ref]);
    await agent.waitForLog('docker_event', (l) => l.action === 'pull' && String(l.actor).includes('share/young'));
  } finally {
    expect(await agent.stop()).toBe(0);
  }
  // The pull order (s1 before s2) is kept: every image moves by the same hour.
  backdateUsage(statePath, [s1, s2, pinned, mesa].map((i) => i.id), HOUR);
});

afterAll(async () => {
  await engine?.stop();
  rmSync(dirname(statePath), { recursive: true, force: true });
});

test('plan: LRU candidates with unique-part estimates, then protected images in emergency', async () => {
  const result = await ie(['--low-free', '99%', '--target-free', '99.5%', 'plan', '--json']);
  expect(result.code).toBe(0);
  const p = JSON.parse(result.stdout) as PlanJson;
  expect(p.underPressure).toBe(true);
  expect(p.emergency).toBe(true);
  expect(p.steps.map((s) => [s.imageId, s.mode, s.reason])).toEqual([
    [s1.id, 'normal', 'least-recently-used'],
    [s2.id, 'normal', 'least-recently-used'],
    [mesa.id, 'emergency', 'protected'],
  ]);
  // s1 shares the base with s2: only its own 8 MiB would go. s2 then holds the base alone.
  const [first, second] = p.steps;
  expect(first?.estimatedBytes).toBeGreaterThanOrEqual(8 * MiB);
  expect(first?.estimatedBytes).toBeLessThan(8.2 * MiB);
  expect(second?.estimatedBytes).toBeGreaterThanOrEqual(64 * MiB);
  expect(second?.estimatedBytes).toBeLessThan(68 * MiB);
});

test('status shows each image class and its rank in the eviction order', async () => {
  const result = await ie(['status', '--json']);
  const images = (JSON.parse(result.stdout) as { images: Array<{ id: string; class: string; rank: number | null }> }).images;
  const byId = new Map(images.map((i) => [i.id, [i.class, i.rank]]));
  expect(byId.get(s1.id)).toEqual(['candidate', 1]);
  expect(byId.get(s2.id)).toEqual(['candidate', 2]);
  expect(byId.get(mesa.id)).toEqual(['protected', 3]);
  expect(byId.get(pinned.id)).toEqual(['in-use', null]);
  expect(byId.get(young.id)).toEqual(['too-young', null]);
});

test('purge --dry-run prints the plan and removes nothing', async () => {
  const result = await ie(['--target-free', '99%', 'purge', '--dry-run']);
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/purge/);
  expect(result.stdout).toContain('share/s1');
  for (const image of [s1, s2, pinned, mesa, young]) expect(await present(image)).toBe(true);
});

test('purge frees the shared layers with the last image holding them; estimates within 10% of measured', async () => {
  const target = (await freeBytes()) + 70 * MiB;
  const result = await ie(['--target-free', `${target}B`, 'purge', '--json']);
  expect(result.stderr).not.toMatch(/eviction_failed/);
  expect(result.code).toBe(0);
  const report = JSON.parse(result.stdout) as { targetReached: boolean; outcomes: Array<{ imageId: string; result: string }> };
  expect(report.targetReached).toBe(true);
  expect(report.outcomes.map((o) => [o.imageId, o.result])).toEqual([
    [s1.id, 'removed'],
    [s2.id, 'removed'],
  ]);
  expect(await freeBytes()).toBeGreaterThanOrEqual(target);
  for (const image of [s1, s2]) expect(await present(image)).toBe(false);
  for (const image of [pinned, mesa, young]) expect(await present(image)).toBe(true);

  const db = new BetterSqlite3(statePath, { readonly: true });
  const rows = db.prepare('SELECT image_id, mode, estimated_bytes, measured_bytes FROM evictions ORDER BY id').all() as Array<{
    image_id: string;
    mode: string;
    estimated_bytes: number;
    measured_bytes: number;
  }>;
  db.close();
  expect(rows.map((r) => [r.image_id, r.mode])).toEqual([
    [s1.id, 'purge'],
    [s2.id, 'purge'],
  ]);
  for (const row of rows) {
    expect(Math.abs(row.measured_bytes - row.estimated_bytes) / row.estimated_bytes).toBeLessThan(0.1);
  }
});

test('purge keeps protected, in-use and young images, says so and exits 3; --emergency takes protected ones', async () => {
  const kept = await ie(['--target-free', '99%', 'purge']);
  expect(kept.code).toBe(3);
  expect(kept.stderr).toContain('1 protected image(s) were kept (add --emergency to include them)');
  // Exit 3 names everything that held the rest, not only the protected images.
  expect(kept.stderr).toContain(`image-evictor: also held: 1 in use by a container: ${pinned.ref}; 1 wanted within min-age (10m): ${young.ref}`);
  expect(await present(mesa)).toBe(true);

  const emergency = await ie(['--target-free', '99%', 'purge', '--emergency', '--json']);
  expect(emergency.code).toBe(3);
  expect(emergency.stderr).toContain(`image-evictor: target not reached: held by 1 in use by a container: ${pinned.ref}; 1 wanted within min-age (10m): ${young.ref}`);
  expect((JSON.parse(emergency.stdout) as { outcomes: Array<{ imageId: string; result: string }> }).outcomes).toEqual([
    expect.objectContaining({ imageId: mesa.id, result: 'removed' }),
  ]);
  expect(await present(mesa)).toBe(false);
  expect(await present(pinned)).toBe(true);
  expect(await present(young)).toBe(true);
});
