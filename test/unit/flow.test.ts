// The decision flow on a fake engine, without root and in seconds: the tracker's ingest, a whole
// check (reconcile, plan, evict) and the agent's loop. The same flows run on real engines in
// test/integration/; these catch a broken order, stop rule or loop before a full run.
import { join } from 'node:path';
import { DEFAULTS, type Config } from '../../agent/config/schema';
import type { Layer } from '../../agent/core/image';
import { msToNano } from '../../agent/core/image';
import { runCheck, type CheckDeps } from '../../agent/eviction/check';
import { answerFromHistory, replayHere, type LearnRequest } from '../../agent/eviction/order-learner';
import { DockerApiError, DockerUnreachableError } from '../../agent/errors';
import type { Log, LogFields } from '../../agent/log';
import { runAgent } from '../../agent/service/agent';
import { openStore, readHistory, type Store } from '../../agent/state/store';
import { createTracker } from '../../agent/tracking/tracker';
import { createFakeEngine, type FakeEngine } from '../fakes/engine';
import { waitFor } from '../harness/proc';
import { fileTestDir } from '../harness/tmp';
import { DAY, HOUR, MINUTE, T0 } from './fixtures';

const MB = 1_000_000;
const dir = fileTestDir('flow');
let cases = 0;
const openStores: Store[] = [];
afterEach(() => {
  for (const store of openStores.splice(0)) store.close();
});

type Line = LogFields & { message: string };

/** A Log that keeps every line, for asserting what happened and in which order. */
function captureLog(): Log & { lines: Line[]; count(message: string): number } {
  const lines: Line[] = [];
  const keep = (message: string, fields: LogFields = {}) => void lines.push({ ...fields, message });
  return { lines, error: keep, warn: keep, info: keep, debug: keep, count: (message) => lines.filter((l) => l.message === message).length };
}

/** A settable clock: wall time for the agent and the engine, and a monotonic one for jump detection. */
function fakeClock(startMs: number) {
  let wallMs = startMs;
  let monoMs = 0;
  return {
    now: () => wallMs,
    monotonic: () => monoMs,
    /** Time passes: both clocks move. */
    advance(ms: number) {
      wallMs += ms;
      monoMs += ms;
    },
    /** The wall clock is set: only it moves. */
    jump(ms: number) {
      wallMs += ms;
    },
  };
}

const layer = (chainId: string, mb: number): Layer => ({ chainId, sizeBytes: mb * MB });

interface Setup {
  clock: ReturnType<typeof fakeClock>;
  engine: FakeEngine;
  store: Store;
  log: ReturnType<typeof captureLog>;
  deps: CheckDeps;
  config: Config;
}

/** A fake engine on a 1000 MB disk, a real SQLite store in a temporary directory, and check deps. */
function setup(overrides: Partial<Config> = {}, baseUsedBytes = 0, dialect: 'docker' | 'podman' = 'docker'): Setup {
  const clock = fakeClock(T0);
  const engine = createFakeEngine({ clock: clock.now, totalBytes: 1000 * MB, baseUsedBytes, dialect });
  const log = captureLog();
  const statePath = join(dir, `case-${(cases += 1)}.db`);
  const { store } = openStore(statePath, log, clock.now());
  const tracker = createTracker({ docker: engine, store, log });
  const config: Config = { ...DEFAULTS, statePath, evictionOrder: 'lru', minAgeMs: 10 * MINUTE, ...overrides };
  const deps: CheckDeps = { config: () => setupState.config, docker: engine, store, tracker, log, measureDisk: engine.measureDisk, clock: clock.now };
  const setupState = { clock, engine, store, log, deps, config };
  openStores.push(store);
  return setupState;
}

/** Applies every event the engine has emitted so far, as the live stream would. */
async function ingestAll(s: Setup): Promise<void> {
  for (const event of await s.engine.eventsBetween('0', msToNano(s.clock.now() + 1))) await s.deps.tracker.applyEvent(event);
}

const bytes = (mb: number) => ({ kind: 'bytes' as const, bytes: mb * MB });

