// Wall-clock jumps under a running agent: its clock is moved with libfaketime (Docker's is not),
// two days forwards and one day backwards. Recently used images must stay; older ones must still go.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent, type AgentProcess } from '../harness/cli';
import { DOCKER_CLI, dockerEnv, startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { run } from '../harness/proc';
import { backdateUsage } from '../harness/state';
import { fileTestDir } from '../harness/tmp';

const MiB = 2 ** 20;
const LAYER = 32 * MiB;
// Margins no slow machine can cross: the recent image is used at most a few seconds before the
// eviction it must survive, the old one an hour before (moved back in the state, not waited for).
const MIN_AGE = '10m';
const HOUR = 3_600_000;

let engine: Engine;
const dir = fileTestDir('clock');
const libfaketime = execFileSync('dpkg', ['-L', 'libfaketime'], { encoding: 'utf8' })
  .split('\n')
  .find((path) => path.endsWith('/libfaketime.so.1'));

beforeAll(async () => {
  if (libfaketime === undefined) throw new Error('libfaketime.so.1 not found: install the libfaketime package (test/run.sh does)');
  engine = await startEngine({ diskBytes: 600 * MiB, label: 'clock' });
});

afterAll(async () => {
  await engine?.stop();
});

async function present(image: BuiltImage): Promise<boolean> {
  return (await run(DOCKER_CLI, ['image', 'inspect', image.id], { env: dockerEnv(engine.host, engine.workDir) })).code === 0;
}

async function freeBytes(): Promise<number> {
  const s = await statfs(engine.dataRoot);
  return s.bavail * s.bsize;
}

/** Pulls and runs an image (container removed afterwards, as CI runners do). */
async function use(image: BuiltImage): Promise<void> {
  await engine.docker(['pull', '-q', image.ref]);
  await engine.docker(['run', '--rm', '--network', 'none', image.ref]);
}

async function jumpScenario(label: string, offset: string): Promise<{ agent: AgentProcess; old: BuiltImage; recent: BuiltImage }> {
  const old = await buildImage({ name: `clock/${label}-old`, layerBytes: [LAYER] });
  const recent = await buildImage({ name: `clock/${label}-recent`, layerBytes: [LAYER] });
  const clockFile = join(dir, `${label}.faketime`);
  const config = join(dir, `${label}.yaml`);
  const state = join(dir, `${label}.db`);
  writeFileSync(clockFile, '+0\n');
  writeFileSync(config, 'low-free: 1%\ntarget-free: 2%\n');
  const args = ['--config', config, '--docker-host', engine.host, '--state', state, '--interval', '1s', '--min-age', MIN_AGE, '--log-level', 'debug'];
  // A container's start is the last event of a use the agent tracks: once applied, the use is recorded.
  const used = (agent: AgentProcess, mark: number) => agent.waitForLogAfter(mark, 'docker_event', (l) => l.type === 'container' && l.action === 'start');

  // The old image's use is recorded by an earlier agent, then moved an hour back.
  const earlier = startAgent(args);
  await earlier.waitForLog('docker_events_connected');
  await use(old);
  await used(earlier, 0);
  expect(await earlier.stop()).toBe(0);
  backdateUsage(state, [old.id], HOUR);

  const agent = startAgent(args, [], { LD_PRELOAD: libfaketime, FAKETIME_TIMESTAMP_FILE: clockFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' });
  await agent.waitForLog('docker_events_connected');
  const beforeUse = agent.logs.length;
  await use(recent);
  await used(agent, beforeUse);

  writeFileSync(clockFile, `${offset}\n`);
  await agent.waitForLog('clock_jump_absorbed');
  // Pressure that only both images together could relieve: without the fix, both would go.
  const free = await freeBytes();
  writeFileSync(config, `low-free: ${Math.round(free + 2 * LAYER)}B\ntarget-free: ${Math.round(free + 3 * LAYER)}B\n`);
  const mark = agent.logs.length;
  agent.child.kill('SIGHUP');
  await agent.waitForLogAfter(mark, 'config_reloaded');
  await agent.waitForLogAfter(mark, 'eviction_run');
  return { agent, old, recent };
}

/** Runs a jump and checks the outcome: the older image evicted, the recent one kept. */
async function expectJumpHandled(label: string, offset: string, direction: string, minSkewMs: number): Promise<void> {
  const { agent, old, recent } = await jumpScenario(label, offset);
  try {
    const jump = agent.logs.find((l) => l.message === 'clock_jump');
    expect(jump).toMatchObject({ direction });
    expect(Math.abs(Number(jump?.skewMs))).toBeGreaterThan(minSkewMs);
    expect(await present(old)).toBe(false);
    expect(await present(recent)).toBe(true);
    // Leftovers of an earlier test may be evicted too; what matters is which of this test's images go.
    const evicted = agent.logs.filter((l) => l.message === 'eviction').map((l) => l.imageId);
    expect(evicted).toContain(old.id);
    expect(evicted).not.toContain(recent.id);
  } finally {
    expect(await agent.stop()).toBe(0);
  }
}

test('two days forwards: the image used seconds ago is still too young; the older one is evicted', () =>
  expectJumpHandled('fwd', '+2d', 'forwards', 2 * 86_400_000 - 10_000));

test('a day backwards: images do not all turn too young (the disk would fill); the older one is evicted', () =>
  expectJumpHandled('back', '-1d', 'backwards', 86_400_000 - 10_000));
