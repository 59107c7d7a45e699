// The pull model (core/pull-model.ts): what a registry's own pull log says about which images will
// be pulled again, where least recently pulled first is wrong.
import { blendedScores, choosePullOrder, learnPullModel, lineDepthFactor, pressureLikelihood, pullLog, pullRate, tagLine, trialWinner, type ModelManifest, type PullRecord } from '../../agent/core/pull-model';
import { busyAndQuietMonth, pinnedReleaseMonth, type MonthVersion } from '../harness/pull-month';
import { DAY, HOUR, T0 } from './fixtures';

function month(versions: MonthVersion[] = busyAndQuietMonth(T0)): { manifests: ModelManifest[]; pulls: PullRecord[]; v: Map<string, ModelManifest> } {
  const v = new Map<string, ModelManifest>();
  const pulls: PullRecord[] = [];
  for (const version of versions) {
    const m = { repository: version.repository, digest: `sha256:${version.name}`, pushedMs: version.pushedMs, deletedMs: version.deletedMs, topLevel: true, line: null };
    v.set(version.name, m);
    for (const atMs of version.pullsMs) pulls.push({ repository: m.repository, digest: m.digest, atMs });
  }
  return { manifests: [...v.values()], pulls, v };
}

it('says nothing from an empty or too short log', () => {
  const { manifests, pulls } = month();
  expect(learnPullModel(manifests, [], T0)).toBeNull();
  // The last 12 hours of pulls: a couple of samples of each manifest.
  expect(learnPullModel(manifests, pulls.filter((p) => p.atMs > T0 - 12 * HOUR), T0)).toBeNull();
});

it('ranks a quiet repository\'s image above a busy one\'s superseded versions, though the quiet one was pulled longer ago', () => {
  const { manifests, pulls, v } = month();
  const model = learnPullModel(manifests, pulls, T0);
  expect(model).not.toBeNull();
  const log = pullLog(manifests, pulls);
  const rate = (name: string) => pullRate(model as NonNullable<typeof model>, log, v.get(name) as ModelManifest, T0);
  const lastPull = (name: string) => Math.max(...pulls.filter((p) => p.digest === `sha256:${name}`).map((p) => p.atMs));
  for (const dead of ['b26', 'b27', 'b28']) {
    // Least recently pulled first would take q1 first.
    expect(lastPull('q1')).toBeLessThan(lastPull(dead));
    expect(rate('q1')).toBeGreaterThan(3 * rate(dead));
    // The latest is far likelier than any of them.
    expect(rate('b30')).toBeGreaterThan(3 * rate(dead));
  }
});

it('a deleted version\'s silence counts for the repository pulls it was watched through', () => {
  const { manifests, pulls } = month();
  const kept = manifests.map((m) => ({ ...m, deletedMs: null }));
  const learned = learnPullModel(manifests, pulls, T0) as NonNullable<ReturnType<typeof learnPullModel>>;
  const undeleted = learnPullModel(kept, pulls, T0) as NonNullable<ReturnType<typeof learnPullModel>>;
  // Watched only until deleted: through fewer of their repository's pulls than had they stayed, but their samples are there.
  expect(learned.exposurePulls).toBeLessThan(undeleted.exposurePulls);
  expect(learned.samples).toBeGreaterThan(25 * 4 * 4);
});

it('takes the state\'s last pull over the log\'s (pulls older than the log), and a never-pulled image apart', () => {
  const { manifests, pulls, v } = month();
  const model = learnPullModel(manifests, pulls, T0) as NonNullable<ReturnType<typeof learnPullModel>>;
  const log = pullLog(manifests, pulls);
  const b27 = v.get('b27') as ModelManifest;
  // Pulled an hour ago after all (the state says so): then it is as wanted as anything just pulled.
  expect(pullRate(model, log, b27, T0, T0 - HOUR)).toBeGreaterThan(pullRate(model, log, b27, T0));
  const fresh: ModelManifest = { repository: 'ci/busy', digest: 'sha256:b31', pushedMs: T0 - HOUR, deletedMs: null, topLevel: true, line: null };
  expect(pullRate(model, log, fresh, T0, null)).toBeGreaterThan(0);
});