describe('tracker ingest', () => {
  it('records pulls and uses at their event times, moves tags, and applies each event once', async () => {
    const s = setup();
    // Applied as they happen, as the live stream delivers them: Docker is asked about an event's
    // image when it is applied, and by then a later pull may have moved the tag.
    const v1 = s.engine.pull({ ref: 'ci/app:1', layers: [layer('base', 100), layer('app-v1', 10)] });
    await ingestAll(s);
    s.clock.advance(MINUTE);
    s.engine.run('job-1', 'ci/app:1');
    await ingestAll(s);
    s.clock.advance(MINUTE);
    const v2 = s.engine.pull({ ref: 'ci/app:1', layers: [layer('base', 100), layer('app-v2', 10)] });
    await ingestAll(s);
    // A replay of everything (after a reconnect, say) changes nothing.
    await ingestAll(s);

    const old = s.store.image(v1);
    expect(old).toMatchObject({ lastPulledMs: T0, lastUsedMs: T0 + MINUTE, useCount: 1, repoTags: [] });
    expect(s.store.image(v2)).toMatchObject({ lastPulledMs: T0 + 2 * MINUTE, lastUsedMs: null, useCount: 0, repoTags: ['ci/app:1'] });
    // pull, create, start, pull: each applied once.
    expect(s.log.count('docker_event')).toBe(4);
  });

  it("Podman's `delete` on removing one of two tags leaves the image live, with its other tag and its uses", async () => {
    const s = setup({}, 0, 'podman');
    const id = s.engine.pull({ ref: 'ci/app:1', layers: [layer('base', 100)] });
    await s.engine.tagImage(id, 'ci/app:stable');
    s.clock.advance(MINUTE);
    s.engine.run('job-1', 'ci/app:1');
    await ingestAll(s);
    expect(await s.engine.removeImage('ci/app:1')).toBe('removed');
    await ingestAll(s);
    expect(s.engine.imageIds()).toContain(id);
    expect(s.store.image(id)).toMatchObject({ removedMs: null, repoTags: ['ci/app:stable'], useCount: 1 });
    expect(s.store.liveImages().has(id)).toBe(true);
  });

  it('an image back after its removal, seen only by reconciles, keeps what its record knew', async () => {
    const s = setup();
    const id = s.engine.pull({ ref: 'ci/app:1', layers: [layer('base', 100)] });
    s.clock.advance(MINUTE);
    s.engine.run('job-1', 'ci/app:1');
    s.engine.run('job-2', 'ci/app:1');
    await ingestAll(s);
    await s.engine.removeImage(id);
    s.clock.advance(HOUR);
    await s.deps.tracker.reconcile(s.clock.now());
    expect(s.store.liveImages().has(id)).toBe(false);
    s.clock.advance(HOUR);
    s.engine.pull({ ref: 'ci/app:1', layers: [layer('base', 100)] });
    await s.deps.tracker.reconcile(s.clock.now());
    // The survey reads live records only; the returning image's record is looked up by its ID.
    expect(s.store.image(id)).toMatchObject({ firstSeenMs: T0, useCount: 2, removedMs: null });
  });

  it('a reconcile that sees a pull before its event: one pull in the history, at the event time', async () => {
    const s = setup();
    // Built an hour before it is pulled: its creation time is no arrival time.
    const id = s.engine.pull({ ref: 'ci/app:1', layers: [layer('base', 100)], createdMs: T0 - HOUR });
    await s.deps.tracker.reconcile(s.clock.now() + 1);
    await ingestAll(s);
    expect(s.store.image(id)).toMatchObject({ lastPulledMs: T0 });
    expect(s.store.history(0).map((h) => [h.kind, h.atMs])).toEqual([['pull', T0]]);
  });

  it('a pull a reconcile sees before its event is dated after the previous pass, not by its build; the event then dates it', async () => {
    const s = setup();
    await s.deps.tracker.reconcile(s.clock.now());
    s.clock.advance(HOUR);
    const id = s.engine.pull({ ref: 'ci/app:1', layers: [layer('base', 100)], createdMs: T0 - 30 * DAY });
    s.clock.advance(MINUTE);
    await s.deps.tracker.reconcile(s.clock.now());
    expect(s.store.image(id)).toMatchObject({ lastPulledMs: T0 });
    await ingestAll(s);
    expect(s.store.image(id)).toMatchObject({ lastPulledMs: T0 + HOUR });
  });

  it('a clock jump moves the history with the records: no pull or use is invented, and the gaps between jobs stay real', async () => {
    const s = setup();
    const id = s.engine.pull({ ref: 'ci/app:1', layers: [layer('base', 100)] });
    s.clock.advance(MINUTE);
    s.engine.run('job-1', 'ci/app:1');
    await ingestAll(s);
    const before = s.store.history(0);
    expect(before.map((h) => [h.kind, h.atMs])).toEqual([['pull', T0], ['use', T0 + MINUTE]]);

    // Forwards a day, two minutes after the job; then one more job.
    s.clock.advance(MINUTE);
    const prevWallMs = s.clock.now();
    s.clock.jump(DAY);
    const jump = { skewMs: DAY, prevWallMs, nowWallMs: s.clock.now() };
    expect(await s.deps.tracker.absorbClockJump(jump)).toBe(1);
    s.clock.advance(MINUTE);
    s.engine.run('job-2', 'ci/app:1');
    await ingestAll(s);

    expect(s.store.image(id)).toMatchObject({ lastPulledMs: T0 + DAY, lastUsedMs: T0 + DAY + 3 * MINUTE });
    // One pull and two uses, as happened; the first job three minutes before the second, as it was.
    expect(s.store.history(0).map((h) => [h.kind, h.atMs])).toEqual([['pull', T0 + DAY], ['use', T0 + DAY + MINUTE], ['use', T0 + DAY + 3 * MINUTE]]);
  });
});

