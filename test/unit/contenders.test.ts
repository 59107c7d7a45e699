// The offline reference that bench/ and `simulate` judge every order against: it must work under the
// operator's `protect` list as the agent does, or it claims bytes no configuration could save.
import { offlineWatermark } from '../../agent/core/contenders';
import { replay, type Contender, type ReplayHost, type Workload, type WorkloadImage } from '../../agent/core/replay';
import { MINUTE } from './fixtures';

const MiB = 2 ** 20;

const image = (ref: string): WorkloadImage => ({ id: ref, repoTags: [ref], layers: [{ id: `${ref}-layer`, sizeBytes: 100 * MiB }], createdMs: 0 });

/** The contender, with every removal it makes written down. */
function recording(contender: Contender): { contender: Contender; removed: string[]; at: Map<string, number[]> } {
  const removed: string[] = [];
  const at = new Map<string, number[]>();
  const watch = (host: ReplayHost): ReplayHost =>
    new Proxy(host, {
      get(target, key) {
        if (key === 'remove')
          return (id: string) => {
            const done = target.remove(id);
            if (done) {
              removed.push(id);
              at.set(id, [...(at.get(id) ?? []), target.nowMs]);
            }
            return done;
          };
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  const wrap = (hook: ((host: ReplayHost) => void) | undefined) => hook && ((host: ReplayHost) => hook(watch(host)));
  return { contender: { ...contender, onTick: wrap(contender.onTick), afterPull: wrap(contender.afterPull) }, removed, at };
}

const marks = { lowBytes: 200 * MiB, targetBytes: 200 * MiB, intervalMs: 5 * MINUTE, minAgeMs: 0 };

describe('the offline order under the agent trigger', () => {
  // A base used first and last, three apps in turn between: the base is the farthest next need at every check.
  const base = image('ci/base-0:latest');
  const apps = ['app-a:1', 'app-b:1', 'app-c:1'].map(image);
  const workload: Workload = {
    images: [base, ...apps],
    jobs: [
      { atMs: 0, imageId: base.id, durationMs: 0 },
      ...Array.from({ length: 12 }, (_, i) => ({ atMs: (i + 1) * 15 * MINUTE, imageId: (apps[i % 3] as WorkloadImage).id, durationMs: 0 })),
      { atMs: 14 * 15 * MINUTE, imageId: base.id, durationMs: 0 },
    ],
  };

  it('removes a protected image only when nothing else is left to remove, as the planner does', () => {
    const free = recording(offlineWatermark(marks));
    replay(workload, 400 * MiB, free.contender);
    // Unprotected, the farthest next need is the base: the reference takes it.
    expect(free.removed).toContain(base.id);

    const kept = recording(offlineWatermark(marks, ['ci/base-*']));
    const outcome = replay(workload, 400 * MiB, kept.contender);
    expect(kept.removed).not.toContain(base.id);
    expect(kept.removed.length).toBeGreaterThan(0);
    expect(outcome.fullDiskJobs).toBe(0);
  });

  it('takes protected images in emergency, farthest next need first, and only until low', () => {
    const bases = ['ci/base-0:latest', 'ci/base-1:latest', 'ci/base-2:latest'].map(image);
    const app = image('app-a:1');
    const use = (atMs: number, img: WorkloadImage) => ({ atMs, imageId: img.id, durationMs: 0 });
    const [b0, b1, b2] = bases as [WorkloadImage, WorkloadImage, WorkloadImage];
    // base-1 is needed again before base-0: base-0 is the one to go.
    const emergency: Workload = { images: [...bases, app], jobs: [use(0, b0), use(MINUTE, b1), use(2 * MINUTE, b2), use(30 * MINUTE, app), use(60 * MINUTE, b1), use(90 * MINUTE, b0)] };
    const run = recording(offlineWatermark({ ...marks, lowBytes: 150 * MiB, targetBytes: 350 * MiB }, ['ci/base-*']));
    const outcome = replay(emergency, 400 * MiB, run.contender);
    // Right after base-2's pull, 100 MiB free is below low: base-0 goes (free 200 MiB, above low);
    // base-1 stays, though target (350 MiB) is not reached: protected images go only until low.
    expect(run.removed[0]).toBe('ci/base-0:latest');
    expect([...run.at].filter(([, times]) => times.includes(2 * MINUTE))).toEqual([['ci/base-0:latest', [2 * MINUTE]]]);
    expect(outcome.fullDiskJobs).toBe(0);
  });
});
