// The usage history on a real engine: the agent records every pull and use, `simulate` replays
// them through the planner under every order, bounded history says what it lacks, and `auto`
// shows its choice in status. Every image reaches the engine by a real pull.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cli, startAgent } from '../harness/cli';
import { startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { historyRows, repeatedHistory, spreadHistory } from '../harness/state';
import { waitFor } from '../harness/proc';
import { makeTestDir } from '../harness/tmp';

const MiB = 2 ** 20;
const MINUTE = 60_000;

interface Contender {
  name: string;
  order: string | null;
  downloadedBytes: number;
  redownloadedBytes: number;
  compulsoryBytes: number;
  fullDiskJobs: number;
}

interface Simulation {
  needs: number;
  images: number;
  diskBytes: number;
  imageCapacityBytes: number;
  activeOrder: string;
  contenders: Contender[];
}

let engine: Engine;
let statePath: string;
const hot: BuiltImage[] = [];
const tools: BuiltImage[] = [];
/** Per image ID, one entry per job that ran it: when its pull began and ended (ms), Docker's pull event inside. */
const pullWindows = new Map<string, Array<[number, number]>>();

async function job(image: BuiltImage): Promise<void> {
  const fromMs = Date.now();
  await engine.docker(['pull', '-q', image.ref]);
  pullWindows.set(image.id, [...(pullWindows.get(image.id) ?? []), [fromMs, Date.now()]]);
  await engine.docker(['run', '--rm', '--network', 'none', image.ref]);
}

async function simulate(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return cli(['--docker-host', engine.host, '--state', statePath, '--min-age', '1m', 'simulate', ...args]);
}

async function simulateJson(args: string[]): Promise<Simulation> {
  const ran = await simulate([...args, '--json']);
  if (ran.code !== 0) throw new Error(`simulate exited ${ran.code}: ${ran.stderr}`);
  return JSON.parse(ran.stdout) as Simulation;
}

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 1024 * MiB, label: 'history' });
  statePath = join(makeTestDir('state'), 'state.db');
  for (let i = 0; i < 3; i += 1) hot.push(await buildImage({ name: `history/hot${i}`, layerBytes: [4 * MiB] }));
  for (let i = 0; i < 6; i += 1) tools.push(await buildImage({ name: `history/tool${i}`, layerBytes: [4 * MiB] }));
});

afterAll(async () => {
  await engine?.stop();
  rmSync(dirname(statePath), { recursive: true, force: true });
});