describe('a whole check on a full disk', () => {
  /**
   * 1000 MB disk, 400 MB of other files, five 100 MB images: 100 MB free. Low 150 MB, target
   * 320 MB. Least recently used first: `pinned` (a container holds it), `mesa` (protected), a, b,
   * c, then d. Evicting a, b and c reaches 400 MB free; d must stay.
   */
  async function fullDisk(): Promise<{ s: Setup; ids: Record<string, string> }> {
    const s = setup({ lowFree: bytes(150), targetFree: bytes(320), protect: ['ci/mesa-*:*'] }, 400 * MB);
    const ids: Record<string, string> = {};
    for (const name of ['pinned', 'mesa-base', 'a', 'b', 'c', 'd']) {
      ids[name] = s.engine.pull({ ref: `ci/${name}:1`, layers: [layer(name, name === 'pinned' ? 0 : 100)] });
      s.clock.advance(MINUTE);
    }
    s.engine.run('stopped-job', 'ci/pinned:1', { keep: true });
    s.clock.advance(HOUR);
    await ingestAll(s);
    return { s, ids };
  }

  it('evicts least recently used first, skips the protected and the in-use image, stops at target', async () => {
    const { s, ids } = await fullDisk();
    const report = await runCheck(s.deps, '/fake/docker', { lockWaitMs: 0 }, new AbortController().signal);

    expect(report.outcomes.map((o) => [o.imageId, o.result])).toEqual([
      [ids.a, 'removed'],
      [ids.b, 'removed'],
      [ids.c, 'removed'],
    ]);
    expect(s.engine.imageIds().sort()).toEqual([ids.pinned, ids['mesa-base'], ids.d].sort());
    expect((await s.engine.measureDisk('/fake/docker')).freeBytes).toBe(400 * MB);
    expect(s.store.evictions().map((e) => [e.imageId, e.mode, e.measuredBytes])).toEqual([
      [ids.a, 'normal', 100 * MB],
      [ids.b, 'normal', 100 * MB],
      [ids.c, 'normal', 100 * MB],
    ]);
    expect(s.store.image(ids.a as string)?.removedMs).toBe(s.clock.now());
    expect(s.log.lines.find((l) => l.message === 'eviction_run')).toMatchObject({ stoppedBecause: 'target', removed: 3 });
  });

  it('stops on the measured free space, not on the plan: room made by others ends the run early', async () => {
    const { s, ids } = await fullDisk();
    // A job's workspace (200 MB) is cleaned while the first removal runs: after it, 400 MB are free.
    const measure = s.deps.measureDisk;
    s.deps.measureDisk = async (path) => {
      const disk = await measure(path);
      const cleaned = s.engine.removals.length > 0 ? 200 * MB : 0;
      return { ...disk, freeBytes: disk.freeBytes + cleaned, freeRatio: (disk.freeBytes + cleaned) / disk.totalBytes };
    };
    const report = await runCheck(s.deps, '/fake/docker', { lockWaitMs: 0 }, new AbortController().signal);
    expect(report.outcomes.map((o) => [o.imageId, o.result])).toEqual([[ids.a, 'removed']]);
    expect(s.engine.imageIds()).toEqual(expect.arrayContaining([ids.b, ids.c, ids.d]));
    expect(s.log.lines.find((l) => l.message === 'eviction_run')).toMatchObject({ stoppedBecause: 'target', removed: 1 });
  });

  it("waits for a removal's space to show before judging the stop rule: a late release does not evict an extra image", async () => {
    const { s, ids } = await fullDisk();
    // The engine lets each removed image's space go a moment late: the first reading after a
    // removal still shows the space as used (a layer released after the API answered).
    const measure = s.deps.measureDisk;
    let seen = 0;
    let lateness = 0;
    s.deps.measureDisk = async (path) => {
      const disk = await measure(path);
      if (s.engine.removals.length > seen) {
        seen = s.engine.removals.length;
        lateness = 100 * MB;
      } else lateness = 0;
      return { ...disk, freeBytes: disk.freeBytes - lateness, freeRatio: (disk.freeBytes - lateness) / disk.totalBytes };
    };
    const report = await runCheck(s.deps, '/fake/docker', { lockWaitMs: 0 }, new AbortController().signal);
    // Exactly the three it needs, each measured at its real 100 MB; d stays.
    expect(report.outcomes.map((o) => [o.imageId, o.result, o.measuredBytes])).toEqual([
      [ids.a, 'removed', 100 * MB],
      [ids.b, 'removed', 100 * MB],
      [ids.c, 'removed', 100 * MB],
    ]);
    expect(s.engine.imageIds()).toContain(ids.d);
  });

  it('re-checks each image right before removal: a pull that arrived after planning keeps it', async () => {
    const { s, ids } = await fullDisk();
    // `a` is pulled again after the last ingest: only the evictor's catch-up can know. The clock
    // moves on a millisecond, as a real one would before the evictor asks Docker for new events.
    s.engine.pull({ ref: 'ci/a:1', layers: [layer('a', 100)] });
    s.clock.advance(1);
    const report = await runCheck(s.deps, '/fake/docker', { lockWaitMs: 0 }, new AbortController().signal);
    expect(report.outcomes.map((o) => [o.imageId, o.result])).toEqual([
      [ids.a, 'too-young'],
      [ids.b, 'removed'],
      [ids.c, 'removed'],
    ]);
    expect(s.engine.imageIds()).toContain(ids.a);
    // 300 MB free: above low, so no second round goes after d to make up for a.
    expect(s.engine.imageIds()).toContain(ids.d);
    expect(s.log.lines.find((l) => l.message === 'eviction_run')).toMatchObject({ stoppedBecause: 'plan-exhausted', freeBytes: 300 * MB });
  });

  it('a catch-up Docker does not answer: the step fails, nothing is removed on stale records', async () => {
    const { s, ids } = await fullDisk();
    // A job pulls `a` again after the last ingest, and Docker, loaded, answers no catch-up.
    s.engine.pull({ ref: 'ci/a:1', layers: [layer('a', 100)] });
    s.clock.advance(1);
    s.engine.eventsBetween = async () => {
      throw new DockerUnreachableError('/fake/docker', 'no answer to the events catch-up within 3 s');
    };
    const report = await runCheck(s.deps, '/fake/docker', { lockWaitMs: 0 }, new AbortController().signal);
    expect(report.outcomes.length).toBeGreaterThan(0);
    expect(report.outcomes.every((o) => o.result === 'failed')).toBe(true);
    expect(s.engine.removals).toEqual([]);
    for (const id of [ids.a, ids.b, ids.c, ids.d]) expect(s.engine.imageIds()).toContain(id);
    expect(s.log.lines.find((l) => l.message === 'eviction_failed')).toMatchObject({ error: expect.stringMatching(/no answer to the events catch-up/) });
  });

  it('says, on each eviction line, the Docker event time its re-check brought the records up to', async () => {
    const { s } = await fullDisk();
    s.clock.advance(1);
    const checkedMs = s.clock.now();
    await runCheck(s.deps, '/fake/docker', { lockWaitMs: 0 }, new AbortController().signal);
    const evictions = s.log.lines.filter((l) => l.message === 'eviction');
    expect(evictions.length).toBeGreaterThan(0);
    for (const line of evictions) expect(BigInt(String(line.checkedThroughNano))).toBeGreaterThanOrEqual(BigInt(msToNano(checkedMs)));
  });

  it('a container created between planning and removal: Docker refuses (409), the image stays, the run goes on', async () => {
    const { s, ids } = await fullDisk();
    // A job creates its container after the evictor's last re-check, right before the removal:
    // the one window left, which only Docker's own refusal covers.
    const removeImage = s.engine.removeImage;
    s.engine.removeImage = async (ref) => {
      if (ref === 'ci/a:1') s.engine.run('late-job', 'ci/a:1', { keep: true });
      return removeImage(ref);
    };
    const report = await runCheck(s.deps, '/fake/docker', { lockWaitMs: 0 }, new AbortController().signal);
    expect(report.outcomes.find((o) => o.imageId === ids.a)?.result).toBe('in-use');
    expect(s.engine.removals).toContainEqual({ ref: 'ci/a:1', result: 'conflict' });
    expect(s.engine.imageIds()).toContain(ids.a);
    expect(report.outcomes.filter((o) => o.result === 'removed').map((o) => o.imageId)).toEqual([ids.b, ids.c]);
    expect(s.engine.imageIds()).toContain(ids.d);
  });
});