describe('a repository\'s traffic', () => {
  /**
   * Thirty days of two repositories with one habit: a build pushed every 2 days, and only the
   * latest pulled. ci/busy is pulled every 7 minutes (about 200 times a day), ci/quiet every 12
   * hours. Both latest builds were last pulled 5 minutes ago and are alike in every feature of the
   * cells; only their repositories' traffic tells them apart.
   */
  function busyAndQuietLatest(): { manifests: ModelManifest[]; pulls: PullRecord[] } {
    const manifests: ModelManifest[] = [];
    const pulls: PullRecord[] = [];
    for (const [repository, everyMs] of [['ci/busy', 7 * 60_000], ['ci/quiet', 12 * HOUR]] as const) {
      const builds: ModelManifest[] = [];
      for (let t = T0 - 30 * DAY, n = 1; t < T0 - HOUR; t += 2 * DAY, n += 1) builds.push({ repository, digest: `sha256:${repository}-${n}`, pushedMs: t, deletedMs: null, topLevel: true, line: null });
      manifests.push(...builds);
      for (let t = T0 - 5 * 60_000; t > T0 - 30 * DAY; t -= everyMs) {
        const latest = builds.filter((m) => m.pushedMs <= t).at(-1);
        if (latest !== undefined) pulls.push({ repository, digest: latest.digest, atMs: t });
      }
    }
    pulls.sort((a, b) => a.atMs - b.atMs);
    return { manifests, pulls };
  }

  it('expects a busy repository\'s latest build to be pulled about as often as its repository, and far more than a quiet one\'s', () => {
    const { manifests, pulls } = busyAndQuietLatest();
    const model = learnPullModel(manifests, pulls, T0) as NonNullable<ReturnType<typeof learnPullModel>>;
    const log = pullLog(manifests, pulls);
    const latest = (repository: string) => manifests.filter((m) => m.repository === repository).at(-1) as ModelManifest;
    const busy = pullRate(model, log, latest('ci/busy'), T0);
    const quiet = pullRate(model, log, latest('ci/quiet'), T0);
    // Pulls a day: about 205 and 2 (within a factor of 2).
    expect(busy).toBeGreaterThan(100);
    expect(busy).toBeLessThan(400);
    expect(quiet).toBeGreaterThan(1);
    expect(quiet).toBeLessThan(4);
  });
});

/**
 * A month of one repository: a dev build every 6 hours, pulled hourly for its first 6 hours (and,
 * with `devRetry`, once more half an hour after the next arrives); and a release line, a patch
 * every 4 days, pulled every 12 hours for `patchPulledDays` after its push (4: while newest; 8: as
 * long again once superseded). In the repository's own count the latest patch is always 10 or
 * more versions deep, like the dead dev builds.
 */
function devAndReleaseMonth(options: { withLines: boolean; devRetry: boolean; patchPulledDays: number }): { manifests: ModelManifest[]; pulls: PullRecord[] } {
  const manifests: ModelManifest[] = [];
  const pulls: PullRecord[] = [];
  const repository = 'ci/app';
  const add = (tag: string, pushedMs: number, pullsMs: number[]) => {
    const m = { repository, digest: `sha256:${tag}`, pushedMs, deletedMs: null, topLevel: true, line: options.withLines ? tagLine([tag]) : null };
    manifests.push(m);
    for (const atMs of pullsMs.filter((t) => t < T0)) pulls.push({ repository, digest: m.digest, atMs });
  };
  const devPulls = options.devRetry ? [1, 2, 3, 4, 5, 6, 6.5] : [1, 2, 3, 4, 5, 6];
  let n = 0;
  for (let t = T0 - 30 * DAY; t < T0 - HOUR; t += 6 * HOUR) add(`dev-${(n += 1)}`, t, devPulls.map((k) => t + k * HOUR - 30 * 60_000));
  let patch = 0;
  for (let t = T0 - 30 * DAY + 2 * HOUR; t < T0; t += 4 * DAY) {
    const times: number[] = [];
    for (let u = t + 5 * HOUR; u < t + options.patchPulledDays * DAY; u += 12 * HOUR) times.push(u);
    add(`1.${(patch += 1)}`, t, times);
  }
  pulls.sort((a, b) => a.atMs - b.atMs);
  return { manifests, pulls };
}

