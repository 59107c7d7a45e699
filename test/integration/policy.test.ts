// Policies on a real engine: docker_gc's documented example on images of known ages, stopped-
// container hygiene, and build-cache pruning under pressure.
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { cli } from '../harness/cli';
import { pushCraftedImage, type CraftedImage } from '../harness/crafted';
import { backdateContainers, DOCKER_CLI, dockerEnv, startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { run } from '../harness/proc';
import { makeTestDir } from '../harness/tmp';

const MiB = 2 ** 20;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ROOT = join(__dirname, '..', '..');

let engine: Engine;
let stateDir: string;

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 700 * MiB, label: 'policy' });
  stateDir = makeTestDir('policy-state');
});

afterAll(async () => {
  await engine?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

async function present(id: string): Promise<boolean> {
  return (await run(DOCKER_CLI, ['image', 'inspect', id], { env: dockerEnv(engine.host, engine.workDir) })).code === 0;
}

function base(state: string): string[] {
  return ['--docker-host', engine.host, '--state', join(stateDir, state), '--log-format', 'json'];
}

function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("docker_gc's documented example", () => {
  const img: Record<string, CraftedImage> = {};
  let danglingId = '';

  beforeAll(async () => {
    const now = Date.now();
    // An image whose tag moved on: the first pull is left dangling by the second.
    const first = await pushCraftedImage({ name: 'gc/dang', tag: 'v1', createdMs: now - 10 * DAY, layerBytes: 2 * MiB });
    await engine.docker(['pull', '-q', first.ref]);
    danglingId = first.id;
    img.dangNew = await pushCraftedImage({ name: 'gc/dang', tag: 'v1', createdMs: now - 9 * DAY, layerBytes: 2 * MiB });
    img.young = await pushCraftedImage({ name: 'gc/young', tag: '1', createdMs: now - 1 * DAY, layerBytes: 2 * MiB });
    img.old = await pushCraftedImage({ name: 'gc/old', tag: '1', createdMs: now - 10 * DAY, layerBytes: 2 * MiB });
    // Five images of organisation/repo, created 1, 2, 4, 5 and 6 days ago.
    for (const [n, days] of [[1, 1], [2, 2], [3, 4], [4, 5], [5, 6]] as const) {
      img[`repo${n}`] = await pushCraftedImage({ name: 'organisation/repo', tag: `v${n}`, createdMs: now - days * DAY, layerBytes: 2 * MiB });
    }
    // Oldest first, so pull order and creation order agree on what is most recent.
    for (const name of ['dangNew', 'young', 'old', 'repo5', 'repo4', 'repo3', 'repo2', 'repo1']) await engine.docker(['pull', '-q', (img[name] as CraftedImage).ref]);
    expect(await present(danglingId)).toBe(true);
  });

  const survivors = ['young', 'repo1', 'repo2', 'repo3'];
  // dangNew is 9 days old and the only image of gc/dang: True : Delete takes it too.
  const removed = ['old', 'repo4', 'repo5', 'dangNew'];

  test('policy explain shows the claiming rule and class of every image', async () => {
    const result = await cli([...base('gc.db'), '--min-age', '0s', 'policy', 'explain', join(ROOT, 'policies', 'docker_gc.conf'), '--json']);
    expect(result.code).toBe(0);
    const rows = (JSON.parse(result.stdout) as { images: Array<{ id: string; rule: string | null; class: string }> }).images;
    const row = (id: string) => rows.find((r) => r.id === id);
    const conf = join(ROOT, 'policies', 'docker_gc.conf');
    expect(row(danglingId)).toMatchObject({ rule: `${conf}:1`, class: 'delete' });
    expect(row(img.young?.id as string)).toMatchObject({ rule: `${conf}:2`, class: 'protected' });
    expect(row(img.repo1?.id as string)).toMatchObject({ rule: `${conf}:2`, class: 'protected' });
    expect(row(img.repo3?.id as string)).toMatchObject({ rule: `${conf}:3`, class: 'protected' });
    expect(row(img.repo4?.id as string)).toMatchObject({ rule: `${conf}:4`, class: 'delete' });
  });

  test('gc --dry-run lists exactly the images the rules delete, and removes nothing', async () => {
    const result = await cli([...base('gc.db'), '--min-age', '0s', 'gc', '--rules', join(ROOT, 'policies', 'docker_gc.conf'), '--dry-run', '--json']);
    expect(result.code).toBe(0);
    const images = (JSON.parse(result.stdout) as { images: Array<{ imageId: string; result: string }> }).images;
    expect(images.map((o) => o.imageId).sort()).toEqual([danglingId, ...removed.map((n) => img[n]?.id as string)].sort());
    expect(images.every((o) => o.result === 'would-remove')).toBe(true);
    for (const image of Object.values(img)) expect(await present(image.id)).toBe(true);
  });

  test('gc removes the dangling image, the old ones and all but 3 of organisation/repo; keeps the young', async () => {
    const result = await cli([...base('gc.db'), '--min-age', '0s', 'gc', '--rules', join(ROOT, 'policies', 'docker_gc.conf'), '--docker-data-only']);
    expect(result.code).toBe(0);
    expect(await present(danglingId)).toBe(false);
    for (const name of removed) expect([name, await present(img[name]?.id as string)]).toEqual([name, false]);
    for (const name of survivors) expect([name, await present(img[name]?.id as string)]).toEqual([name, true]);
    expect(logLines(result.stderr).filter((l) => l.message === 'eviction').every((l) => l.mode === 'hygiene')).toBe(true);
  });
});

describe('stopped containers', () => {
  let jobOld: BuiltImage;
  let jobYoung: BuiltImage;
  let kept: BuiltImage;

  beforeAll(async () => {
    [jobOld, jobYoung, kept] = [
      await buildImage({ name: 'ct/job-old', layerBytes: [MiB] }),
      await buildImage({ name: 'ct/job-young', layerBytes: [MiB] }),
      await buildImage({ name: 'ct/kept', layerBytes: [MiB] }),
    ];
    for (const image of [jobOld, jobYoung, kept]) await engine.docker(['pull', '-q', image.ref]);
    await engine.docker(['run', '--name', 'job-old', '--network', 'none', jobOld.ref]);
    await engine.docker(['run', '--name', 'keep-by-name', '--network', 'none', kept.ref]);
    await engine.docker(['run', '--name', 'by-label', '--label', 'image-evictor.keep=true', '--network', 'none', kept.ref]);
    await engine.docker(['create', '--name', 'never-started', '--network', 'none', kept.ref]);
    // These finished an hour ago, as far as the engine knows: far beyond the 10-minute grace.
    const finished = await Promise.all(['job-old', 'keep-by-name', 'by-label'].map(async (name) => (await engine.docker(['inspect', '--format', '{{.Id}}', name])).trim()));
    await engine.restart(() => backdateContainers(engine.dataRoot, finished, HOUR));
  });

  test('an exited container past grace is removed and its image becomes evictable; younger and excluded ones stay', async () => {
    // job-young finishes right before gc: well inside the grace.
    await engine.docker(['run', '--name', 'job-young', '--network', 'none', jobYoung.ref]);
    const policy = join(stateDir, 'containers.yaml');
    writeFileSync(
      policy,
      ['rules:', '  - match: Repository("ct/job-*")', '    action: Delete', 'containers:', '  remove-exited: true', '  grace: 10m', '  exclude-names: ["keep-*"]', ''].join('\n'),
    );
    const result = await cli([...base('ct.db'), '--min-age', '0s', 'gc', '--rules', policy, '--json', '--docker-data-only']);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as { containers: Array<{ name: string; result: string }> };
    expect(out.containers).toEqual([expect.objectContaining({ name: 'job-old', result: 'removed' })]);
    const names = (await engine.docker(['ps', '-a', '--format', '{{.Names}}'])).trim().split('\n').sort();
    expect(names).toEqual(['by-label', 'job-young', 'keep-by-name', 'never-started']);
    // The same check then deleted job-old's image (no container pins it now); job-young's is in use.
    expect(await present(jobOld.id)).toBe(false);
    expect(await present(jobYoung.id)).toBe(true);
    expect(await present(kept.id)).toBe(true);
  });
});

describe('build cache', () => {
  async function buildCacheBytes(): Promise<number> {
    const out = await engine.docker(['system', 'df', '--format', '{{.Type}}\t{{.Size}}']);
    const line = out.split('\n').find((l) => l.startsWith('Build Cache')) ?? '';
    const size = line.split('\t')[1] ?? '0B';
    const match = /^([\d.]+)\s*([kMG]?B)$/.exec(size);
    const unit = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[(match?.[2] ?? 'B') as 'B' | 'kB' | 'MB' | 'GB'];
    return Number(match?.[1] ?? 0) * unit;
  }

  test('is pruned under pressure when the policy enables it, before images are evicted', async () => {
    const context = join(engine.workDir, 'bk-context');
    mkdirSync(context, { recursive: true });
    writeFileSync(join(context, 'blob'), randomBytes(24 * MiB));
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY blob /blob\n');
    await run(DOCKER_CLI, ['build', '-q', '-t', 'bk/cached:1', context], { env: { ...dockerEnv(engine.host, engine.workDir), DOCKER_BUILDKIT: '1' } }).then((r) => {
      if (r.code !== 0) throw new Error(`BuildKit build failed: ${r.stderr}`);
    });
    const before = await buildCacheBytes();
    expect(before).toBeGreaterThan(20e6);

    const policy = join(stateDir, 'cache.yaml');
    writeFileSync(policy, 'build-cache:\n  prune-under-pressure: true\n  keep-storage: 0\n');
    // Off: the same pressure leaves the cache alone.
    const s = await statfs(engine.dataRoot);
    const lowAbove = `${s.bavail * s.bsize + 100 * MiB}B`;
    const targetAbove = `${s.bavail * s.bsize + 200 * MiB}B`;
    const off = await cli([...base('bk.db'), '--low-free', lowAbove, '--target-free', targetAbove, 'gc', '--rules', join(ROOT, 'policies', 'docker_gc.conf'), '--dry-run']);
    expect(off.code).toBe(0);
    expect(await buildCacheBytes()).toBe(before);

    const on = await cli([...base('bk.db'), '--low-free', lowAbove, '--target-free', targetAbove, 'gc', '--rules', policy, '--docker-data-only']);
    expect(on.code).toBe(0);
    const pruned = logLines(on.stderr).find((l) => l.message === 'build_cache_pruned');
    expect(pruned?.reclaimedBytes).toBeGreaterThan(20e6);
    expect(await buildCacheBytes()).toBeLessThan(before / 10);
    // The pressure log comes after the prune: the cache went first.
    const order = logLines(on.stderr).map((l) => l.message);
    expect(order.indexOf('build_cache_pruned')).toBeLessThan(order.lastIndexOf('pressure'));
  });
});