describe('the agent loop', () => {
  const running: Array<{ stop: AbortController; done: Promise<void> }> = [];
  // A failed test must not leave its agent running: jest would wait for it forever.
  afterEach(async () => {
    for (const agent of running.splice(0)) {
      agent.stop.abort();
      await agent.done;
    }
  });

  /** Starts runAgent on the fake engine with an hour's interval: only events trigger checks. */
  function startAgent(s: Setup) {
    s.config = { ...s.config, intervalMs: HOUR, dataRootPath: '/fake/docker' };
    const stop = new AbortController();
    // The clock timer runs hourly here: only a check's own comparison can notice a jump.
    const done = runAgent({ ...s.deps, metrics: undefined, monotonic: s.clock.monotonic, clockWatchMs: HOUR }, stop.signal);
    const agent = { stop, done };
    running.push(agent);
    return agent;
  }

  it('a burst of pulls costs one check (debounce), and shutdown stops it cleanly', async () => {
    const s = setup();
    const agent = startAgent(s);
    await waitFor('the first check', () => (s.log.count('disk') === 1 && s.log.count('docker_events_connected') === 1 ? true : undefined));
    for (let i = 0; i < 5; i += 1) s.engine.pull({ ref: `ci/burst-${i}:1`, layers: [layer(`burst-${i}`, 1)] });
    await waitFor('the burst applied', () => (s.log.count('docker_event') === 5 ? true : undefined));
    await waitFor('the check the burst asked for', () => (s.log.count('disk') === 2 ? true : undefined));
    agent.stop.abort();
    await agent.done;
    expect(s.log.lines[s.log.lines.length - 1]?.message).toBe('agent_stopped');
    expect(s.log.count('disk')).toBe(2);
  });

  it('an image lookup Docker answers with an error (a removal racing it) is no disconnect', async () => {
    const s = setup();
    const agent = startAgent(s);
    await waitFor('events connected', () => (s.log.count('docker_events_connected') === 1 ? true : undefined));
    const inspectImage = s.engine.inspectImage;
    s.engine.inspectImage = async (ref) => {
      if (ref === 'ci/racing:1') throw new DockerApiError('image inspect', 500, 'layer does not exist');
      return inspectImage(ref);
    };
    s.engine.pull({ ref: 'ci/racing:1', layers: [layer('racing', 1)] });
    const after = s.engine.pull({ ref: 'ci/after:1', layers: [layer('after', 1)] });
    await waitFor('the next event applied', () => (s.store.image(after) !== undefined ? true : undefined));
    expect(s.log.count('event_lookup_failed')).toBe(1);
    expect(s.log.count('docker_disconnected')).toBe(0);
    expect(s.log.count('docker_events_connected') + s.log.count('docker_reconnected')).toBe(1);
    agent.stop.abort();
    await agent.done;
  });

  it('a clock set back a day right before a check: the jump is absorbed first, so the hour-old image is still evicted', async () => {
    const s = setup({ lowFree: bytes(0), targetFree: bytes(0) });
    const agent = startAgent(s);
    await waitFor('events connected', () => (s.log.count('docker_events_connected') === 1 ? true : undefined));
    const old = s.engine.pull({ ref: 'ci/old:1', layers: [layer('old', 100)] });
    await waitFor('the old pull recorded', () => (s.store.image(old)?.lastPulledMs === T0 ? true : undefined));
    await waitFor('the check after it', () => (s.log.count('disk') === 2 ? true : undefined));
    s.clock.advance(HOUR);
    const recent = s.engine.pull({ ref: 'ci/recent:1', layers: [layer('recent', 100)] });
    await waitFor('the recent pull recorded', () => (s.store.image(recent)?.lastPulledMs === T0 + HOUR ? true : undefined));
    await waitFor('the check after it', () => (s.log.count('disk') === 3 ? true : undefined));

    // The wall clock goes back a day; only a check can notice. Pressure
    // that both images together would relieve, and a pull to trigger the check.
    s.clock.jump(-DAY);
    s.config = { ...s.config, lowFree: bytes(1000), targetFree: bytes(1000) };
    s.engine.pull({ ref: 'ci/trigger:1', layers: [layer('trigger', 0)] });
    await waitFor('the eviction run', () => (s.log.count('eviction_run') === 1 ? true : undefined));
    agent.stop.abort();
    await agent.done;

    const messages = s.log.lines.map((l) => l.message);
    expect(messages.indexOf('clock_jump_absorbed')).toBeGreaterThan(-1);
    expect(messages.indexOf('clock_jump_absorbed')).toBeLessThan(messages.lastIndexOf('reconcile'));
    expect(messages).not.toContain('clock_future_times_clamped');
    expect(s.engine.imageIds()).not.toContain(old);
    expect(s.engine.imageIds()).toContain(recent);
  });
});

