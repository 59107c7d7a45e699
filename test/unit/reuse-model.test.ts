// The `learned` order: what a host's own gaps between uses teach, and the order that follows.
import { evictionComparator } from '../../agent/core/order';
import { plan } from '../../agent/core/planner';
import type { ImageRecord, Layer } from '../../agent/core/image';
import { countGaps, countRepositoryGaps, idlePerUseMs, classOf, learnFromUses, repositoryClassOf, REUSE_MIN_GAPS, type ReuseModel, type UseEvent } from '../../agent/core/reuse-model';
import { DAY, HOUR, MINUTE, record, T0 } from './fixtures';

/** Uses of `imageId` every `everyMs` from `fromMs`, `count` times. */
function every(imageId: string, repository: string, fromMs: number, everyMs: number, count: number): UseEvent[] {
  return Array.from({ length: count }, (_, i) => ({ atMs: fromMs + i * everyMs, imageId, repositories: [repository] }));
}

const byTime = (uses: UseEvent[]) => [...uses].sort((a, b) => a.atMs - b.atMs);

/**
 * Twelve days of a runner: four pipelines, each a new version every 5 h used every 30 min (10
 * uses); `afterwards` says how a superseded version is used after its successor arrives. Services
 * are used once a day.
 */
function runner(afterwards: (version: string, repository: string, supersededMs: number) => UseEvent[]): { uses: UseEvent[]; endMs: number } {
  const uses: UseEvent[] = [];
  const endMs = T0 + 12 * DAY;
  for (let p = 0; p < 4; p += 1) {
    for (let v = 0; v * 5 * HOUR < 12 * DAY - 5 * HOUR; v += 1) {
      const start = T0 + p * 7 * MINUTE + v * 5 * HOUR;
      uses.push(...every(`p${p}v${v}`, `pipe/p${p}`, start, 30 * MINUTE, 10));
      if (start + 10 * HOUR < endMs) uses.push(...afterwards(`p${p}v${v}`, `pipe/p${p}`, start + 5 * HOUR));
    }
  }
  for (let s = 0; s < 6; s += 1) uses.push(...every(`s${s}`, `svc/s${s}`, T0 + s * HOUR, DAY, 12));
  return { uses: byTime(uses), endMs };
}

const NOW = T0 + 12 * DAY;
// The same live images on either host: v1 idle 90 min, superseded by v2 an hour ago; a service idle 5 h.
const v1 = record('v1', { repoTags: ['pipe/app:v1'], firstSeenMs: NOW - 8 * HOUR, lastPulledMs: NOW - 8 * HOUR, lastUsedMs: NOW - 90 * MINUTE, useCount: 10 });
const v2 = record('v2', { repoTags: ['pipe/app:v2'], firstSeenMs: NOW - HOUR, lastPulledMs: NOW - HOUR, lastUsedMs: NOW - 10 * MINUTE, useCount: 4 });
const svc = record('svc', { repoTags: ['svc/db:1'], firstSeenMs: NOW - 10 * DAY, lastPulledMs: NOW - 10 * DAY, lastUsedMs: NOW - 5 * HOUR, useCount: 10 });
const live = [svc, v1, v2];

function learned(uses: UseEvent[], nowMs: number): ReuseModel {
  const model = learnFromUses(uses, nowMs);
  if (model === null) throw new Error('expected a model');
  return model;
}

const orderUnder = (model: ReuseModel | null) => [...live].sort(evictionComparator('learned', live, NOW, undefined, undefined, model)).map((r) => r.id);