describe('tag lines', () => {
  it.each([
    [['dev-17'], 'dev-#'],
    [['1.4.2'], '1.4.#'],
    [['b3.1-45'], 'b3.1-#'],
    [['20240110'], '#'],
    [['main'], 'main'],
    [['latest', 'v2.0.1', '2.0'], '2.#'],
    [['main-3f2a1b'], 'main-3f2a1b'],
    [[], null],
  ])('%j is in the line %s', (tags, line) => expect(tagLine(tags)).toBe(line));

  it('counts a release\'s newer versions in its own line: its latest patch outranks the superseded dev builds, which it does not in the repository\'s count', () => {
    const rates = (withLines: boolean) => {
      const { manifests, pulls } = devAndReleaseMonth({ withLines, devRetry: false, patchPulledDays: 4 });
      const model = learnPullModel(manifests, pulls, T0) as NonNullable<ReturnType<typeof learnPullModel>>;
      const log = pullLog(manifests, pulls);
      const rate = (tag: string) => pullRate(model, log, manifests.find((m) => m.digest === `sha256:${tag}`) as ModelManifest, T0);
      // dev-119 was last pulled 6.5 hours ago, the latest patch 1.8 5 hours ago; dev-120 is the newest build.
      return { patch: rate('1.8'), dead: Math.max(rate('dev-117'), rate('dev-118'), rate('dev-119')) };
    };
    const lined = rates(true);
    expect(lined.patch).toBeGreaterThan(3 * lined.dead);
    const unlined = rates(false);
    expect(unlined.patch).toBeLessThan(unlined.dead);
  });
});

describe('a line\'s own profile by depth', () => {
  it('keeps a release line\'s previous patch above the dev line\'s previous build, by what each line gives its versions one back', () => {
    // Dev builds pulled once more half an hour after the next arrives (a retry), never after;
    // patches pulled as long again once superseded (deployments pinned to the previous patch).
    // One back in its line, a patch is still wanted; a dev build is not.
    const { manifests, pulls } = devAndReleaseMonth({ withLines: true, devRetry: true, patchPulledDays: 8 });
    const model = learnPullModel(manifests, pulls, T0) as NonNullable<ReturnType<typeof learnPullModel>>;
    const log = pullLog(manifests, pulls);
    const byTag = (tag: string) => manifests.find((m) => m.digest === `sha256:${tag}`) as ModelManifest;
    // The premise: 1.7 and dev-119 are each one back in their line (1.8 and dev-120 are newer).
    expect(manifests.filter((m) => m.line === '1.#').at(-1)?.digest).toBe('sha256:1.8');
    expect(manifests.filter((m) => m.line === 'dev-#').at(-1)?.digest).toBe('sha256:dev-120');
    const patch = lineDepthFactor(model, log, byTag('1.7'), T0);
    const build = lineDepthFactor(model, log, byTag('dev-119'), T0);
    expect(patch).toBeGreaterThan(1.5);
    expect(build).toBeLessThan(0.75);
    expect(pullRate(model, log, byTag('1.7'), T0)).toBeGreaterThan(3 * pullRate(model, log, byTag('dev-119'), T0));
  });

  it('leaves a repository of one line alone: a pinned release there moves through depths its dead versions held', () => {
    const { manifests, pulls } = month(pinnedReleaseMonth(T0));
    const lined = manifests.map((m) => ({ ...m, line: tagLine([m.digest.replace('sha256:', '')]) }));
    const model = learnPullModel(lined, pulls, T0) as NonNullable<ReturnType<typeof learnPullModel>>;
    const log = pullLog(lined, pulls);
    expect(log.multiLine.size).toBe(0);
    for (const m of lined) expect(lineDepthFactor(model, log, m, T0)).toBe(1);
    expect(Object.keys(model.cells).some((key) => key.includes('depth|'))).toBe(false);
  });
});

