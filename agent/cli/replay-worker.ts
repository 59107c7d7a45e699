// A thread of replay-threads.ts: holds the workload it was started with and replays it under
// each contender it is sent.
import { parentPort, workerData } from 'node:worker_threads';
import { contenderOf } from '../core/contenders';
import { replay } from '../core/replay';
import type { ReplayAnswer, ReplayJob, ReplayRequest } from './replay-threads';

const job = workerData as ReplayJob;
parentPort?.on('message', ({ index, spec }: ReplayRequest) => {
  const answer: ReplayAnswer = { index, outcome: replay(job.workload, job.capacityBytes, contenderOf(spec, job.settings)) };
  parentPort?.postMessage(answer);
});
