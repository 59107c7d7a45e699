// `run`: the long-running agent, stopped cleanly by SIGTERM or SIGINT.
import { measureDisk } from '../disk/disk';
import { runAgent } from '../service/agent';
import type { CommandContext } from './context';

/** Runs the agent until a termination signal; returns the exit code. */
export async function runCommand(ctx: CommandContext): Promise<number> {
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    ctx.log.info('shutdown_requested', { signal });
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await runAgent({ ...ctx, measureDisk }, stop.signal);
  } finally {
    ctx.store.close();
  }
  return 0;
}
