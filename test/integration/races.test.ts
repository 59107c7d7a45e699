// Jobs racing the evictor: while the agent evicts everything it may, jobs keep pulling images and
// starting containers from them. No job may fail because its image vanished between pull and run.
import { mkdtempSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { startAgent, type AgentProcess } from '../harness/cli';
import { DOCKER_CLI, dockerEnv, startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { run } from '../harness/proc';

const MiB = 2 ** 20;
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
  statePath = join(mkdtempSync('/tmp/ie-races-state-'), 'state.db');
  for (let i = 0; i < WAVES * PER_WAVE; i += 1) images.push(await buildImage({ name: `races/job${i}`, layerBytes: [4 * MiB] }));
});

afterAll(async () => {
  await agent?.stop();
  await engine?.stop();
  rmSync(dirname(statePath), { recursive: true, force: true });
});

/**
 * One CI job: pull its image, then run a container from it without pulling again. Jobs come in
 * waves over working sets of images, as pipelines do: while a wave runs, the images of the waves
 * before it go cold and are evicted around the running jobs.
 */
async function job(index: number): Promise<string | null> {
  const wave = Math.min(WAVES - 1, Math.floor((index * WAVES) / JOBS));
  const image = images[wave * PER_WAVE + (index % PER_WAVE)] as BuiltImage;
  const env = dockerEnv(engine.host, engine.workDir);
  await sleep((index * 7919) % 400);
  const pulled = await run(DOCKER_CLI, ['pull', '-q', image.ref], { env });
  if (pulled.code !== 0) return `job ${index}: pull failed: ${pulled.stderr.trim()}`;
  const ran = await run(DOCKER_CLI, ['run', '--rm', '--pull', 'never', '--network', 'none', image.ref], { env });
  return ran.code === 0 ? null : `job ${index}: run failed: ${ran.stderr.trim()}`;
}

test(`${JOBS} jobs, ${CONCURRENCY} at a time, under constant eviction: none fails`, async () => {
  // Always under pressure: every image not in use and not wanted within min-age is evicted at once.
  agent = startAgent(['--docker-host', engine.host, '--state', statePath, '--interval', '1s', '--min-age', '2s', '--low-free', '98%', '--target-free', '99%']);
  await agent.waitForLog('docker_events_connected');
  const failures: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < JOBS) {
        const failure = await job((next += 1) - 1);
        if (failure) failures.push(failure);
      }
    }),
  );
  const lastJobDoneMs = Date.now();
  const evictions = agent.logs.filter((l) => l.message === 'eviction' && Date.parse(String(l.timestamp)) < lastJobDoneMs).length;
  expect(failures).toEqual([]);
  // The race was real: the agent removed images while jobs were still running.
  expect(evictions).toBeGreaterThanOrEqual(PER_WAVE);
  expect(await agent.stop()).toBe(0);
  agent = undefined;
});
