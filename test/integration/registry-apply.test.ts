// `registry plan` and `registry apply` on real Distribution registries (docker-registry 2.8): the
// docker_gc example rules leave the documented outcome, a storage cap deletes the least recently
// pulled first (or, with a month of pull log, the least likely to be pulled again), and the
// registry's refusals and races keep what they must.
import { readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tagLine } from '../../agent/core/pull-model';
import { cli, startService } from '../harness/cli';
import { builderCli, buildImage, type BuiltImage } from '../harness/images';
import { busyAndQuietMonth, pinnedReleaseMonth, type MonthVersion } from '../harness/pull-month';
import { run, waitFor } from '../harness/proc';
import { freePort, startRegistry, type Registry } from '../harness/registry';
import { makeTestDir } from '../harness/tmp';

const MiB = 2 ** 20;
const DAY = 86_400_000;
const ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json';

let dir: string;
beforeAll(() => {
  dir = makeTestDir('registry-apply');
});

const digestOf = (image: BuiltImage) => image.digestRef.split('@')[1] as string;

/** Moves a manifest's push time into the past, as if pushed `days` ago. */
function backdatePush(statePath: string, digest: string, days: number): void {
  const db = new Database(statePath, { fileMustExist: true });
  try {
    const changed = db.prepare('UPDATE registry_manifests SET pushed_ms = pushed_ms - ? WHERE digest = ?').run(days * DAY, digest).changes;
    if (changed === 0) throw new Error(`backdatePush: no manifest ${digest}`);
  } finally {
    db.close();
  }
}

async function manifestStatus(registry: Registry, repository: string, reference: string): Promise<number> {
  return (await fetch(`http://${registry.address}/v2/${repository}/manifests/${reference}`, { method: 'HEAD', headers: { Accept: ACCEPT, 'User-Agent': 'test-check' } })).status;
}

/** A registry whose notifications go to a `registry listen` writing `statePath`. */
async function startListened(statePath: string, options: { diskBytes?: number } = {}): Promise<{ registry: Registry; stop: () => Promise<void> }> {
  const token = `listener-token-${Math.random().toString(36).slice(2)}-0123456789`;
  const tokenFile = `${statePath}.token`;
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const listenAddress = `127.0.0.1:${await freePort()}`;
  const registry = await startRegistry({ ...options, notify: { url: `http://${listenAddress}/events`, token } });
  const listener = startService(['--state', statePath, 'registry', '--registry', `http://${registry.address}`, 'listen', '--listen', listenAddress, '--token-file', tokenFile]);
  await listener.waitForLog('registry_listening');
  return {
    registry,
    stop: async () => {
      await listener.stop();
      await registry.stop();
    },
  };
}

/** Waits until the listener has recorded the push of `image`. */
async function recorded(statePath: string, image: BuiltImage): Promise<void> {
  await waitFor(`the push of ${image.ref}`, () => {
    try {
      const db = new Database(statePath, { readonly: true, fileMustExist: true });
      try {
        return db.prepare('SELECT 1 FROM registry_manifests WHERE digest = ?').get(digestOf(image)) === undefined ? undefined : true;
      } finally {
        db.close();
      }
    } catch {
      return undefined;
    }
  });
}

function evictor(statePath: string, registry: Registry, args: string[]) {
  return cli(['--state', statePath, 'registry', '--registry', `http://${registry.address}`, ...args]);
}

interface Outcome {
  repository: string;
  digest: string;
  tags: string[];
  result: string;
  detail: string | null;
}