describe('usage history and simulate', () => {
  it('simulate without any history says so and exits 3', async () => {
    const ran = await simulate([]);
    expect(ran.code).toBe(3);
    expect(ran.stderr).toMatch(/simulate: no usage history in .*state\.db: the agent records pulls and uses while `image-evictor run` is active/);
  });

  it('the agent records a pull and a use per job', async () => {
    const agent = startAgent(['--docker-host', engine.host, '--state', statePath], ['--interval', '1h']);
    await agent.waitForLog('docker_events_connected');
    // Three hot images in turn, a one-off tool between: 18 jobs.
    for (let round = 0; round < 6; round += 1) {
      await job(hot[round % 3] as BuiltImage);
      await job(tools[round] as BuiltImage);
      await job(hot[(round + 1) % 3] as BuiltImage);
    }
    // Every run's start event applied: each image has as many use entries as runs, at least.
    const usesOf = (rows: ReturnType<typeof historyRows>, id: string) => rows.filter((r) => r.image_id === id && r.kind === 'use').length;
    await waitFor('a use entry per run', () => {
      const rows = historyRows(statePath);
      return [...pullWindows].every(([id, windows]) => usesOf(rows, id) >= windows.length) ? true : undefined;
    });
    await agent.stop();
    const rows = historyRows(statePath);
    for (const image of [...hot, ...tools]) {
      const mine = rows.filter((r) => r.image_id === image.id);
      // Every job pulls (as runners with pull policy "always"): the history holds each pull once,
      // at its event's time, which lies inside the job's pull: the i-th entry in the i-th pull.
      // (A reconcile that saw the image before its event once added one at its build time.)
      const windows = pullWindows.get(image.id) ?? [];
      const slots = mine.filter((r) => r.kind === 'pull').map((r) => windows.findIndex(([fromMs, toMs]) => r.at_ms >= fromMs && r.at_ms <= toMs));
      expect([image.ref, slots]).toEqual([image.ref, windows.map((_, i) => i)]);
      // A create and a start each move "last used"; at least one entry per run.
      expect(mine.filter((r) => r.kind === 'use').length).toBeGreaterThanOrEqual(windows.length);
    }
  });

  it('replays the history under every order: a roomy disk downloads each layer once, a tight one re-downloads', async () => {
    // As if the jobs had come every 10 minutes over the last hours.
    const entries = spreadHistory(statePath, 10 * MINUTE, MINUTE);
    const roomy = await simulateJson(['--since', '7d']);
    expect(roomy.images).toBe(9);
    expect(roomy.needs).toBeGreaterThanOrEqual(18);
    expect(roomy.needs).toBeLessThanOrEqual(entries);
    expect(roomy.activeOrder).toBe('learned');
    expect(roomy.contenders.map((c) => c.order).filter((o) => o !== null)).toEqual(['lru', 'superseded', 'reuse', 'superseded-reuse', 'size', 'reuse-interval', 'learned']);
    const compulsory = (roomy.contenders[0] as Contender).compulsoryBytes;
    // Nine 4 MiB layers of random bytes and the busybox layer they share.
    expect(compulsory).toBeGreaterThanOrEqual(36 * MiB);
    expect(compulsory).toBeLessThan(36 * MiB + 4 * MiB);
    for (const c of roomy.contenders) expect([c.name, c.downloadedBytes, c.redownloadedBytes]).toEqual([c.name, compulsory, 0]);

    // Room for two images above a 9 MiB low threshold: three hot images cannot all stay.
    const otherBytes = roomy.diskBytes - roomy.imageCapacityBytes;
    const tight = await simulateJson(['--since', '7d', '--disk', `${otherBytes + 22 * MiB}B`, '--low-free', '9MiB', '--target-free', '10MiB']);
    expect(tight.imageCapacityBytes).toBe(22 * MiB);
    const byName = new Map(tight.contenders.map((c) => [c.name, c]));
    const optimum = byName.get('offline optimum (Belady)') as Contender;
    expect((byName.get('plain LRU') as Contender).redownloadedBytes).toBeGreaterThan(0);
    for (const c of tight.contenders) expect(c.downloadedBytes).toBeGreaterThanOrEqual(optimum.downloadedBytes);

    const text = await simulate(['--since', '7d']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^\* image-evictor \(learned\)/m);
    expect(text.stdout).toContain('offline optimum (Belady)');
  });

  it('auto keeps its order on too little history, and status says so', async () => {
    const status = await cli(['--docker-host', engine.host, '--state', statePath, 'status', '--json']);
    expect(status.code).toBe(0);
    const order = (JSON.parse(status.stdout) as { evictionOrder: { setting: string; active: string; historyEvents: number; choice: { reason: string } | null } }).evictionOrder;
    expect(order.setting).toBe('auto');
    expect(order.active).toBe('learned');
    expect(order.historyEvents).toBeGreaterThanOrEqual(27);
    expect(order.choice?.reason).toMatch(/^too little history to choose \(\d+ needs in the window, 50 wanted\)$/);
    const text = await cli(['--docker-host', engine.host, '--state', statePath, 'status']);
    expect(text.stdout).toMatch(/^eviction order: learned \(auto, since .* ago: too little history to choose/m);
  });

  /** PIDs of the live processes whose parent is `pid`. */
  function childrenOf(pid: number): number[] {
    return readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((name) => {
        try {
          // The parent PID is the 2nd field after the command in parentheses.
          return Number(readFileSync(`/proc/${name}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]) === pid;
        } catch {
          return false; // gone since the listing
        }
      })
      .map(Number);
  }

  it('auto chooses from a recorded week: the replay of each candidate is logged, kept in the state and shown by status', async () => {
    // The 18 jobs recorded above, run four times over, 10 minutes apart: enough needs to choose.
    const copy = join(dirname(statePath), 'auto.db');
    const entries = repeatedHistory(statePath, copy, 4, 10 * MINUTE, MINUTE);
    const agent = startAgent(['--docker-host', engine.host, '--state', copy], ['--interval', '1h']);
    let chose;
    try {
      chose = await waitFor('auto\'s choice', () => agent.logs.find((l) => l.message.startsWith('eviction_order_')));
      // The replays ran in a child (its memory goes with it), which had exited before the choice was logged.
      expect(chose.replayedIn).toBe('a child process');
      expect(childrenOf(agent.child.pid as number)).toEqual([]);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
    const learned = agent.logs.find((l) => l.message === 'reuse_model_learned');
    expect(['eviction_order_kept', 'eviction_order_switched']).toContain(chose.message);
    expect(Number(chose.jobs)).toBeGreaterThanOrEqual(50);
    expect(Number(chose.jobs)).toBeLessThanOrEqual(entries);
    const downloaded = chose.downloadedBytes as Record<string, number>;
    expect(Object.keys(downloaded).sort()).toEqual(['learned', 'lru', 'reuse-interval']);
    // Nine 4 MiB images on a roomy disk: each candidate downloads each layer once.
    for (const bytes of Object.values(downloaded)) expect(bytes).toBeGreaterThanOrEqual(36 * MiB);
    expect(learned).toMatchObject({ needs: chose.jobs, usable: true });

    const status = await cli(['--docker-host', engine.host, '--state', copy, 'status', '--json']);
    const order = (JSON.parse(status.stdout) as { evictionOrder: { active: string; choice: { reason: string; jobs: number; scores: unknown[] } | null } }).evictionOrder;
    expect(order.active).toBe(chose.order);
    expect(order.choice).toMatchObject({ reason: chose.reason, jobs: chose.jobs });
    expect(order.choice?.scores).toHaveLength(3);
  });

  it('history past its window is compacted, and simulate names what it lost', async () => {
    // The history ends a minute ago, 10 minutes a step: a 2 h window drops the older entries.
    const before = historyRows(statePath).length;
    const agent = startAgent(['--docker-host', engine.host, '--state', statePath, '--history', '2h'], ['--interval', '1h']);
    const compacted = await agent.waitForLog('history_compacted');
    await agent.stop();
    expect(Number(compacted.events)).toBeGreaterThan(0);
    expect(historyRows(statePath).length).toBeLessThan(before);
    const ran = await simulate(['--history', '2h', '--since', '7d']);
    expect(ran.code).toBe(3);
    expect(ran.stderr).toMatch(/simulate: history before \d{4}-\d\d-\d\dT\S+ was compacted \(history: 2h, history-max-events: 1000000\); use --since \d+[mhd] or less$/m);
    expect((await simulate(['--history', '2h', '--since', '90m'])).code).toBe(0);
  });

  it('bad input: a bad --since or --disk, an unknown order, exit 2 naming it', async () => {
    const since = await simulate(['--since', '0s']);
    expect([since.code, since.stderr.trim()]).toEqual([2, 'image-evictor: config error: --since: must be more than 0, e.g. 7d']);
    const disk = await simulate(['--disk', '10%']);
    expect([disk.code, disk.stderr.trim()]).toEqual([2, "image-evictor: config error: --disk: '10%' must be a size such as 200GB, not a percentage"]);
    const file = join(dirname(statePath), 'bad-order.yaml');
    writeFileSync(file, 'eviction-order: newest\n');
    const order = await cli(['--config', file, '--docker-host', engine.host, '--state', statePath, 'status']);
    expect(order.code).toBe(2);
    expect(order.stderr).toContain("key 'eviction-order': unknown order 'newest'; valid: auto, lru, superseded, reuse, superseded-reuse, size, reuse-interval, learned");
    const flag = await cli(['--docker-host', engine.host, '--eviction-order', 'newest', 'status']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('Allowed choices are auto, lru');
  });
});
