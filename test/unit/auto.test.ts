// `auto`: replays a workload under each order, switches only for a clear gain.
import { chooseOrder, SWITCH_MARGIN } from '../../agent/core/auto';
import type { Workload, WorkloadImage } from '../../agent/core/replay';
import { MINUTE } from './fixtures';

const MiB = 2 ** 20;

/**
 * A hot set of 4 images used in turn, and one-off tools in between: plain LRU lets each tool push
 * a hot image out; an order that sends images used once first keeps the hot set.
 */
function scanWorkload(): Workload {
  const image = (id: string): WorkloadImage => ({ id, repoTags: [`${id}:1`], layers: [{ id: `${id}-layer`, sizeBytes: 100 * MiB }], createdMs: 0 });
  const hot = ['hot0', 'hot1', 'hot2', 'hot3'].map(image);
  const images = [...hot];
  const jobs = [];
  for (let i = 0; i < 200; i += 1) {
    const atMs = i * 15 * MINUTE;
    if (i % 2 === 0) jobs.push({ atMs, imageId: (hot[(i / 2) % 4] as WorkloadImage).id, durationMs: 0 });
    else {
      const tool = image(`tool${i}`);
      images.push(tool);
      jobs.push({ atMs, imageId: tool.id, durationMs: 0 });
    }
  }
  return { images, jobs };
}

const settings = { marks: { lowBytes: 250 * MiB, targetBytes: 250 * MiB, intervalMs: 5 * MINUTE, minAgeMs: 10 * MINUTE }, protect: [] };

describe('chooseOrder', () => {
  it('switches from lru to an order that downloads clearly less, and says how much', () => {
    const choice = chooseOrder({ workload: scanWorkload(), capacityBytes: 800 * MiB, settings, current: 'lru', candidates: ['lru', 'reuse', 'reuse-interval'] });
    const score = (o: string) => choice.scores.find((s) => s.order === o)?.downloadedBytes as number;
    expect(score('reuse')).toBeLessThan((1 - SWITCH_MARGIN) * score('lru'));
    expect(choice.switched).toBe(true);
    expect(choice.order).not.toBe('lru');
    expect(score(choice.order)).toBe(Math.min(...choice.scores.map((s) => s.downloadedBytes)));
    expect(choice.reason).toMatch(/^would have downloaded \d+\.\d% less than lru$/);
  });

  it('keeps the current order when the best is within the margin (no flapping)', () => {
    const choice = chooseOrder({ workload: scanWorkload(), capacityBytes: 800 * MiB, settings, current: 'reuse' });
    expect(choice.order).toBe('reuse');
    expect(choice.switched).toBe(false);
    // With a margin wider than any gain, even lru stays.
    expect(chooseOrder({ workload: scanWorkload(), capacityBytes: 800 * MiB, settings, current: 'lru', margin: 0.99 }).order).toBe('lru');
  });
});

describe('chooseOrder when an order fails jobs on a full disk', () => {
  it('leaves it for an order that fails fewer, whatever the bytes, and says so', () => {
    // Two 300 MiB versions of one repository used in turn, 5 MiB one-offs between, on 1000 MiB with
    // low 100 MiB. Once the one-offs pile up, `superseded` evicts the older version first; pulling
    // it again needs 600 MiB free (twice its size), which never comes back. LRU evicts one-offs.
    const version = (id: string): WorkloadImage => ({ id, repoTags: [`svc/big:${id}`], layers: [{ id: `${id}-l`, sizeBytes: 300 * MiB }], createdMs: 0 });
    const images: WorkloadImage[] = [version('v1'), version('v2')];
    const jobs = [];
    for (let i = 0; i < 200; i += 1) {
      const atMs = i * 20 * MINUTE;
      if (i % 2 === 0) jobs.push({ atMs, imageId: i % 4 === 0 ? 'v1' : 'v2', durationMs: 0 });
      else {
        images.push({ id: `tool${i}`, repoTags: [`tool/t${i}:1`], layers: [{ id: `tool${i}-l`, sizeBytes: 5 * MiB }], createdMs: 0 });
        jobs.push({ atMs, imageId: `tool${i}`, durationMs: 0 });
      }
    }
    const marks = { lowBytes: 100 * MiB, targetBytes: 100 * MiB, intervalMs: 5 * MINUTE, minAgeMs: 10 * MINUTE };
    const choice = chooseOrder({ workload: { images, jobs }, capacityBytes: 1000 * MiB, settings: { marks, protect: [] }, current: 'superseded', candidates: ['superseded', 'lru'] });
    const failed = (o: string) => (choice.scores.find((x) => x.order === o) as { fullDiskJobs: number }).fullDiskJobs;
    expect(failed('lru')).toBe(0);
    expect(failed('superseded')).toBeGreaterThan(0);
    expect(choice.order).toBe('lru');
    expect(choice.reason).toBe(`would have failed ${failed('superseded')} fewer jobs on a full disk than superseded (0 vs ${failed('superseded')})`);
  });
});
