// `auto`'s replays in a child process: the agent runs for months, and a week of history with its
// replays takes 20-30 MiB that V8 and malloc keep after it is freed (a worker thread kept it too:
// same process). A child's memory goes back to the system when it exits, every six hours.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { HistoryReplayer, LearnAnswer, LearnRequest } from './order-learner';

/** Longer than any replay of a week seen (a few seconds on a busy runner); a hung child is killed. */
const CHILD_TIMEOUT_MS = 10 * 60_000;

/** Replays in `learn-child.js`, which reads the history from the state file at `statePath`. */
export function replayInChild(statePath: string): HistoryReplayer {
  const replay = (request: LearnRequest, signal?: AbortSignal) =>
    new Promise<LearnAnswer>((resolve, reject) => {
      const child = fork(join(__dirname, 'learn-child.js'), [statePath], {
        // Maps (the reuse model's tables) and nested data cross as they are.
        serialization: 'advanced',
        // The unit's NODE_OPTIONS shrinks V8's young generation for the long-lived agent; this
        // short-lived child allocates a whole week's replays: V8's default is faster there.
        execArgv: ['--max-semi-space-size=16'],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        timeout: CHILD_TIMEOUT_MS,
        ...(signal === undefined ? {} : { signal }),
      });
      let answer: LearnAnswer | null = null;
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
      });
      child.once('message', (message: LearnAnswer) => {
        answer = message;
      });
      child.once('error', reject);
      child.once('exit', (code, killedBy) => {
        if (answer !== null && code === 0) return resolve(answer);
        const why = stderr.trim().split('\n').pop() ?? '';
        reject(new Error(`the replay process ended (${killedBy ?? `exit ${code}`}) without an answer${why === '' ? '' : `: ${why}`}`));
      });
      child.send(request);
    });
  return { where: 'a child process', replay };
}
