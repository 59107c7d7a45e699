// The planner with plain data and an injected clock.
import { evictionComparator } from '../../agent/core/order';
import { classify, implausibleThresholds, plan, thresholdBytes, type PlanInput, type PlannerImage } from '../../agent/core/planner';
import { globToRegExp } from '../../agent/core/glob';
import { DAY, HOUR, MINUTE, record, T0 } from './fixtures';

const GiB = 2 ** 30;
const NOW = T0 + 10 * DAY;

function image(id: string, opts: { usedAgo?: number; pulledAgo?: number; tags?: string[]; layers?: Array<[string, number]>; containers?: number; size?: number } = {}): PlannerImage {
  return {
    record: record(id, {
      repoTags: opts.tags ?? [`r/${id}:latest`],
      lastUsedMs: opts.usedAgo === undefined ? null : NOW - opts.usedAgo,
      lastPulledMs: NOW - (opts.pulledAgo ?? 9 * DAY),
      sizeBytes: opts.size ?? GiB,
    }),
    layers: opts.layers?.map(([chainId, sizeBytes]) => ({ chainId, sizeBytes })) ?? null,
    containerCount: opts.containers ?? 0,
  };
}

function input(images: PlannerImage[], overrides: Partial<PlanInput> = {}): PlanInput {
  return {
    nowMs: NOW,
    images,
    disk: { totalBytes: 100 * GiB, freeBytes: 10 * GiB, totalInodes: 1_000_000, freeInodes: 900_000 },
    thresholds: { lowFree: { kind: 'ratio', ratio: 0.15 }, targetFree: { kind: 'ratio', ratio: 0.25 }, lowFreeInodesRatio: 0.05, targetFreeInodesRatio: 0.1 },
    minAgeMs: 10 * MINUTE,
    protect: ['registry.freedesktop.org/mesa/**', '*/gstreamer*:*'],
    mode: 'auto',
    includeProtected: false,
    ...overrides,
  };
}

const ids = (p: ReturnType<typeof plan>) => p.steps.map((s) => s.imageId);

describe('thresholds', () => {
  it.each([
    [{ kind: 'ratio' as const, ratio: 0.15 }, 100 * GiB, 15 * GiB],
    [{ kind: 'bytes' as const, bytes: 5 * GiB }, 100 * GiB, 5 * GiB],
  ])('%j of %d bytes', (spec, total, expected) => expect(thresholdBytes(spec, total)).toBe(expected));

  it('does nothing above low, in auto mode', () => {
    const p = plan(input([image('a')], { disk: { totalBytes: 100 * GiB, freeBytes: 16 * GiB, totalInodes: 100, freeInodes: 100 } }));
    expect(p.underPressure).toBe(false);
    expect(p.steps).toEqual([]);
  });

  it('acts on inode pressure alone, keeping every candidate since inode savings cannot be estimated', () => {
    const images = [image('a', { usedAgo: 3 * DAY }), image('b', { usedAgo: 2 * DAY })];
    const p = plan(input(images, { disk: { totalBytes: 100 * GiB, freeBytes: 90 * GiB, totalInodes: 1000, freeInodes: 10 } }));
    expect(p.underPressure).toBe(true);
    expect(ids(p)).toEqual(['a', 'b']);
    expect(p.steps[0]?.untilFreeInodes).toBe(100);
  });
});

describe('implausible thresholds', () => {
  const GiB = 2 ** 30;
  const bytes = (n: number) => ({ kind: 'bytes' as const, bytes: n });
  const ratio = (r: number) => ({ kind: 'ratio' as const, ratio: r });
  it.each([
    ['15% and 25%', ratio(0.15), ratio(0.25), []],
    ['0 (never evict) is allowed', bytes(0), bytes(0), []],
    ['10 GB on a 2.9 GiB disk', bytes(10e9), ratio(0.25), [['low-free', /^9\.31 GiB is more than the disk \(2\.9 GiB\): every image would go/]]],
    ['15 bytes (a percentage without its %)', bytes(15), ratio(0.25), [['low-free', /^15 B is below 1% of the disk \(2\.9 GiB\)/]]],
    ['0.5% target', ratio(0.15), ratio(0.005), [['target-free', /below 1% of the disk/]]],
  ])('%s', (_name, lowFree, targetFree, expected) => {
    const found = implausibleThresholds({ lowFree, targetFree }, 2.9 * GiB);
    expect(found.map((f) => f.key)).toEqual(expected.map(([key]) => key));
    found.forEach((f, i) => expect(f.reason).toMatch((expected[i] as [string, RegExp])[1]));
  });
});

