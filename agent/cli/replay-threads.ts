// Replays one workload under several contenders at once, one worker thread a core: `simulate`
// replays ten of them over a month of a busy runner, a second or two each, and they share
// nothing. A one-shot command, so the threads' memory goes with the process.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { contenderOf, type ContenderSpec, type PlannerSettings } from '../core/contenders';
import { replay, type ReplayOutcome, type Workload } from '../core/replay';

export interface ReplayJob {
  workload: Workload;
  capacityBytes: number;
  settings: Omit<PlannerSettings, 'order'>;
}

/** What a worker is sent for each replay, and answers. */
export type ReplayRequest = { index: number; spec: ContenderSpec };
export type ReplayAnswer = { index: number; outcome: ReplayOutcome };

/** Replays `specs` in this thread, in order. */
export function replayHere(job: ReplayJob, specs: ContenderSpec[]): ReplayOutcome[] {
  return specs.map((spec) => replay(job.workload, job.capacityBytes, contenderOf(spec, job.settings)));
}

/**
 * Replays `specs` over up to `threads` workers, each taking the next replay when it finishes one
 * (their costs differ twofold); the outcomes come back in the specs' order. One thread: here.
 */
export async function replayInThreads(job: ReplayJob, specs: ContenderSpec[], threads = availableParallelism()): Promise<ReplayOutcome[]> {
  const count = Math.min(threads, specs.length);
  if (count <= 1) return replayHere(job, specs);
  const outcomes: Array<ReplayOutcome | undefined> = new Array(specs.length);
  let next = 0;
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: count }, () => {
        // The workload goes to each worker once, when it starts.
        const worker = new Worker(join(__dirname, 'replay-worker.js'), { workerData: job });
        workers.push(worker);
        return new Promise<void>((resolve, reject) => {
          const give = () => {
            if (next >= specs.length) return resolve();
            const request: ReplayRequest = { index: next, spec: specs[next] as ContenderSpec };
            next += 1;
            worker.postMessage(request);
          };
          worker.on('message', (answer: ReplayAnswer) => {
            outcomes[answer.index] = answer.outcome;
            give();
          });
          worker.once('error', reject);
          worker.once('exit', (code) => reject(new Error(`a replay thread exited with code ${code} before its work was done`)));
          give();
        });
      }),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return outcomes as ReplayOutcome[];
}
