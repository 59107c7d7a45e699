// A thread of replay-threads.ts: keeps the job it is sent first and replays it under each
// contender it is sent after.
import { parentPort } from 'node:worker_threads';
import { contenderOf } from '../core/contenders';
import { replay } from '../core/replay';
import type { ReplayAnswer, ReplayJob, ReplayMessage } from './replay-threads';

let job: ReplayJob | null = null;
parentPort?.on('message', (message: ReplayMessage) => {
  if (message.kind === 'job') {
    job = message.job;
    return;
  }
  if (job === null) throw new Error('a replay was asked before its job was sent');
  const answer: ReplayAnswer = { index: message.index, outcome: replay(job.workload, job.capacityBytes, contenderOf(message.spec, job.settings)) };
  parentPort?.postMessage(answer);
});