describe('auto eviction order', () => {
  it('replays the recorded history, switches from a worse order with evidence, and waits 6 h before choosing again', async () => {
    // 800 MB for images, low 250 MB: five 100 MB images fit. Four hot images in turn with a one-off
    // tool between each: under plain LRU each tool pushes out a hot image.
    const s = setup({ evictionOrder: 'auto', lowFree: bytes(250), targetFree: bytes(250) }, 200 * MB);
    for (let i = 0; i < 120; i += 1) {
      const ref = i % 2 === 0 ? `svc/hot${(i / 2) % 4}:1` : `tool/t${i}:1`;
      const id = s.engine.pull({ ref, layers: [layer(`${ref}-layer`, 100)] });
      s.engine.run(`job-${i}`, ref);
      await ingestAll(s);
      // Whatever cleaned up then is not what is judged: the replay makes its own removals.
      await s.engine.removeImage(id);
      await ingestAll(s);
      s.clock.advance(15 * MINUTE);
    }
    expect(s.store.historyBounds().events).toBeGreaterThanOrEqual(3 * 120);
    s.store.saveActiveOrder({ order: 'lru', chosenMs: s.clock.now() - 7 * HOUR, sinceMs: T0, reason: 'set by the test', jobs: 0, windowMs: 0, scores: [] });
    await runCheck(s.deps, '/data', { lockWaitMs: 0 }, new AbortController().signal);
    const switched = s.log.lines.find((l) => l.message === 'eviction_order_switched');
    expect(switched).toMatchObject({ from: 'lru', jobs: 120, replayedIn: 'this process' });
    const downloaded = switched?.downloadedBytes as Record<string, number>;
    const chosen = s.store.activeOrder();
    expect(chosen?.order).toBe(switched?.order);
    expect(chosen?.order).not.toBe('lru');
    expect(downloaded[chosen?.order as string]).toBeLessThan(0.97 * (downloaded.lru as number));
    expect(chosen).toMatchObject({ chosenMs: s.clock.now(), sinceMs: s.clock.now() });
    // The next check, minutes later, keeps the choice without replaying again.
    s.clock.advance(5 * MINUTE);
    await runCheck(s.deps, '/data', { lockWaitMs: 0 }, new AbortController().signal);
    expect(s.log.count('eviction_order_switched') + s.log.count('eviction_order_kept')).toBe(1);
  });

  it('reads the same history from the state file on a read-only connection (as its child process does) as the store gives', async () => {
    const s = setup({ evictionOrder: 'auto' });
    for (let i = 0; i < 60; i += 1) {
      const ref = `svc/s${i % 7}:1`;
      s.engine.pull({ ref, layers: [layer(`${ref}-layer`, 10)] });
      s.engine.run(`job-${i}`, ref);
      await ingestAll(s);
      s.clock.advance(20 * MINUTE);
    }
    s.store.flush();
    const request: LearnRequest = {
      sinceMs: T0,
      nowMs: s.clock.now(),
      capacityBytes: 500 * MB,
      settings: { marks: { lowBytes: 100 * MB, targetBytes: 150 * MB, intervalMs: 5 * MINUTE, minAgeMs: 10 * MINUTE }, protect: [] },
      current: 'lru',
      learnReuse: true,
    };
    const fromFile = readHistory(s.config.statePath, T0, s.log);
    expect(fromFile.entries.length).toBeGreaterThanOrEqual(120);
    const here = await replayHere(s.store).replay(request);
    expect(here.jobs).toBe(60);
    expect(answerFromHistory(fromFile.entries, fromFile.images, request)).toEqual(here);
  });

  it('keeps the order when the replay fails, says why, and tries again only after 6 h', async () => {
    const s = setup({ evictionOrder: 'auto' });
    let asked = 0;
    s.deps.replayer = {
      where: 'a child process',
      replay: async () => {
        asked += 1;
        throw new Error('the replay process ended (SIGKILL) without an answer');
      },
    };
    s.store.saveActiveOrder({ order: 'reuse-interval', chosenMs: s.clock.now() - 7 * HOUR, sinceMs: T0, reason: 'set by the test', jobs: 80, windowMs: DAY, scores: [] });
    await runCheck(s.deps, '/data', { lockWaitMs: 0 }, new AbortController().signal);
    expect(asked).toBe(1);
    expect(s.log.lines.find((l) => l.message === 'eviction_order_unchosen')).toMatchObject({ order: 'reuse-interval', error: expect.stringContaining('SIGKILL') });
    expect(s.store.activeOrder()).toMatchObject({ order: 'reuse-interval', chosenMs: s.clock.now(), sinceMs: T0, reason: expect.stringContaining('could not replay the history') });
    s.clock.advance(5 * MINUTE);
    await runCheck(s.deps, '/data', { lockWaitMs: 0 }, new AbortController().signal);
    expect(asked).toBe(1);
    s.clock.advance(6 * HOUR);
    await runCheck(s.deps, '/data', { lockWaitMs: 0 }, new AbortController().signal);
    expect(asked).toBe(2);
  });
});