describe('whether a tag line is alive', () => {
  /**
   * A month of one repository: a main line pushed every 8 hours, its latest pulled every hour;
   * two branch slots, x and y, each running a branch for 5 days, then a new one a day later. A
   * branch pushes a version every 2 days; its latest is pulled every 6 hours and the one before
   * it once a day, always at 20 hours before now on the clock, while the branch lives. Branch x0
   * ended 19 hours ago, after its last pulls; branch y0 lives on. Their versions one back, x0-2
   * and y0-1, were last pulled at the same moment, one back then, with no version pushed in their
   * line since: by their own pulls and pushes and their repository's, they look the same.
   */
  function branchesMonth(): { manifests: ModelManifest[]; pulls: PullRecord[] } {
    const manifests: ModelManifest[] = [];
    const pulls: PullRecord[] = [];
    const repository = 'ci/app';
    const add = (tag: string, pushedMs: number): ModelManifest => {
      const m = { repository, digest: `sha256:${tag}`, pushedMs, deletedMs: null, topLevel: true, line: tagLine([tag]) };
      manifests.push(m);
      return m;
    };
    const pull = (m: ModelManifest, atMs: number) => pulls.push({ repository, digest: m.digest, atMs });
    let n = 0;
    for (let t = T0 - 30 * DAY; t < T0 - HOUR; t += 8 * HOUR) {
      const m = add(`main-${(n += 1)}`, t);
      for (let u = t + 30 * 60_000; u < Math.min(t + 8 * HOUR, T0); u += HOUR) pull(m, u);
    }
    const branch = (name: string, startMs: number) => {
      const endMs = startMs + 5 * DAY;
      const versions: ModelManifest[] = [];
      for (let t = startMs, v = 1; t < Math.min(endMs, T0 - HOUR); t += 2 * DAY, v += 1) versions.push(add(`${name}-${v}`, t));
      const newestAt = (t: number) => versions.filter((m) => m.pushedMs <= t).length - 1;
      for (let t = startMs + HOUR; t < Math.min(endMs, T0); t += 6 * HOUR) pull(versions[newestAt(t)] as ModelManifest, t);
      for (let t = T0 - 20 * HOUR; t >= startMs; t -= DAY) {
        const oneBack = versions[newestAt(t) - 1];
        if (t < endMs && oneBack !== undefined) pull(oneBack, t);
      }
    };
    for (let k = 0; k < 5; k += 1) {
      branch(`x${k}`, T0 - 19 * HOUR - 5 * DAY - k * 6 * DAY);
      branch(`y${k}`, T0 - 4 * DAY - k * 6 * DAY);
    }
    pulls.sort((a, b) => a.atMs - b.atMs);
    return { manifests, pulls };
  }

  it('ranks an old version of a live branch above the same version of a branch that ended, which look alike by their own pulls', () => {
    const { manifests, pulls } = branchesMonth();
    const last = (digest: string) => Math.max(...pulls.filter((p) => p.digest === digest).map((p) => p.atMs));
    // The premise: last pulled at the same moment, 20 hours ago.
    expect(last('sha256:x0-2')).toBe(T0 - 20 * HOUR);
    expect(last('sha256:y0-1')).toBe(T0 - 20 * HOUR);
    const model = learnPullModel(manifests, pulls, T0) as NonNullable<ReturnType<typeof learnPullModel>>;
    const log = pullLog(manifests, pulls);
    const rate = (tag: string) => pullRate(model, log, manifests.find((m) => m.digest === `sha256:${tag}`) as ModelManifest, T0);
    expect(rate('y0-1')).toBeGreaterThan(3 * rate('x0-2'));
  });
});

