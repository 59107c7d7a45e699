// Usage tracking on a real engine: pulls and uses recorded live, events replayed after a restart,
// and a tag moved by a pull. Every image reaches the engine under test by a real pull.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cli, startAgent, type AgentProcess } from '../harness/cli';
import { startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { waitFor } from '../harness/proc';
import { eventsAppliedFrom } from '../harness/state';
import { makeTestDir } from '../harness/tmp';

interface ImageJson {
  id: string;
  tags: string[];
  dangling: boolean;
  lastPulledAt: string | null;
  lastUsedAt: string | null;
  firstSeenAt: string;
  useCount: number;
}

let engine: Engine;
let statePath: string;
let agent: AgentProcess | undefined;
const images: Record<'a' | 'b' | 'c', BuiltImage> = {} as Record<'a' | 'b' | 'c', BuiltImage>;

async function status(): Promise<ImageJson[]> {
  const result = await cli(['--docker-host', engine.host, '--state', statePath, 'status', '--json']);
  if (result.code !== 0) throw new Error(`status exited ${result.code}: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { images: ImageJson[] }).images;
}

async function imageById(id: string): Promise<ImageJson | undefined> {
  return (await status()).find((i) => i.id === id);
}

function ms(iso: string | null): number {
  if (iso === null) throw new Error('expected a timestamp, got null');
  return Date.parse(iso);
}

type Span = readonly [fromMs: number, toMs: number];

/** Runs a docker command and returns the wall-clock span it took: the events it causes fall inside. */
async function during(args: string[]): Promise<Span> {
  const fromMs = Date.now();
  await engine.docker(args);
  return [fromMs, Date.now()];
}

/** The recorded time lies in the span (1 s either side for rounding), however long the command took. */
function expectWithin(iso: string | null, [fromMs, toMs]: Span): void {
  expect(ms(iso)).toBeGreaterThanOrEqual(fromMs - 1000);
  expect(ms(iso)).toBeLessThanOrEqual(toMs + 1000);
}

async function startTracking(): Promise<AgentProcess> {
  const started = startAgent(['--docker-host', engine.host, '--state', statePath, '--interval', '1s']);
  await started.waitForLog('docker_events_connected');
  return started;
}

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 1024 * 2 ** 20, label: 'tracking' });
  statePath = join(makeTestDir('state'), 'state.db');
  images.a = await buildImage({ name: 'tracking/a', layerBytes: [2 * 2 ** 20] });
  images.b = await buildImage({ name: 'tracking/b', layerBytes: [3 * 2 ** 20] });
  images.c = await buildImage({ name: 'tracking/c', layerBytes: [1 * 2 ** 20] });
});

afterAll(async () => {
  await agent?.stop();
  await engine?.stop();
  rmSync(dirname(statePath), { recursive: true, force: true });
});

describe('usage tracking from Docker events', () => {
  let pulledA: Span;
  let pulledB: Span;
  let usedA: Span;
  let before: Map<string, ImageJson>;

  test('records pulls and uses within seconds, and no use for an image never run', async () => {
    agent = await startTracking();
    pulledA = await during(['pull', '-q', images.a.ref]);
    pulledB = await during(['pull', '-q', images.b.ref]);
    usedA = await during(['run', '--rm', '--network', 'none', images.a.ref]);

    // Events, not a reconcile (every second here), recorded the pulls and the use.
    await eventsAppliedFrom(statePath, usedA[0]);
    const a = await waitFor('a use recorded', async () => {
      const found = await imageById(images.a.id);
      return found?.lastUsedAt ? found : undefined;
    });
    const b = await waitFor('b tracked', () => imageById(images.b.id));
    expectWithin(a.lastPulledAt, pulledA);
    expectWithin(a.lastUsedAt, usedA);
    expect(a.useCount).toBe(1);
    expect(a.tags).toEqual([images.a.ref]);
    expectWithin(b.lastPulledAt, pulledB);
    expect(b.lastUsedAt).toBeNull();
    expect(b.useCount).toBe(0);
    before = new Map((await status()).map((i) => [i.id, i]));
  });

  test('replays the pull and use it missed while stopped; earlier timestamps stay', async () => {
    expect(await agent?.stop()).toBe(0);
    agent = undefined;
    const pulledC = await during(['pull', '-q', images.c.ref]);
    // --rm: the container is gone before the agent returns, so only the replayed events can tell.
    const usedB = await during(['run', '--rm', '--network', 'none', images.b.ref]);

    agent = await startTracking();
    const b = await waitFor('b use replayed', async () => {
      const found = await imageById(images.b.id);
      return found?.lastUsedAt ? found : undefined;
    });
    const c = await waitFor('c tracked', () => imageById(images.c.id));
    expectWithin(b.lastUsedAt, usedB);
    expect(b.useCount).toBe(1);
    expectWithin(c.lastPulledAt, pulledC);
    const a = await imageById(images.a.id);
    expect(a).toEqual(before.get(images.a.id));
    expect(b.lastPulledAt).toBe(before.get(images.b.id)?.lastPulledAt);
    expect(b.firstSeenAt).toBe(before.get(images.b.id)?.firstSeenAt);
  });

  test('a pull that moves a tag: the new ID gets the pull time, the old ID is dangling', async () => {
    const v1 = await buildImage({ name: 'tracking/moving', layerBytes: [2 ** 20] });
    await engine.docker(['pull', '-q', v1.ref]);
    await waitFor('v1 tracked', () => imageById(v1.id));
    const v2 = await buildImage({ name: 'tracking/moving', layerBytes: [2 ** 20] });
    expect(v2.id).not.toBe(v1.id);
    expect(v2.ref).toBe(v1.ref);

    const pulledV2 = await during(['pull', '-q', v2.ref]);
    // Its pull event: a reconcile seeing v2 first dates it by an earlier pass.
    const fresh = await waitFor('v2 dated by its pull event', async () => {
      const found = await imageById(v2.id);
      return found?.lastPulledAt && ms(found.lastPulledAt) >= pulledV2[0] - 1000 ? found : undefined;
    });
    const old = await waitFor('v1 dangling', async () => {
      const found = await imageById(v1.id);
      return found?.dangling ? found : undefined;
    });
    expect(fresh.tags).toEqual([v2.ref]);
    expectWithin(fresh.lastPulledAt, pulledV2);
    expect(old.tags).toEqual([]);
    expect(ms(old.lastPulledAt)).toBeLessThan(pulledV2[0]);
  });

  test('Docker restarts under the agent: disconnect logged, reconnect replays, no duplicate counts', async () => {
    const before = new Map((await status()).map((i) => [i.id, i]));
    const mark = agent!.logs.length;
    await engine.restart();
    // Right away, likely before the agent's back-off lets it resubscribe: only the replay from
    // the cursor can then deliver this use.
    const usedC = await during(['run', '--rm', '--network', 'none', images.c.ref]);
    await agent!.waitForLog('docker_disconnected', (l) => agent!.logs.indexOf(l) >= mark);
    await agent!.waitForLog('docker_reconnected', (l) => agent!.logs.indexOf(l) >= mark);
    // The replayed start, not the reconnect's reconcile (which may see the container), counts the use.
    await eventsAppliedFrom(statePath, usedC[0]);
    const c = await waitFor('c use recorded after the restart', async () => {
      const found = await imageById(images.c.id);
      return found?.lastUsedAt ? found : undefined;
    });
    expect(c.useCount).toBe((before.get(images.c.id)?.useCount ?? 0) + 1);
    expectWithin(c.lastUsedAt, usedC);
    for (const id of [images.a.id, images.b.id]) expect((await imageById(id))?.useCount).toBe(before.get(id)?.useCount);
    expect(agent!.child.exitCode).toBeNull();
  });
});