describe('learned eviction order', () => {
  /** Applies the fake engine's events up to now, as the agent's event stream would. */
  function ingester(s: Setup): () => Promise<void> {
    let ingestedNano = '0';
    return async () => {
      const until = msToNano(s.clock.now() + 1);
      for (const event of await s.engine.eventsBetween(ingestedNano, until)) await s.deps.tracker.applyEvent(event);
      ingestedNano = String(BigInt(until) + 1n);
    };
  }

  /**
   * Four days of a runner: a pipeline with a new version every 5 h, each used every 30 min until
   * the next arrives and never again; three services used once a day. Then free space is short
   * by exactly the superseded versions' bytes. Returns the IDs by kind, and what the check removed.
   */
  async function fourDays(order: 'learned' | 'lru'): Promise<{ superseded: string[]; services: string[]; removed: Set<string>; s: Setup }> {
    const s = setup({ evictionOrder: order }, 500 * MB);
    const ingest = ingester(s);
    const versions: string[] = [];
    const services: string[] = [];
    const ends = T0 + 4 * DAY;
    for (let k = 0; k < 3; k += 1) services.push(s.engine.pull({ ref: `svc/db${k}:1`, layers: [layer(`svc${k}`, 50)] }));
    for (let step = 0; s.clock.now() < ends; step += 1) {
      // Every 30 min: the current version; every 5 h a new one; each service once a day, at hour 3 + k.
      if (step % 10 === 0) versions.push(s.engine.pull({ ref: `pipe/app:v${step / 10}`, layers: [layer(`app-v${step / 10}`, 10)] }));
      s.engine.run(`job-${step}`, `pipe/app:v${Math.floor(step / 10)}`);
      const hour = ((s.clock.now() - T0) % DAY) / HOUR;
      for (let k = 0; k < 3; k += 1) if (hour === 3 + k) s.engine.run(`svc-${step}-${k}`, `svc/db${k}:1`);
      await ingest();
      s.clock.advance(30 * MINUTE);
    }
    const superseded = versions.slice(0, -1);
    const free = (await s.engine.measureDisk('/data')).freeBytes;
    s.config = { ...s.config, lowFree: bytes(free / MB + 1), targetFree: { kind: 'bytes', bytes: free + superseded.length * 10 * MB } };
    await runCheck(s.deps, '/data', { lockWaitMs: 0 }, new AbortController().signal);
    const left = new Set(s.engine.imageIds());
    return { superseded, services, removed: new Set([...versions, ...services].filter((id) => !left.has(id))), s };
  }

  it('learns from this host that its old versions are never used again: they go, the services idle longer stay', async () => {
    const learned = await fourDays('learned');
    expect([...learned.removed].sort()).toEqual([...learned.superseded].sort());
    expect(learned.s.store.reuseModel()?.model?.gaps).toBeGreaterThan(100);
    expect(learned.s.log.lines.find((l) => l.message === 'reuse_model_learned')).toMatchObject({ usable: true });
    // Plain LRU on the same history takes a service idle since yesterday before recent old versions.
    const lru = await fourDays('lru');
    expect(lru.services.some((id) => lru.removed.has(id))).toBe(true);
  });

  it('tries to learn again an hour after a check found too little history, not six hours later', async () => {
    const s = setup({ evictionOrder: 'learned' });
    const ingest = ingester(s);
    const check = () => runCheck(s.deps, '/data', { lockWaitMs: 0 }, new AbortController().signal);
    await check();
    expect(s.store.reuseModel()).toEqual({ learnedMs: T0, model: null });
    // Three tools used every minute for 45 minutes: over a hundred gaps.
    for (let k = 0; k < 3; k += 1) s.engine.pull({ ref: `tool/t${k}:1`, layers: [layer(`t${k}`, 10)] });
    for (let step = 0; step < 45; step += 1) {
      for (let k = 0; k < 3; k += 1) s.engine.run(`job-${step}-${k}`, `tool/t${k}:1`);
      await ingest();
      s.clock.advance(MINUTE);
    }
    await check();
    expect(s.store.reuseModel()?.learnedMs).toBe(T0);
    s.clock.advance(16 * MINUTE);
    await check();
    expect(s.store.reuseModel()).toMatchObject({ learnedMs: T0 + HOUR + MINUTE });
    expect(s.store.reuseModel()?.model?.gaps).toBeGreaterThan(100);
  });
});