describe('order', () => {
  it('dangling first, then least recently wanted, ties by image ID', () => {
    const images = [
      image('recent', { usedAgo: HOUR }),
      image('old', { usedAgo: 5 * DAY }),
      image('dangling-new', { usedAgo: 2 * HOUR, tags: [] }),
      image('tie-b', { usedAgo: 3 * DAY }),
      image('tie-a', { usedAgo: 3 * DAY }),
      image('pulled-only', { pulledAgo: 4 * DAY }),
    ];
    const p = plan(input(images, { order: 'lru', mode: 'purge', disk: { totalBytes: 100 * GiB, freeBytes: 0, totalInodes: 100, freeInodes: 100 } }));
    expect(ids(p)).toEqual(['dangling-new', 'old', 'pulled-only', 'tie-a', 'tie-b', 'recent']);
    expect(p.steps.map((s) => s.reason)).toEqual(['dangling', ...Array(5).fill('least-recently-used')]);
  });

  it('each step gives the tier that put it first: superseded, used once, then least recently used', () => {
    const busy = (id: string, tag: string, usedAgo: number) => {
      const made = image(id, { usedAgo, tags: [tag] });
      return { ...made, record: { ...made.record, useCount: 20 } };
    };
    const images = [busy('busy', 'svc/db:1', 5 * DAY), busy('app-v1', 'pipe/app:v1', 2 * DAY), busy('app-v2', 'pipe/app:v2', DAY), image('tool', { usedAgo: 3 * DAY, tags: ['tool/lint:1'] })];
    images[1] = { ...images[1], record: { ...images[1]!.record, lastPulledMs: NOW - 3 * DAY } } as PlannerImage;
    images[2] = { ...images[2], record: { ...images[2]!.record, lastPulledMs: NOW - DAY } } as PlannerImage;
    const p = plan(input(images, { order: 'superseded-reuse', mode: 'purge', disk: { totalBytes: 100 * GiB, freeBytes: 0, totalInodes: 100, freeInodes: 100 } }));
    expect(p.steps.map((s) => [s.imageId, s.reason])).toEqual([
      ['app-v1', 'superseded'],
      ['tool', 'used-once'],
      ['busy', 'least-recently-used'],
      ['app-v2', 'least-recently-used'],
    ]);
  });

  it('the LRU order is a total order on distinct IDs', () => {
    const a = image('a').record;
    const b = image('b').record;
    const compareEvictionOrder = evictionComparator('lru', [a, b], NOW);
    expect(compareEvictionOrder(a, b)).toBeLessThan(0);
    expect(compareEvictionOrder(b, a)).toBeGreaterThan(0);
    expect(compareEvictionOrder(a, a)).toBe(0);
  });

  it('plans only until the estimate covers the deficit to target', () => {
    // Free 10 GiB of 100, target 25 GiB: 15 GiB short; three 6 GiB images cover it.
    const images = ['a', 'b', 'c', 'd'].map((id, i) => image(id, { usedAgo: (5 - i) * DAY, size: 6 * GiB }));
    const p = plan(input(images));
    expect(ids(p)).toEqual(['a', 'b', 'c']);
    expect(p.estimatedFreeAfterBytes).toBe(28 * GiB);
    expect(p.steps.every((s) => s.untilFreeBytes === 25 * GiB && s.mode === 'normal')).toBe(true);
  });
});

describe('classes', () => {
  it.each([
    ['a container uses it', { containers: 1, usedAgo: DAY }, false, 'in-use'],
    ['used within min-age', { usedAgo: 5 * MINUTE }, false, 'too-young'],
    ['pulled within min-age, never used', { pulledAgo: MINUTE }, false, 'too-young'],
    ['used in the future (clock went back)', { usedAgo: -HOUR }, false, 'too-young'],
    ['protected and old', { usedAgo: DAY }, true, 'protected'],
    ['protected but in use', { containers: 2 }, true, 'in-use'],
    ['old and unprotected', { usedAgo: DAY }, false, 'candidate'],
  ])('%s', (_name, opts, isProtected, expected) => {
    expect(classify(image('x', opts), isProtected ? 'protect' : 'evict', NOW, 10 * MINUTE)).toBe(expected);
  });

  it('never plans in-use or too-young images, even when nothing else is left', () => {
    const p = plan(input([image('busy', { containers: 1 }), image('fresh', { pulledAgo: MINUTE })], { disk: { totalBytes: 100 * GiB, freeBytes: 0, totalInodes: 100, freeInodes: 100 } }));
    expect(p.steps).toEqual([]);
    expect(p.ranking.map((r) => [r.imageId, r.class, r.rank])).toEqual([
      ['busy', 'in-use', null],
      ['fresh', 'too-young', null],
    ]);
  });
});

