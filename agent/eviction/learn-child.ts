// The child process of learn-process.ts: reads the window of history it is asked for from the
// state file (read-only), replays it, answers once and exits.
import { createLog } from '../log';
import { errorText } from '../errors';
import { readHistory } from '../state/store';
import { answerFromHistory, type LearnRequest } from './order-learner';

const statePath = process.argv[2] as string;
process.once('message', (request: LearnRequest) => {
  try {
    const { entries, images } = readHistory(statePath, request.sinceMs, createLog({ level: 'error', format: 'json', stream: process.stderr }));
    process.send?.(answerFromHistory(entries, images, request), () => process.exit(0));
  } catch (error) {
    process.stderr.write(`${errorText(error)}\n`);
    process.exit(1);
  }
});