describe('registry apply with the docker_gc example rules', () => {
  it('deletes the untagged, the old, and organisation/repo beyond the 3 most recent; keeps the young', async () => {
    const statePath = join(dir, 'gc-example.db');
    const { registry, stop } = await startListened(statePath);
    try {
      const at = registry.address;
      const replaced = await buildImage({ name: 'team/app', tag: 'v1', layerBytes: [64 * 1024], registry: at });
      // The listener hears the first push; nothing else could know the manifest once its tag moves.
      await recorded(statePath, replaced);
      // The same tag pushed again: the first manifest is left untagged (Dandling).
      const current = await buildImage({ name: 'team/app', tag: 'v1', layerBytes: [64 * 1024], registry: at });
      const young = await buildImage({ name: 'team/young', tag: 'v1', layerBytes: [64 * 1024], registry: at });
      const old = await buildImage({ name: 'team/old', tag: 'v1', layerBytes: [64 * 1024], registry: at });
      const repo = new Map<number, BuiltImage>();
      for (const days of [1, 2, 4, 5, 6]) repo.set(days, await buildImage({ name: 'organisation/repo', tag: `d${days}`, layerBytes: [64 * 1024], registry: at }));
      // Sync fills the blobs, and whatever notifications were still in flight.
      expect((await evictor(statePath, registry, ['sync'])).code).toBe(0);
      backdatePush(statePath, digestOf(replaced), 10);
      backdatePush(statePath, digestOf(current), 10);
      backdatePush(statePath, digestOf(old), 10);
      for (const [days, image] of repo) backdatePush(statePath, digestOf(image), days);

      const rules = join(__dirname, '..', '..', 'policies', 'docker_gc.conf');
      // status classifies as plan will decide: what goes, what stays, and the rank among candidates.
      const status = await evictor(statePath, registry, ['status', '--rules', rules, '--json']);
      const classOf = new Map((JSON.parse(status.stdout) as { images: Array<{ digest: string; class: string }> }).images.map((i) => [i.digest, i.class]));
      expect([repo.get(5), repo.get(6), old].map((i) => classOf.get(digestOf(i as BuiltImage)))).toEqual(['delete', 'delete', 'delete']);
      expect([repo.get(1), repo.get(4), young].map((i) => classOf.get(digestOf(i as BuiltImage)))).toEqual(['kept', 'kept', 'kept']);
      const planned = await evictor(statePath, registry, ['plan', '--rules', rules]);
      expect(planned.code).toBe(0);
      expect(planned.stdout).toMatch(/5 manifests to delete/);
      // The plan deleted nothing.
      expect(await manifestStatus(registry, 'team/old', 'v1')).toBe(200);

      const applied = await evictor(statePath, registry, ['apply', '--rules', rules, '--json']);
      expect(applied.code).toBe(0);
      const outcomes = (JSON.parse(applied.stdout) as { outcomes: Outcome[] }).outcomes;
      expect(outcomes.filter((o) => o.result === 'deleted').map((o) => `${o.repository}:${o.tags.join(',') || '<untagged>'}`).sort()).toEqual([
        'organisation/repo:d5',
        'organisation/repo:d6',
        // team/app:v1 is old too (pushed 10 days ago): Not(Age(3)) does not hold it, True : Delete takes it.
        'team/app:<untagged>',
        'team/app:v1',
        'team/old:v1',
      ]);
      for (const gone of [replaced, old, repo.get(5), repo.get(6)] as BuiltImage[]) expect(await manifestStatus(registry, gone.ref.split('/').slice(1).join('/').split(':')[0] as string, digestOf(gone))).toBe(404);
      for (const kept of [young, repo.get(1), repo.get(2), repo.get(4)] as BuiltImage[]) expect(await manifestStatus(registry, kept.ref.split('/').slice(1).join('/').split(':')[0] as string, digestOf(kept))).toBe(200);
      const tags = (await (await fetch(`http://${at}/v2/organisation/repo/tags/list`)).json()) as { tags: string[] };
      expect(tags.tags.sort()).toEqual(['d1', 'd2', 'd4']);
    } finally {
      await stop();
    }
  }, 600_000);
});

