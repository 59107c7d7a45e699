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

/** What a worker is sent (the job once, then one replay at a time), and answers. */
export type ReplayMessage = { kind: 'job'; job: ReplayJob } | { kind: 'replay'; index: number; spec: ContenderSpec };
export type ReplayAnswer = { index: number; outcome: ReplayOutcome };

/** Replays `specs` in this thread, in order. */
export function replayHere(job: ReplayJob, specs: ContenderSpec[]): ReplayOutcome[] {
  return specs.map((spec) => replay(job.workload, job.capacityBytes, contenderOf(spec, job.settings)));
}

/** Threads started ahead of their work: they load their modules while the caller reads the history. */
export interface ReplayPool {
  /**
   * Replays `specs`, each thread taking the next when it finishes one, in `dispatch` order (the
   * costliest first, so that no thread is left with it at the end); outcomes in the specs' order.
   */
  run(job: ReplayJob, specs: ContenderSpec[], dispatch?: number[]): Promise<ReplayOutcome[]>;
  close(): Promise<void>;
}

/** Up to `threads` workers (one a core); with one, replays run here. `close` must follow, whatever happens. */
export function startReplayPool(threads = availableParallelism(), most = Infinity): ReplayPool {
  const count = Math.min(threads, most);
  const workers = count <= 1 ? [] : Array.from({ length: count }, () => new Worker(join(__dirname, 'replay-worker.js')));
  return {
    run: async (job, specs, dispatch = specs.map((_, i) => i)) => {
      if (workers.length === 0) return replayHere(job, specs);
      const outcomes: Array<ReplayOutcome | undefined> = new Array(specs.length);
      let next = 0;
      await Promise.all(
        workers.map((worker) => {
          worker.postMessage({ kind: 'job', job } satisfies ReplayMessage);
          return new Promise<void>((resolve, reject) => {
            const give = () => {
              if (next >= dispatch.length) return resolve();
              const index = dispatch[next] as number;
              worker.postMessage({ kind: 'replay', index, spec: specs[index] as ContenderSpec } satisfies ReplayMessage);
              next += 1;
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
      return outcomes as ReplayOutcome[];
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
