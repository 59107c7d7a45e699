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
    const choice = chooseOrder({ workload: scanWorkload(), capacityBytes: 800 * MiB, settings, current: 'lru' });
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