describe('registry apply under a storage cap', () => {
  it('deletes the least recently pulled first, as pulls made in a known order say, until the target is reached', async () => {
    const statePath = join(dir, 'cap.db');
    const { registry, stop } = await startListened(statePath, { diskBytes: 256 * MiB });
    try {
      const images = new Map<string, BuiltImage>();
      for (const name of ['ci/a', 'ci/b', 'ci/c']) images.set(name, await buildImage({ name, tag: '1', layerBytes: [8 * MiB], registry: registry.address }));
      expect((await evictor(statePath, registry, ['sync'])).code).toBe(0);
      for (const image of images.values()) backdatePush(statePath, digestOf(image), 1);
      // Pulls in a known order, each recorded before the next: b first, then a, then c.
      for (const name of ['ci/b', 'ci/a', 'ci/c']) {
        const image = images.get(name) as BuiltImage;
        const got = await fetch(`http://${registry.address}/v2/${name}/manifests/1`, { headers: { Accept: ACCEPT, 'User-Agent': 'ci-runner/1' } });
        expect(got.status).toBe(200);
        await waitFor(`the pull of ${name}`, () => {
          const db = new Database(statePath, { readonly: true, fileMustExist: true });
          try {
            const row = db.prepare('SELECT pulls FROM registry_manifests WHERE digest = ?').get(digestOf(image)) as { pulls: number } | undefined;
            return (row?.pulls ?? 0) >= 1 ? true : undefined;
          } finally {
            db.close();
          }
        });
        // Pull times are the registry's clock in milliseconds: keep them apart.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // status ranks them as apply will take them: least recently pulled first.
      const status = await cli(['--state', statePath, '--min-age', '0s', 'registry', '--registry', `http://${registry.address}`, '--storage', registry.dataDir, 'status', '--json']);
      const statusReport = JSON.parse(status.stdout) as { storage: { totalBytes: number; lowFreeBytes: number }; images: Array<{ repository: string; rank: number | null; class: string }> };
      // The storage it sits on, and the default registry-low-free (15%) of it.
      expect(statusReport.storage.totalBytes).toBeGreaterThan(200 * MiB);
      expect(statusReport.storage.lowFreeBytes).toBe(Math.ceil(0.15 * statusReport.storage.totalBytes));
      const ranks = statusReport.images.filter((i) => i.repository.startsWith('ci/'));
      expect(ranks.map((i) => [i.repository, i.class, i.rank])).toEqual([
        ['ci/b', 'candidate', 1],
        ['ci/a', 'candidate', 2],
        ['ci/c', 'candidate', 3],
      ]);
      const stats = statfsSync(registry.dataDir);
      const freeBytes = stats.bavail * stats.bsize;
      // Below low by a little; the target needs more than one image's 8 MiB layer but less than two.
      // min-age 0s: these pulls are seconds old, and the default 10m would hold them all.
      const thresholds = ['--storage', registry.dataDir, '--storage-low-free', `${freeBytes + MiB}B`, '--storage-target-free', `${freeBytes + 12 * MiB}B`, '--min-age', '0s'];
      const applied = await cli(['--state', statePath, 'registry', '--registry', `http://${registry.address}`, ...thresholds, 'apply', '--json']);
      expect(applied.code).toBe(0);
      const report = JSON.parse(applied.stdout) as { outcomes: Outcome[]; reachesTarget: boolean; underPressure: boolean; storage: { lowFreeBytes: number; targetFreeBytes: number; freeBytes: number } };
      // The storage as the plan measured it, against the thresholds given.
      expect(report.storage).toMatchObject({ lowFreeBytes: freeBytes + MiB, targetFreeBytes: freeBytes + 12 * MiB });
      expect(report.storage.freeBytes).toBeLessThan(report.storage.lowFreeBytes);
      const outcomes = report.outcomes;
      expect(outcomes.map((o) => [o.repository, o.result])).toEqual([
        ['ci/b', 'deleted'],
        ['ci/a', 'deleted'],
      ]);
      expect(await manifestStatus(registry, 'ci/b', '1')).toBe(404);
      expect(await manifestStatus(registry, 'ci/a', '1')).toBe(404);
      expect(await manifestStatus(registry, 'ci/c', '1')).toBe(200);
      // Nothing was pushed over the last day (all backdated): no word on the low threshold's size.
      expect(applied.stderr).not.toMatch(/pushed over the last 24 h/);
      // A push today of 8 MiB of new layers, against a low threshold of 4 MiB: the next day's
      // pushes would fill what a run leaves free, and plan says so.
      await buildImage({ name: 'ci/d', tag: '1', layerBytes: [8 * MiB], registry: registry.address });
      expect((await evictor(statePath, registry, ['sync'])).code).toBe(0);
      const small = await cli(['--state', statePath, 'registry', '--registry', `http://${registry.address}`, '--storage', registry.dataDir, '--storage-low-free', '4MiB', '--storage-target-free', '5MiB', 'plan']);
      expect(small.code).toBe(0);
      expect(small.stdout).toMatch(/^storage .*: [\d.]+ MiB free of [\d.]+ MiB, above registry-low-free 4 MiB: no deletes for space$/m);
      const warned = /warning: registry-low-free on .*: 4 MiB is less than the ([\d.]+) MiB pushed over the last 24 h/.exec(small.stderr);
      // ci/d's own 8 MiB layer, its config and its copy of busybox (shared with ci/c or not, as the build cache has it).
      expect(Number(warned?.[1])).toBeGreaterThanOrEqual(8);
      expect(Number(warned?.[1])).toBeLessThan(11);
    } finally {
      await stop();
    }
  }, 600_000);
});

/** The pull rows the listener logged for a manifest. */
function loggedPulls(statePath: string, digest: string): number {
  const db = new Database(statePath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM registry_pulls WHERE digest = ? AND head = 0').get(digest) as { n: number }).n;
  } finally {
    db.close();
  }
}

/**
 * Writes a month the listener would have recorded into the state: each live image's push time
 * and pulls; the versions a clean-up deleted before, as deleted manifests with their pulls.
 */
function writeMonth(statePath: string, month: MonthVersion[], built: Map<string, BuiltImage>): void {
  const db = new Database(statePath, { fileMustExist: true });
  try {
    const { registry } = db.prepare('SELECT DISTINCT registry FROM registry_manifests').get() as { registry: string };
    const usage = db.prepare('UPDATE registry_manifests SET pushed_ms = ?, last_pull_ms = MAX(COALESCE(last_pull_ms, 0), ?), pulls = pulls + ? WHERE digest = ?');
    // A deleted manifest keeps the tag line it was recorded with (migration 009), as listen and sync keep it.
    const gone = db.prepare(`INSERT INTO registry_manifests (registry, repository, digest, media_type, pushed_ms, last_pull_ms, pulls, deleted_ms, line) VALUES (?, ?, ?, '${ACCEPT}', ?, ?, ?, ?, ?)`);
    const pull = db.prepare('INSERT INTO registry_pulls (registry, repository, digest, at_ms, head) VALUES (?, ?, ?, ?, 0)');
    db.transaction(() => {
      for (const v of month) {
        const image = built.get(v.name);
        const digest = image === undefined ? `sha256:${Buffer.from(v.name).toString('hex').padStart(64, '0')}` : digestOf(image);
        if (v.deletedMs !== null) gone.run(registry, v.repository, digest, v.pushedMs, Math.max(...v.pullsMs), v.pullsMs.length, v.deletedMs, tagLine([v.name]));
        else if (usage.run(v.pushedMs, Math.max(...v.pullsMs), v.pullsMs.length, digest).changes !== 1) throw new Error(`writeMonth: no manifest ${digest}`);
        for (const atMs of v.pullsMs) pull.run(registry, v.repository, digest, atMs);
      }
    })();
  } finally {
    db.close();
  }
}

/**
 * A month of pulls on a real registry: each live version of `month` built (8 MiB of its own),
 * pushed and recorded by the listener, synced, a runner's real pull of b30 logged, then the rest
 * of the month written into the state. Returns the thresholds at which three images must go.
 */
async function monthOnRegistry(statePath: string, registry: Registry, month: MonthVersion[]): Promise<string[]> {
  const built = new Map<string, BuiltImage>();
  for (const v of month.filter((m) => m.deletedMs === null)) built.set(v.name, await buildImage({ name: v.repository, tag: v.name, layerBytes: [8 * MiB], registry: registry.address }));
  for (const image of built.values()) await recorded(statePath, image);
  expect((await evictor(statePath, registry, ['sync'])).code).toBe(0);
  // A runner's pull of the latest: the listener logs it, as it logged the month before.
  const b30 = built.get('b30') as BuiltImage;
  expect((await fetch(`http://${registry.address}/v2/ci/busy/manifests/b30`, { headers: { Accept: ACCEPT, 'User-Agent': 'ci-runner/1' } })).status).toBe(200);
  await waitFor('the logged pull of b30', () => (loggedPulls(statePath, digestOf(b30)) === 1 ? true : undefined));
  writeMonth(statePath, month, built);
  const stats = statfsSync(registry.dataDir);
  const freeBytes = stats.bavail * stats.bsize;
  // Below low by a little; the target needs three 8 MiB images deleted, not two, not four.
  return ['--storage', registry.dataDir, '--storage-low-free', `${freeBytes + MiB}B`, '--storage-target-free', `${freeBytes + 20 * MiB}B`];
}

/** `registry apply` under `thresholds`: it says `order`, deletes b26-b28 and reaches target; `kept` and q1 stay. */
async function expectDeadVersionsDeleted(statePath: string, registry: Registry, thresholds: string[], order: string, kept: string[]): Promise<void> {
  const applied = await cli(['--state', statePath, 'registry', '--registry', `http://${registry.address}`, ...thresholds, 'apply', '--json']);
  expect(applied.code).toBe(0);
  const result = JSON.parse(applied.stdout) as { pressureOrder: { order: string }; outcomes: Outcome[]; reachesTarget: boolean };
  expect(result.pressureOrder.order).toBe(order);
  expect(result.outcomes.filter((o) => o.result === 'deleted').map((o) => o.tags[0]).sort()).toEqual(['b26', 'b27', 'b28']);
  expect(result.reachesTarget).toBe(true);
  for (const name of ['b26', 'b27', 'b28']) expect(await manifestStatus(registry, 'ci/busy', name)).toBe(404);
  for (const name of kept) expect(await manifestStatus(registry, 'ci/busy', name)).toBe(200);
  expect(await manifestStatus(registry, 'ci/quiet', 'q1')).toBe(200);
}

/** A rate as the status table prints it. */
const shownRate = (perDay: number) => perDay.toFixed(perDay < 10 ? 2 : 0);

interface ShownStatus {
  pressureOrder: { order: string; pulls: number; trial: { learnedLostPulls: number; blendedLostPulls: number; recencyLostPulls: number } };
  images: Array<{ tags: string[]; rank: number; expectedPullsPerDay: number; ownLayerBytes: number; lastPull: string }>;
}

describe('registry apply learns from its pull log', () => {
  it('deletes superseded versions no one pulls any more before a quiet repository\'s image pulled longer ago', async () => {
    const statePath = join(dir, 'learned.db');
    const { registry, stop } = await startListened(statePath, { diskBytes: 256 * MiB });
    try {
      const month = busyAndQuietMonth(Date.now());
      expect(month.filter((v) => v.deletedMs === null).map((v) => v.name)).toEqual(['b26', 'b27', 'b28', 'b29', 'b30', 'q1']);
      const thresholds = await monthOnRegistry(statePath, registry, month);
      const status = await cli(['--state', statePath, 'registry', '--registry', `http://${registry.address}`, ...thresholds, 'status', '--json']);
      const shown = JSON.parse(status.stdout) as ShownStatus;
      expect(shown.pressureOrder).toMatchObject({ order: 'learned', pulls: month.reduce((n, v) => n + v.pullsMs.length, 1) });
      // The last week, replayed: least recently pulled first would have deleted q1 before its next pull.
      expect(shown.pressureOrder.trial.learnedLostPulls).toBeLessThan(shown.pressureOrder.trial.recencyLostPulls);
      const byTag = new Map(shown.images.map((i) => [i.tags[0], i]));
      const q1 = byTag.get('q1');
      for (const dead of ['b26', 'b27', 'b28']) {
        const d = byTag.get(dead);
        // Least recently pulled first would rank q1 first: its last pull is the older.
        expect(Date.parse(q1?.lastPull ?? '')).toBeLessThan(Date.parse(d?.lastPull ?? ''));
        expect(q1?.expectedPullsPerDay).toBeGreaterThan(3 * (d?.expectedPullsPerDay ?? Infinity));
        expect(d?.rank).toBeLessThan(q1?.rank ?? 0);
      }
      // Pressure takes the rates per MiB of each image's own layers: its 8 MiB random layer and
      // config, not the busybox layer every image of the test shares.
      for (const image of shown.images) {
        expect(image.ownLayerBytes).toBeGreaterThanOrEqual(8 * MiB);
        expect(image.ownLayerBytes).toBeLessThan(8.5 * MiB);
      }
      // The table shows the same: q1's row carries its rate and its own layers.
      const table = await cli(['--state', statePath, 'registry', '--registry', `http://${registry.address}`, ...thresholds, 'status']);
      expect(table.stdout).toMatch(/PULLS\/DAY: expected pulls a day, taken per MiB of OWN LAYERS/);
      const q1Row = table.stdout.split('\n').find((line) => /\sci\/quiet\s+q1\s/.test(line)) ?? '';
      expect(q1Row).toMatch(new RegExp(`^candidate\\s+${q1?.rank ?? -1}\\s+${shownRate(q1?.expectedPullsPerDay ?? -1).replace('.', '\\.')}\\s+8(\\.\\d+)? MiB\\s+ci/quiet`));

      await expectDeadVersionsDeleted(statePath, registry, thresholds, 'learned', ['b29', 'b30']);
    } finally {
      await stop();
    }
  }, 600_000);

  it('blends the learned rates with recency where the last week says each alone loses a pinned release, and keeps the release', async () => {
    const statePath = join(dir, 'blended.db');
    const { registry, stop } = await startListened(statePath, { diskBytes: 256 * MiB });
    try {
      const month = pinnedReleaseMonth(Date.now());
      expect(month.filter((v) => v.deletedMs === null).map((v) => v.name)).toEqual(['b5', 'b26', 'b27', 'b28', 'b29', 'b30', 'q1']);
      const thresholds = await monthOnRegistry(statePath, registry, month);
      const status = await cli(['--state', statePath, 'registry', '--registry', `http://${registry.address}`, ...thresholds, 'status', '--json']);
      const shown = JSON.parse(status.stdout) as ShownStatus;
      expect(shown.pressureOrder.order).toBe('blended');
      const { trial } = shown.pressureOrder;
      expect(trial.blendedLostPulls).toBeLessThan(Math.min(trial.learnedLostPulls, trial.recencyLostPulls));
      const byTag = new Map(shown.images.map((i) => [i.tags[0], i]));
      // Least recently pulled first would take the pinned b5 before b28: its last pull is the older.
      expect(Date.parse(byTag.get('b5')?.lastPull ?? '')).toBeLessThan(Date.parse(byTag.get('b28')?.lastPull ?? ''));
      expect(byTag.get('b28')?.rank).toBeLessThan(byTag.get('b5')?.rank ?? 0);

      await expectDeadVersionsDeleted(statePath, registry, thresholds, 'blended', ['b5', 'b29', 'b30']);
    } finally {
      await stop();
    }
  }, 600_000);
});

describe('registry apply: refusals and races', () => {
  it('a registry with delete disabled: exit 3, one line naming storage.delete.enabled, nothing deleted', async () => {
    const registry = await startRegistry({ deleteEnabled: false });
    const statePath = join(dir, 'no-delete.db');
    try {
      const image = await buildImage({ name: 'ci/locked', tag: 'pr-1', layerBytes: [64 * 1024], registry: registry.address });
      expect((await evictor(statePath, registry, ['sync'])).code).toBe(0);
      backdatePush(statePath, digestOf(image), 1);
      const rules = join(dir, 'pr.conf');
      writeFileSync(rules, 'Tag("pr-*") : Delete\n');
      const applied = await evictor(statePath, registry, ['apply', '--rules', rules]);
      expect(applied.code).toBe(3);
      expect(applied.stderr.trim().split('\n')).toHaveLength(1);
      expect(applied.stderr).toMatch(/refuses deletes.*storage\.delete\.enabled/);
      expect(await manifestStatus(registry, 'ci/locked', 'pr-1')).toBe(200);
    } finally {
      await registry.stop();
    }
  }, 300_000);

  it('a tag pushed again between the plan\'s knowledge and the delete: skipped, the new image kept', async () => {
    const registry = await startRegistry();
    const statePath = join(dir, 'race.db');
    try {
      const first = await buildImage({ name: 'ci/race', tag: 'pr-7', layerBytes: [64 * 1024], registry: registry.address });
      expect((await evictor(statePath, registry, ['sync'])).code).toBe(0);
      backdatePush(statePath, digestOf(first), 1);
      // Pushed again after the state learned the tag; no sync since: the state still names the first.
      const second = await buildImage({ name: 'ci/race', tag: 'pr-7', layerBytes: [64 * 1024], registry: registry.address });
      const rules = join(dir, 'race.conf');
      writeFileSync(rules, 'Tag("pr-*") : Delete\n');
      const applied = await evictor(statePath, registry, ['apply', '--rules', rules, '--json']);
      expect(applied.code).toBe(0);
      const outcomes = (JSON.parse(applied.stdout) as { outcomes: Outcome[] }).outcomes;
      expect(outcomes).toEqual([expect.objectContaining({ digest: digestOf(first), result: 'changed', detail: expect.stringMatching(/pr-7 was pushed again/) })]);
      expect(await manifestStatus(registry, 'ci/race', 'pr-7')).toBe(200);
      expect(await manifestStatus(registry, 'ci/race', digestOf(second))).toBe(200);
    } finally {
      await registry.stop();
    }
  }, 300_000);
});

describe('registry apply: a tag the plan did not know', () => {
  it('a new tag pushed onto the digest since the state learned it keeps the digest', async () => {
    const registry = await startRegistry();
    const statePath = join(dir, 'new-tag.db');
    try {
      const image = await buildImage({ name: 'ci/newtag', tag: 'pr-8', layerBytes: [64 * 1024], registry: registry.address });
      expect((await evictor(statePath, registry, ['sync'])).code).toBe(0);
      backdatePush(statePath, digestOf(image), 1);
      // Released as it is: the same digest gets a tag the state has not seen (no sync since).
      await builderCli(['tag', image.ref, `${registry.address}/ci/newtag:release-1`]);
      await builderCli(['push', `${registry.address}/ci/newtag:release-1`]);
      const rules = join(dir, 'newtag.conf');
      writeFileSync(rules, 'Tag("pr-*") : Delete\n');
      const applied = await evictor(statePath, registry, ['apply', '--rules', rules, '--json']);
      expect(applied.code).toBe(0);
      const outcomes = (JSON.parse(applied.stdout) as { outcomes: Outcome[] }).outcomes;
      expect(outcomes).toEqual([expect.objectContaining({ digest: digestOf(image), result: 'changed', detail: expect.stringMatching(/release-1, new since the plan/) })]);
      expect(await manifestStatus(registry, 'ci/newtag', 'release-1')).toBe(200);
    } finally {
      await registry.stop();
    }
  }, 300_000);
});

describe('registry gc', () => {
  /** The registry answers a blob upload with 405 while read-only, 202 when pushes may go on. */
  async function uploadStatus(registry: Registry): Promise<number> {
    const response = await fetch(`http://${registry.address}/v2/ci/probe/blobs/uploads/`, { method: 'POST' });
    await response.text();
    return response.status;
  }

  it('read-only meanwhile, normal after: frees the deleted images\' layers on disk, and every kept tag still pulls', async () => {
    const registry = await startRegistry({ diskBytes: 256 * MiB });
    const statePath = join(dir, 'gc.db');
    try {
      const gone = await buildImage({ name: 'ci/gc', tag: 'old', layerBytes: [16 * MiB], registry: registry.address });
      const kept = await buildImage({ name: 'ci/gc', tag: 'new', layerBytes: [MiB], registry: registry.address });
      expect((await evictor(statePath, registry, ['sync'])).code).toBe(0);
      backdatePush(statePath, digestOf(gone), 1);
      const rules = join(dir, 'gc.conf');
      writeFileSync(rules, 'Tag("old") : Delete\n');
      const metricsFile = join(dir, 'registry.prom');
      // --storage: apply also writes the low threshold and the day's pushes, for the registry alerts.
      expect((await cli(['--state', statePath, 'registry', '--registry', `http://${registry.address}`, '--storage', registry.dataDir, '--metrics-file', metricsFile, 'apply', '--rules', rules])).code).toBe(0);
      const pidBefore = registry.currentPid();
      // The restart command records each mode it was asked for, so the order can be checked.
      const modes = join(dir, 'gc-modes');
      const restart = `echo "$IMAGE_EVICTOR_REGISTRY_MODE" >> '${modes}' && '${registry.restartScript}'`;
      // The collection itself checks it runs read-only: a push must be refused then.
      const gcCommand = `code=$(curl -s -o /dev/null -w '%{http_code}' -X POST http://${registry.address}/v2/ci/probe/blobs/uploads/) && echo "upload during gc: $code" && [ "$code" = 405 ] && docker-registry garbage-collect '${registry.configFile}'`;
      const ran = await cli(['--state', statePath, 'registry', '--registry', `http://${registry.address}`, '--storage', registry.dataDir, '--metrics-file', metricsFile, 'gc', '--restart-command', restart, '--gc-command', gcCommand, '--json']);
      expect({ code: ran.code, problems: ran.stderr.split('\n').filter((l) => /"level":"(warn|error)"|image-evictor:/.test(l)) }).toEqual({ code: 0, problems: [] });
      const result = JSON.parse(ran.stdout) as { freedBytes: number; brokenTags: string[]; checkedTags: number; checkedBlobs: number };
      // The deleted image's 16 MiB layer is gone from disk; the kept image's layers are all there.
      expect(result.freedBytes).toBeGreaterThan(16 * MiB);
      expect(result).toMatchObject({ brokenTags: [], checkedTags: 1 });
      expect(result.checkedBlobs).toBeGreaterThanOrEqual(3);
      expect(readFileSync(modes, 'utf8').trim().split('\n')).toEqual(['readonly', 'normal']);
      expect(registry.currentPid()).not.toBe(pidBefore);
      // apply's and gc's figures side by side in one textfile node_exporter can read.
      const metrics = readFileSync(metricsFile, 'utf8');
      expect(metrics).toMatch(new RegExp(`image_evictor_registry_apply_deleted_manifests\\{registry="http://${registry.address}"\\} 1\\n`));
      const freed = Number(/image_evictor_registry_gc_freed_bytes\{[^}]*\} (\d+)/.exec(metrics)?.[1]);
      expect(freed).toBe(result.freedBytes);
      const promtool = await run('/bin/sh', ['-c', `promtool check metrics < '${metricsFile}'`]);
      expect({ code: promtool.code, output: promtool.stdout + promtool.stderr }).toEqual({ code: 0, output: '' });
      // The registry alerts are valid rules and name only figures apply and gc write.
      const alertRules = join(__dirname, '..', '..', 'systemd', 'registry-alerts.yml');
      const checked = await run('promtool', ['check', 'rules', alertRules]);
      expect({ code: checked.code, out: checked.stdout }).toEqual({ code: 0, out: expect.stringContaining('SUCCESS: 4 rules found') });
      const written = new Set(metrics.match(/^image_evictor_registry_[a-z_]+/gm));
      for (const name of readFileSync(alertRules, 'utf8').match(/image_evictor_registry_[a-z_]+/g) ?? []) expect(written).toContain(name);
      expect(await uploadStatus(registry)).toBe(202);
      expect(await manifestStatus(registry, 'ci/gc', 'new')).toBe(200);
      await builderCli(['rmi', kept.ref]);
      await builderCli(['pull', kept.ref]);
      // Nothing deleted since: the next night's run leaves the registry alone (no read-only window).
      const gcArgs = ['--state', statePath, 'registry', '--registry', `http://${registry.address}`, '--storage', registry.dataDir, '--metrics-file', metricsFile, 'gc', '--restart-command', restart, '--gc-command', gcCommand, '--json'];
      const gauge = (name: string) => Number(new RegExp(`image_evictor_registry_${name}\\{[^}]*\\} (\\S+)`).exec(readFileSync(metricsFile, 'utf8'))?.[1]);
      const lastSuccess = gauge('gc_last_success_timestamp_seconds');
      const firstCheck = gauge('gc_last_check_timestamp_seconds');
      expect(firstCheck).toBeLessThanOrEqual(lastSuccess);
      const again = await cli(gcArgs);
      expect({ code: again.code, out: JSON.parse(again.stdout) as unknown }).toEqual({ code: 0, out: { registry: `http://${registry.address}`, skipped: true, lastCollection: expect.any(String) } });
      expect(readFileSync(modes, 'utf8').trim().split('\n')).toEqual(['readonly', 'normal']);
      // The skipped run is on record as a check; the last success stays the collection's.
      expect(gauge('gc_last_check_timestamp_seconds')).toBeGreaterThan(firstCheck);
      expect(gauge('gc_last_success_timestamp_seconds')).toBe(lastSuccess);
      // --always collects anyway.
      expect((await cli([...gcArgs, '--always'])).code).toBe(0);
      expect(readFileSync(modes, 'utf8').trim().split('\n')).toEqual(['readonly', 'normal', 'readonly', 'normal']);
    } finally {
      await registry.stop();
    }
  }, 600_000);

  it('a gc killed half-way leaves the registry read-only; the next run restores normal mode first', async () => {
    const registry = await startRegistry();
    const statePath = join(dir, 'gc-killed.db');
    try {
      await buildImage({ name: 'ci/killed', tag: '1', layerBytes: [64 * 1024], registry: registry.address });
      expect((await evictor(statePath, registry, ['sync'])).code).toBe(0);
      const base = ['--state', statePath, '--log-level', 'info', 'registry', '--registry', `http://${registry.address}`, '--storage', registry.dataDir, 'gc', '--restart-command', registry.restartScript];
      // A collection that never ends; the evictor is killed (SIGKILL: no cleanup) once read-only.
      const stuck = startService([...base, '--gc-command', 'sleep 300']);
      stuck.child.stdout?.removeAllListeners('data');
      await waitFor('read-only mode', async () => ((await uploadStatus(registry)) === 405 ? true : undefined), 60_000);
      stuck.child.kill('SIGKILL');
      await stuck.stop();
      expect(await uploadStatus(registry)).toBe(405);
      const next = await cli([...base, '--gc-command', `docker-registry garbage-collect '${registry.configFile}'`]);
      expect(next.code).toBe(0);
      expect(next.stderr).toMatch(/registry_gc_restoring/);
      expect(await uploadStatus(registry)).toBe(202);
      expect(await manifestStatus(registry, 'ci/killed', '1')).toBe(200);
    } finally {
      await registry.stop();
    }
  }, 300_000);

  it('refuses --delete-untagged and a missing --storage before touching the registry (exit 2)', async () => {
    const statePath = join(dir, 'gc-bad.db');
    const registry = await startRegistry();
    try {
      expect((await evictor(statePath, registry, ['sync'])).code).toBe(0);
      const untagged = await cli(['--state', statePath, 'registry', '--registry', `http://${registry.address}`, '--storage', registry.dataDir, 'gc', '--restart-command', 'false', '--gc-command', 'docker-registry garbage-collect --delete-untagged /etc/x.yml']);
      expect(untagged.code).toBe(2);
      expect(untagged.stderr).toMatch(/never pass --delete-untagged/);
      const noStorage = await cli(['--state', statePath, 'registry', '--registry', `http://${registry.address}`, 'gc', '--restart-command', 'false']);
      expect(noStorage.code).toBe(2);
      expect(noStorage.stderr).toMatch(/--storage DIR/);
      // `false` as the restart command was never run: the registry kept answering as before.
      expect(await uploadStatus(registry)).toBe(202);
    } finally {
      await registry.stop();
    }
  }, 120_000);
});