describe('the learned order', () => {
  it('evicts a superseded version first where old versions are never used again (LRU would keep it)', () => {
    const dead = runner(() => []);
    const model = learned(dead.uses, dead.endMs);
    expect(orderUnder(model)).toEqual(['v1', 'svc', 'v2']);
    expect(orderUnder(null)).toEqual(['svc', 'v1', 'v2']);
  });

  it('keeps a superseded version where old versions live on (retries, other branches), and the daily service goes first', () => {
    // After its successor arrives, a version is still used every 2 h for two days.
    const retried = runner((version, repository, supersededMs) => every(version, repository, supersededMs + HOUR, 2 * HOUR, 24));
    const model = learned(retried.uses, retried.endMs);
    expect(orderUnder(model)[0]).toBe('svc');
    // The model says why: a superseded image idle 90 min, with its successor and older versions
    // used since, costs under two hours on disk per use; the service idle 5 h (alone in its
    // repository) more than half a day (some services were never used again).
    expect(idlePerUseMs(model, classOf(10, 2, 6.5 * HOUR, 1), 90 * MINUTE)).toBeLessThan(2 * HOUR);
    expect(idlePerUseMs(model, classOf(10, 0, 10 * DAY, 0), 5 * HOUR)).toBeGreaterThan(12 * HOUR);
  });

  it('ranks an image alone in its repository, used a few times, by its recent rate of use (use score), not its class', () => {
    const model = learned(runner(() => []).uses, NOW);
    // Two services with the same class (40 uses over ten days, none of them other images' since)
    // and the same idle time; one is used about 4 times a day, the other has turned quiet.
    const service = (id: string, useScore: number) =>
      record(id, { repoTags: [`svc/${id}:1`], firstSeenMs: NOW - 10 * DAY, lastPulledMs: NOW - 10 * DAY, lastUsedMs: NOW - 3 * HOUR, useCount: 40, useScore });
    const busy = service('a-busy', 4 / Math.LN2);
    const quiet = service('b-quiet', 0.5);
    const order = (live: ImageRecord[], uses?: Map<string, number>) => [...live].sort(evictionComparator('learned', live, NOW, uses, undefined, model)).map((r) => r.id);
    expect(order([busy, quiet])).toEqual(['b-quiet', 'a-busy']);
    // Without scores the class decides: a tie, broken by ID.
    expect(order([{ ...busy, useScore: 0 }, { ...quiet, useScore: 0 }])).toEqual(['a-busy', 'b-quiet']);
    // A repository that has had other images (a pipeline's versions) is no steady service: its class decides.
    expect(order([busy, quiet], new Map([['svc/a-busy', 90], ['svc/b-quiet', 90]]))).toEqual(['a-busy', 'b-quiet']);
  });

  it('ranks as plain LRU until the history holds enough gaps, and the plan says least-recently-used', () => {
    const few = every('x', 'tool/x', T0, HOUR, REUSE_MIN_GAPS);
    expect(learnFromUses(few, T0 + DAY)).toBeNull();
    expect(orderUnder(null)).toEqual(['svc', 'v1', 'v2']);
    const planned = plan({
      nowMs: NOW,
      images: live.map((r) => ({ record: r, layers: null, containerCount: 0 })),
      disk: { totalBytes: 100_000, freeBytes: 0, totalInodes: 1e6, freeInodes: 1e6 },
      thresholds: { lowFree: { kind: 'bytes', bytes: 1500 }, targetFree: { kind: 'bytes', bytes: 1500 }, lowFreeInodesRatio: 0, targetFreeInodesRatio: 0 },
      minAgeMs: 0,
      protect: [],
      order: 'learned',
      reuseModel: null,
      mode: 'auto',
      includeProtected: false,
    });
    expect(planned.steps.map((s) => [s.imageId, s.reason])).toEqual([['svc', 'least-recently-used'], ['v1', 'least-recently-used']]);
  });

  it('keeps an image likely back within the hour, though maybe never, before one surely back only a day later', () => {
    // Tools used 3 times 30 min apart, then half once more 30 min later, half never again; nightly
    // images used every 2 days for 40 days.
    const tools = Array.from({ length: 40 }, (_, i) => every(`t${i}`, `tool/t${i}`, T0 + 38 * DAY + i * MINUTE, 30 * MINUTE, i % 2 === 0 ? 4 : 3));
    const nightly = Array.from({ length: 10 }, (_, j) => every(`n${j}`, `nightly/n${j}`, T0 + j * HOUR, 2 * DAY, 20));
    const nowMs = T0 + 40 * DAY;
    const model = learned(byTime([...tools, ...nightly].flat()), nowMs);
    const tool = record('tool', { repoTags: ['tool/x:1'], firstSeenMs: nowMs - 70 * MINUTE, lastPulledMs: nowMs - 70 * MINUTE, lastUsedMs: nowMs - 10 * MINUTE, useCount: 3 });
    const night = record('night', { repoTags: ['nightly/y:1'], firstSeenMs: nowMs - 39 * DAY, lastPulledMs: nowMs - 39 * DAY, lastUsedMs: nowMs - DAY, useCount: 20 });
    const both = [tool, night];
    // The expected time to the next use would take the tool first (a chance of never); per use
    // within the next day, the nightly image costs more disk.
    expect([...both].sort(evictionComparator('learned', both, nowMs, undefined, undefined, model)).map((r) => r.id)).toEqual(['night', 'tool']);
    expect(idlePerUseMs(model, classOf(20, 0, 38 * DAY, 0), DAY)).toBeGreaterThan(idlePerUseMs(model, classOf(3, 0, 60 * MINUTE, 0), 10 * MINUTE));
  });

  it('counts a gap as open (censored) at now, not as ended: an image never seen again is expected late', () => {
    // Thirty images used twice, 10 min apart, then never again: the ended gaps are short, the open ones long.
    const uses = byTime(Array.from({ length: 40 }, (_, i) => every(`i${i}`, `r/i${i}`, T0 + i * HOUR, 10 * MINUTE, 2)).flat());
    const model = learned(uses, T0 + 10 * DAY);
    // Idle a day, past every ended gap: only the open ones reached it, and none ended.
    const late = idlePerUseMs(model, classOf(2, 0, 10 * MINUTE, 0), DAY);
    expect(late).toBeGreaterThan(30 * DAY);
    expect(idlePerUseMs(model, classOf(1, 0, 0, 0), 0)).toBeLessThan(late / 5);
  });

  it('classes a gap by how many other images of its repository were used during it: none, one, two or more', () => {
    const use = (atMs: number, imageId: string, repository = 'pipe/app'): UseEvent => ({ atMs, imageId, repositories: [repository] });
    const uses = [
      use(T0, 'a'),
      use(T0 + MINUTE, 'a'), // a's first gap: no other image used
      use(T0 + 2 * MINUTE, 'b'),
      use(T0 + 3 * MINUTE, 'b'), // b's first gap: a's last use came before it
      use(T0 + 4 * MINUTE, 'a'), // a's second gap: b, used twice, counts once
      use(T0 + 5 * MINUTE, 'b'), // b's second gap: a
      use(T0 + 6 * MINUTE, 'c'),
      use(T0 + 7 * MINUTE, 'd'),
      use(T0 + 8 * MINUTE, 's', 'svc/db'), // another repository: never counted
      use(T0 + 9 * MINUTE, 'a'), // a's third gap: b, c and d, at the top level (and b, c and d came after a)
    ];
    const counts = countGaps(uses, T0 + 9 * MINUTE);
    const ended = (cls: number) => (counts.ended[cls] as number[]).reduce((x, y) => x + y, 0);
    expect(ended(classOf(1, 0, 0, 0))).toBe(2);
    expect(ended(classOf(2, 1, 0, 0))).toBe(2);
    expect(ended(classOf(3, 2, 0, 3))).toBe(1);
    expect(counts.ended.flat().reduce((x, y) => x + y, 0)).toBe(5);
    // Open at the end: a (4 uses, nothing since, 3 after it), b (3 uses; c, d and a since; c and d
    // after it), c (d and a since), d (a since), s (alone in its repository).
    const open = (cls: number) => (counts.open[cls] as number[]).reduce((x, y) => x + y, 0);
    expect([open(classOf(4, 0, 0, 3)), open(classOf(3, 2, 0, 2)), open(classOf(1, 2, 0, 1)), open(classOf(1, 1, 0, 0)), open(classOf(1, 0, 0, 0))]).toEqual([1, 1, 1, 1, 1]);
  });

  it('classes a gap by the time from the image\'s first use to the gap\'s start: under a day, or a day or more', () => {
    const uses = [T0, T0 + 2 * DAY, T0 + 2 * DAY + HOUR].map((atMs) => ({ atMs, imageId: 'x', repositories: ['svc/x'] }));
    const counts = countGaps(uses, T0 + 2 * DAY + HOUR);
    const ended = (cls: number) => (counts.ended[cls] as number[]).reduce((x, y) => x + y, 0);
    expect(ended(classOf(1, 0, 0, 0))).toBe(1); // the first gap starts at the first use
    expect(ended(classOf(2, 0, 2 * DAY, 0))).toBe(1); // the second, two days after it
    expect(ended(classOf(2, 0, 0, 0))).toBe(0);
    expect(classOf(2, 0, DAY - 1, 0)).not.toBe(classOf(2, 0, DAY, 0));
  });

  it('classes a gap by the images of its repository first seen after the image: fewer than 3, or 3 or more', () => {
    const use = (atMs: number, imageId: string, repository = 'pipe/app'): UseEvent => ({ atMs, imageId, repositories: [repository] });
    // a is used around the arrivals of b, c and d; s, in another repository, never counts.
    const uses = ['a', 'a', 'b', 'a', 'c', 's', 'a', 'd', 'a'].map((id, i) => use(T0 + i * MINUTE, id, id === 's' ? 'svc/db' : 'pipe/app'));
    const counts = countGaps(uses, T0 + 9 * MINUTE);
    const ended = (cls: number) => (counts.ended[cls] as number[]).reduce((x, y) => x + y, 0);
    // a's gaps end after 0, 1, 2 and 3 newer images: only the last is deep.
    expect(ended(classOf(1, 0, 0, 0))).toBe(1);
    expect(ended(classOf(2, 1, 0, 1))).toBe(1);
    expect(ended(classOf(3, 1, 0, 2))).toBe(1);
    expect(ended(classOf(4, 1, 0, 3))).toBe(1);
    expect(classOf(4, 1, 0, 2)).not.toBe(classOf(4, 1, 0, 3));
    expect(classOf(4, 1, 0, 3)).toBe(classOf(4, 1, 0, 30));
  });

  it('evicts first a version 3 or more versions deep where old versions are retried only until then (other branches\' use alike)', () => {
    // Twelve days of one pipeline with two branches: a new version every 5 h, used every 30 min
    // while newest (10 uses), then retried every 2 h until the third version after it arrives
    // (5 more uses), never after. Each version's successors are used meanwhile, so "other images
    // used since" is two or more for every old version, live or dead.
    const uses: UseEvent[] = [];
    for (let v = 0; v * 5 * HOUR < 12 * DAY - 5 * HOUR; v += 1) {
      const start = T0 + v * 5 * HOUR;
      uses.push(...every(`v${v}`, 'pipe/app', start, 30 * MINUTE, 10), ...every(`v${v}`, 'pipe/app', start + 6 * HOUR, 2 * HOUR, 5));
    }
    const model = learned(byTime(uses), NOW);
    // Two old versions alike in uses, span (under a day) and idle time, with other images used
    // since: one with two live versions first seen after it (still retried), one with four (dead).
    // By ID the shallow one would go first.
    const image = (id: string, firstSeenMs: number, lastUsedMs: number, useCount: number) => record(id, { repoTags: [`pipe/app:${id}`], firstSeenMs, lastPulledMs: firstSeenMs, lastUsedMs, useCount });
    const deep = image('b-deep', NOW - 20 * HOUR, NOW - 90 * MINUTE, 15);
    const shallow = image('a-shallow', NOW - 15 * HOUR, NOW - 90 * MINUTE, 15);
    const newer = [image('n1', NOW - 17 * HOUR, NOW - 10 * MINUTE, 15), image('n2', NOW - 10 * HOUR, NOW - 10 * MINUTE, 12), image('n3', NOW - 5 * HOUR, NOW - 10 * MINUTE, 8)];
    const live = [shallow, deep, ...newer];
    const order = [...live].sort(evictionComparator('learned', live, NOW, undefined, undefined, model)).map((r) => r.id);
    expect(order.indexOf('b-deep')).toBeLessThan(order.indexOf('a-shallow'));
    expect(idlePerUseMs(model, classOf(15, 2, 14 * HOUR, 3), 90 * MINUTE)).toBeGreaterThan(2 * idlePerUseMs(model, classOf(15, 2, 14 * HOUR, 2), 90 * MINUTE));
  });

  it('counts a repository\'s gaps between uses of any of its images, classed by its uses and the span of the image that opened each', () => {
    const use = (atMs: number, imageId: string, repository = 'pipe/app'): UseEvent => ({ atMs, imageId, repositories: [repository] });
    const uses = [use(T0, 'a'), use(T0 + MINUTE, 'a'), use(T0 + 3 * MINUTE, 'b'), use(T0 + 2 * DAY, 'b'), use(T0 + 2 * DAY + HOUR, 'a')];
    const counts = countRepositoryGaps(uses, T0 + 2 * DAY + HOUR);
    const ended = (cls: number) => (counts.ended[cls] as number[]).reduce((x, y) => x + y, 0);
    expect(ended(repositoryClassOf(1, 0))).toBe(1);
    expect(ended(repositoryClassOf(2, MINUTE))).toBe(1); // opened by a's second use, a minute after its first
    expect(ended(repositoryClassOf(3, 0))).toBe(1); // opened by b's first use
    expect(ended(repositoryClassOf(4, 2 * DAY))).toBe(1); // opened by b's use two days after its first
    expect(counts.ended.flat().reduce((x, y) => x + y, 0)).toBe(4);
    expect((counts.open[repositoryClassOf(5, 2 * DAY + HOUR)] as number[]).reduce((x, y) => x + y, 0)).toBe(1);
  });

  it('values the layers the newest live image of a busy repository shares with its versions by the repository\'s gaps, not its own', () => {
    // Twelve days: each version of pipe/app used 6 times 30 min apart, then 4 h of quiet, then the
    // next version (old versions never come back); a service used every 8 h.
    const uses: UseEvent[] = [];
    for (let v = 0, at = T0; at < T0 + 12 * DAY; v += 1, at += 6.5 * HOUR) uses.push(...every(`v${v}`, 'pipe/app', at, 30 * MINUTE, 6));
    uses.push(...every('svc', 'svc/db', T0 + HOUR, 8 * HOUR, 36));
    const nowMs = T0 + 12 * DAY + 5 * HOUR;
    const model = learnFromUses(byTime(uses), nowMs);
    if (model === null) throw new Error('expected a model');
    // Live: the newest version, 2 h into a quiet spell; the service, also idle 2 h.
    const x = record('x', { repoTags: ['pipe/app:v9'], firstSeenMs: nowMs - 4.5 * HOUR, lastPulledMs: nowMs - 4.5 * HOUR, lastUsedMs: nowMs - 2 * HOUR, useCount: 6 });
    const svc = record('svc', { repoTags: ['svc/db:1'], firstSeenMs: T0, lastPulledMs: T0, lastUsedMs: nowMs - 2 * HOUR, useCount: 36 });
    const repositoryUses = new Map([['pipe/app', 264], ['svc/db', 36]]);
    const layer = (chainId: string, sizeBytes: number): Layer => ({ chainId, sizeBytes });
    const layers: Record<string, Layer[]> = { x: [layer('base', 500), layer('deps', 900), layer('top-x', 100)], svc: [layer('base', 500), layer('db', 300)], y: [layer('base', 500), layer('deps', 900), layer('top-y', 100)] };
    const order = (live: ImageRecord[], known: boolean) => [...live].sort(evictionComparator('learned', live, nowMs, repositoryUses, undefined, model, (id) => (known ? (layers[id] ?? null) : null))).map((r) => r.id);
    // By its own gaps, a version idle 2 h is gone for good: it goes before the service.
    expect(order([svc, x], false)).toEqual(['x', 'svc']);
    // Its deps layer, which no other live image holds, is next wanted by the repository's next version, within hours.
    expect(order([svc, x], true)).toEqual(['svc', 'x']);
    // An older live version sharing the deps layer goes first by its own gaps; x, the newest,
    // still holds what the next version reuses.
    const y = record('y', { repoTags: ['pipe/app:v8'], firstSeenMs: nowMs - 11 * HOUR, lastPulledMs: nowMs - 11 * HOUR, lastUsedMs: nowMs - 8.5 * HOUR, useCount: 6 });
    expect(order([svc, x, y], true)).toEqual(['y', 'svc', 'x']);
    // A layer another repository's image holds too (the base) is not the repository's: with only
    // the base below its top, x is judged by its own gaps.
    layers.x = [layer('base', 500), layer('top-x', 100)];
    expect(order([svc, x], true)).toEqual(['x', 'svc']);
  });
});
