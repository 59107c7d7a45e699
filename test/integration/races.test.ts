// Jobs racing the evictor: while the agent evicts everything it may, jobs keep pulling images and
// starting containers from them. No job may fail because its image vanished between pull and run,
// save in the one window Docker leaves open (README, Guarantees): a pull that Docker logged after
// the agent's last re-check of that image and before the removal. Each failure must prove it fell
// there, by the event times in the agent's own log; any other is the agent's fault.
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { startAgent, type AgentProcess, type LogLine } from '../harness/cli';
import { DOCKER_CLI, dockerEnv, startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { run, waitFor } from '../harness/proc';
import { backdateUsage } from '../harness/state';
import { makeTestDir } from '../harness/tmp';

const MiB = 2 ** 20;
const HOUR = 3_600_000;
// A job's image is protected between its pull and its container only by min-age: ten minutes,
// which no loaded machine takes between two docker commands. The images start out an hour cold
// (moved back in the state), so the agent wants every one of them gone from its first check on.
const MIN_AGE = '10m';
const MIN_AGE_MS = 10 * 60_000;
/** Jobs keep coming until the agent has evicted this many images while they ran; then it fails. */
const DEADLINE_MS = 150_000;
const JOBS = 60;
const CONCURRENCY = 6;
const WAVES = 4;
const PER_WAVE = 4;

let engine: Engine;
let statePath: string;
let agent: AgentProcess | undefined;
const images: BuiltImage[] = [];

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 700 * MiB, label: 'races' });
  statePath = join(makeTestDir('races-state'), 'state.db');
  for (let i = 0; i < WAVES * PER_WAVE; i += 1) images.push(await buildImage({ name: `races/job${i}`, layerBytes: [4 * MiB] }));
});

afterAll(async () => {
  await agent?.stop();
  await engine?.stop();
  rmSync(dirname(statePath), { recursive: true, force: true });
});

interface Failure {
  text: string;
  image: BuiltImage;
  /** The image was gone when the job's container was created. */
  vanished: boolean;
  /** When the job's pull began and ended, on the host's clock (Docker's too). */
  pullStartMs: number;
  pullEndMs: number;
}

/**
 * One CI job: pull its image, then run a container from it without pulling again. Jobs come in
 * waves over working sets of images, as pipelines do, in the order the agent evicts them: jobs
 * pull images the agent is about to remove, is removing, or has just removed.
 */
async function job(index: number): Promise<Failure | null> {
  const wave = Math.min(WAVES - 1, Math.floor((index * WAVES) / JOBS));
  const image = images[wave * PER_WAVE + (index % PER_WAVE)] as BuiltImage;
  const env = dockerEnv(engine.host, engine.workDir);
  await sleep((index * 7919) % 400);
  const pullStartMs = Date.now();
  const pulled = await run(DOCKER_CLI, ['pull', '-q', image.ref], { env });
  const pullEndMs = Date.now();
  if (pulled.code !== 0) return { text: `job ${index}: pull failed: ${pulled.stderr.trim()}`, image, vanished: false, pullStartMs, pullEndMs };
  const ran = await run(DOCKER_CLI, ['run', '--rm', '--pull', 'never', '--network', 'none', image.ref], { env });
  return ran.code === 0 ? null : { text: `job ${index}: run failed: ${ran.stderr.trim()}`, image, vanished: ran.stderr.includes('No such image'), pullStartMs, pullEndMs };
}

const nano = (ms: number) => BigInt(ms) * 1_000_000n;

/** Docker's times of the pulls of `image` the agent heard, from its debug log. */
function pullsIn(logs: LogLine[], image: BuiltImage): bigint[] {
  return logs.filter((l) => l.message === 'docker_event' && l.action === 'pull' && l.actor === image.ref).map((l) => BigInt(String(l.timeNano)));
}

/**
 * Removals whose re-check had brought the records past a pull of the image made within min-age:
 * the agent knew the image was just pulled and removed it anyway. Judged on Docker's event times
 * alone (each eviction line says how far its re-check reached), so no timing decides it.
 */
function removalsAfterAKnownPull(logs: LogLine[]): string[] {
  const minAgeNs = nano(MIN_AGE_MS);
  return logs
    .filter((l) => l.message === 'eviction')
    .filter((l) => {
      const image = images.find((i) => i.id === l.imageId);
      if (image === undefined || l.checkedThroughNano === null) return true;
      const through = BigInt(String(l.checkedThroughNano));
      return pullsIn(logs, image).some((p) => p <= through && p > through - minAgeNs);
    })
    .map((l) => JSON.stringify(l));
}

test(`${JOBS} jobs, ${CONCURRENCY} at a time, under constant eviction: none fails but in the one window Docker leaves`, async () => {
  const tracker = startAgent(['--docker-host', engine.host, '--state', statePath, '--low-free', '1%', '--target-free', '2%', '--log-level', 'debug']);
  try {
    await tracker.waitForLog('docker_events_connected');
    for (const image of images) await engine.docker(['pull', '-q', image.ref]);
    const pulls = () => tracker.logs.filter((l) => l.message === 'docker_event' && l.action === 'pull').length;
    await waitFor('every pull recorded', () => (pulls() === images.length ? true : undefined));
  } finally {
    expect(await tracker.stop()).toBe(0);
  }
  backdateUsage(statePath, images.map((i) => i.id), HOUR);

  // Always under pressure: every image not in use and not wanted within min-age is evicted at once.
  // The eviction order is the pull order, which is the order the jobs' waves come in: the agent
  // removes the very images the first jobs are pulling.
  agent = startAgent(['--docker-host', engine.host, '--state', statePath, '--interval', '1s', '--min-age', MIN_AGE, '--low-free', '98%', '--target-free', '99%', '--log-level', 'debug']);
  await agent.waitForLog('docker_events_connected');
  const evictions = () => (agent as AgentProcess).logs.filter((l) => l.message === 'eviction').length;
  const deadline = Date.now() + DEADLINE_MS;
  const failures: Failure[] = [];
  let next = 0;
  // At least JOBS jobs, and more until the agent has evicted PER_WAVE images meanwhile: the race is
  // then real by construction, however fast either side runs.
  const more = () => next < JOBS || evictions() < PER_WAVE;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (more() && Date.now() < deadline) {
        const failure = await job((next += 1) - 1);
        if (failure) failures.push(failure);
      }
    }),
  );
  expect(evictions()).toBeGreaterThanOrEqual(PER_WAVE);
  expect(failures.filter((f) => !f.vanished).map((f) => f.text)).toEqual([]);
  // A job whose image vanished after its pull: its pull reaches the agent's log from the stream
  // soon after. Then no removal may have come after a re-check that already knew of it: what is
  // left is the one window (README, Guarantees), a pull Docker logged between the re-check and the
  // removal.
  const running = agent;
  for (const f of failures) {
    await waitFor(`the pull of ${f.image.ref} by: ${f.text}`, () => (pullsIn(running.logs, f.image).some((p) => p >= nano(f.pullStartMs) && p <= nano(f.pullEndMs + 1)) ? true : undefined), 30_000);
  }
  expect(removalsAfterAKnownPull(running.logs)).toEqual([]);
  expect(await agent.stop()).toBe(0);
  agent = undefined;
});