describe('shared layers', () => {
  it('estimates only the bytes no remaining image holds', () => {
    const images = [
      image('s1', { usedAgo: 3 * DAY, layers: [['base', 5 * GiB], ['s1-top', 1 * GiB]] }),
      image('s2', { usedAgo: 2 * DAY, layers: [['base', 5 * GiB], ['s2-top', 2 * GiB]] }),
      image('keeper', { containers: 1, layers: [['base2', 1 * GiB]] }),
    ];
    const p = plan(input(images, { mode: 'purge' }));
    expect(p.steps.map((s) => [s.imageId, s.estimatedBytes])).toEqual([
      ['s1', 1 * GiB],
      ['s2', 7 * GiB],
    ]);
  });

  it('a base held by an in-use image is never counted', () => {
    const images = [image('old', { usedAgo: 3 * DAY, layers: [['base', 5 * GiB], ['top', 1 * GiB]] }), image('running', { containers: 1, layers: [['base', 5 * GiB]] })];
    expect(plan(input(images, { mode: 'purge' })).steps[0]?.estimatedBytes).toBe(1 * GiB);
  });

  it('an image without layer data counts its whole size', () => {
    expect(plan(input([image('x', { usedAgo: DAY, size: 3 * GiB })], { mode: 'purge' })).steps[0]?.estimatedBytes).toBe(3 * GiB);
  });
});

describe('protection and emergency', () => {
  const mesa = (id: string, usedAgo: number) => image(id, { usedAgo, tags: [`registry.freedesktop.org/mesa/mesa/${id}:2026-11`], size: 4 * GiB });

  it('skips protected images while others suffice', () => {
    const p = plan(input([mesa('m1', 5 * DAY), image('a', { usedAgo: DAY, size: 20 * GiB })]));
    expect(ids(p)).toEqual(['a']);
    expect(p.emergency).toBe(false);
  });

  it('evicts protected images LRU first when the others cannot get back to low, only until low', () => {
    // Free 10 GiB; low 15 GiB; target 25 GiB. A 0.5 GiB candidate leaves 10.5; m-oldest makes 14.5,
    // still below low; m-mid makes 18.5, at low, so m-new stays although target is not reached.
    const images = [mesa('m-new', DAY), mesa('m-oldest', 5 * DAY), mesa('m-mid', 3 * DAY), image('a', { usedAgo: 2 * DAY, size: GiB / 2 })];
    const p = plan(input(images));
    expect(p.emergency).toBe(true);
    expect(p.steps.map((s) => [s.imageId, s.mode, s.untilFreeBytes])).toEqual([
      ['a', 'normal', 25 * GiB],
      ['m-oldest', 'emergency', 15 * GiB],
      ['m-mid', 'emergency', 15 * GiB],
    ]);
  });

  it('a purge without --emergency never includes protected images; with it, until target', () => {
    const images = [mesa('m1', 5 * DAY), mesa('m2', 4 * DAY), mesa('m3', 3 * DAY), mesa('m4', 2 * DAY)];
    expect(plan(input(images, { mode: 'purge' })).steps).toEqual([]);
    const p = plan(input(images, { mode: 'purge', includeProtected: true }));
    expect(p.steps.map((s) => [s.imageId, s.mode, s.untilFreeBytes])).toEqual([
      ['m1', 'purge', 25 * GiB],
      ['m2', 'purge', 25 * GiB],
      ['m3', 'purge', 25 * GiB],
      ['m4', 'purge', 25 * GiB],
    ]);
  });

  it.each([
    ['registry.freedesktop.org/mesa/**', 'registry.freedesktop.org/mesa/mesa/debian/x86_64_build:2026-11-01', true],
    ['registry.freedesktop.org/mesa/**', 'registry.freedesktop.org/gstreamer/gst-ci:1', false],
    ['*/gstreamer*:*', 'myreg.example/gstreamer-ci:latest', true],
    ['*/gstreamer*:*', 'a/b/gstreamer:1', false],
    ['127.0.0.1:*/evict/mesa-*:*', '127.0.0.1:5000/evict/mesa-p1:latest', true],
    ['r/a.b:?', 'r/aXb:1', false],
  ])('glob %s on %s: %s', (pattern, tag, matches) => expect(globToRegExp(pattern).test(tag)).toBe(matches));
});