describe('choosing the order from the log\'s last week', () => {
  it('keeps the learned rates where, as of a week ago, they would have lost fewer pulls than recency', () => {
    const { manifests, pulls } = month();
    const choice = choosePullOrder(manifests, pulls, T0);
    expect(choice.trial?.moments).toBe(7);
    expect(choice.trial?.learnedLostPulls).toBeLessThan(choice.trial?.recencyLostPulls ?? 0);
    expect(choice.model).not.toBeNull();
    expect(choice.order).toBe('learned');
    expect(choice.reason).toMatch(/^the last 7 days' trial: \d+ pulls lost by the learned order, \d+ by its blend with recency, \d+ by least recently pulled first$/);
  });

  it('blends the learned rates with recency where, as of a week ago, each alone would have lost a pinned release\'s pulls', () => {
    const { manifests, pulls } = month(pinnedReleaseMonth(T0));
    const choice = choosePullOrder(manifests, pulls, T0);
    expect(choice.order).toBe('blended');
    expect(choice.model).not.toBeNull();
    const trial = choice.trial as NonNullable<typeof choice.trial>;
    expect(trial.blendedLostPulls).toBeLessThan(trial.learnedLostPulls);
    expect(trial.blendedLostPulls).toBeLessThan(trial.recencyLostPulls);
  });

  it.each([
    [{ learnedLostPulls: 3, blendedLostPulls: 2, recencyLostPulls: 5 }, 'blended'],
    [{ learnedLostPulls: 2, blendedLostPulls: 2, recencyLostPulls: 5 }, 'learned'],
    [{ learnedLostPulls: 1, blendedLostPulls: 2, recencyLostPulls: 5 }, 'learned'],
    [{ learnedLostPulls: 9, blendedLostPulls: 4, recencyLostPulls: 4 }, 'least-recently-pulled'],
    [{ learnedLostPulls: 4, blendedLostPulls: 6, recencyLostPulls: 4 }, 'least-recently-pulled'],
    [{ learnedLostPulls: 0, blendedLostPulls: 0, recencyLostPulls: 0 }, 'least-recently-pulled'],
  ])('takes the order that lost fewest pulls, a tie keeping recency, then the learned rates: %o -> %s', (trial, order) => {
    expect(trialWinner(trial)).toBe(order);
  });

  it('keeps least recently pulled first on a tie, and without a week of log before the trial', () => {
    // Three images, each pulled every hour all month: any one deleted loses as many pulls as another.
    const manifests: ModelManifest[] = ['a', 'b', 'c'].map((r) => ({ repository: `ci/${r}`, digest: `sha256:${r}`, pushedMs: T0 - 30 * DAY, deletedMs: null, topLevel: true, line: null }));
    const pulls: PullRecord[] = [];
    for (const m of manifests) for (let t = T0 - 30 * DAY + HOUR; t < T0; t += HOUR) pulls.push({ repository: m.repository, digest: m.digest, atMs: t });
    const tie = choosePullOrder(manifests, pulls, T0);
    expect(tie.trial?.learnedLostPulls).toBe(tie.trial?.recencyLostPulls);
    expect(tie.trial?.learnedLostPulls).toBeGreaterThan(0);
    expect(tie.model).toBeNull();
    expect(tie.order).toBe('least-recently-pulled');
    // The month's last 12 days only: enough to learn from now, not as of a week ago.
    const recent = month();
    const shortLog = recent.pulls.filter((p) => p.atMs > T0 - 12 * DAY);
    expect(learnPullModel(recent.manifests, shortLog, T0)).not.toBeNull();
    const short = choosePullOrder(recent.manifests, shortLog, T0);
    expect(short).toMatchObject({ model: null, trial: null, reason: expect.stringMatching(/before the last 7 days/) });
  });
});

describe('the blend of the learned rates and recency', () => {
  it('keeps longest what both orders keep, and puts a manifest one order keeps and the other drops between them', () => {
    const scores = blendedScores([
      // Likely and just pulled: last to go in both orders.
      { key: 'hot', rate: 5, lastWantedMs: T0 - HOUR },
      // Unlikely by its cell (a pinned release among dead versions) but pulled more recently than `dead`.
      { key: 'pinned', rate: 0.01, lastWantedMs: T0 - DAY },
      // Likely by its cell, but idle longest.
      { key: 'quiet', rate: 1, lastWantedMs: T0 - 5 * DAY },
      // First to go in both.
      { key: 'dead', rate: 0.001, lastWantedMs: T0 - 4 * DAY },
    ]);
    const order = [...scores].sort((a, b) => a[1] - b[1]).map(([key]) => key);
    // The learned rates alone take `pinned` second; recency takes `quiet` first. Places summed:
    // dead 0+1, quiet 2+0, pinned 1+2, hot 3+3.
    expect(order).toEqual(['dead', 'quiet', 'pinned', 'hot']);
    expect(Object.fromEntries(scores)).toEqual({ dead: 1, quiet: 2, pinned: 3, hot: 6 });
  });

  it('breaks ties by recency, then by key, so the order is reproducible', () => {
    const scores = blendedScores([
      { key: 'b', rate: 1, lastWantedMs: T0 },
      { key: 'a', rate: 1, lastWantedMs: T0 },
    ]);
    expect(scores.get('a')).toBe(0);
    expect(scores.get('b')).toBe(2);
  });
});

describe('what pressure ranks by: expected pulls per MiB of a manifest\'s own layers', () => {
  const MiB = 2 ** 20;

  it('of two manifests pulled alike, takes the one with more of its own first; one with none counts as 1 MiB', () => {
    const entries = [
      { key: 'small', rate: 2, lastWantedMs: T0 - DAY, ownBytes: 10 * MiB },
      { key: 'large', rate: 2, lastWantedMs: T0 - HOUR, ownBytes: 400 * MiB },
      { key: 'shares-all', rate: 0.5, lastWantedMs: T0 - 9 * DAY, ownBytes: 0 },
      { key: 'dead', rate: 0.001, lastWantedMs: T0 - 2 * DAY, ownBytes: 5 * MiB },
    ];
    const learned = pressureLikelihood('learned', entries);
    expect(Object.fromEntries(learned)).toEqual({ small: 0.2, large: 0.005, 'shares-all': 0.5, dead: 0.0002 });
    const order = (scores: Map<string, number>) => [...scores].sort((a, b) => a[1] - b[1]).map(([key]) => key);
    expect(order(learned)).toEqual(['dead', 'large', 'small', 'shares-all']);
    // The blend sums places in that order and in recency (shares-all, dead, small, large): dead 0+1,
    // large 1+3, small 2+2, shares-all 3+0.
    expect(Object.fromEntries(pressureLikelihood('blended', entries))).toEqual({ dead: 1, 'shares-all': 3, large: 4, small: 4 });
  });
});
