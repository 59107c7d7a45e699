// `gc --rules FILE`: applies a rule file once, the way docker_gc runs from cron: stopped-container
// hygiene, Delete rules, and LRU eviction if the disk is below low. Same cycle as the agent's check.
import { runCheck } from '../eviction/check';
import { checkDeps, dataRootOf, type CommandContext } from './context';
import { measureDisk } from '../disk/disk';
import { outcomesText, renderTable, warnImplausibleThresholds, warnUnmatchedProtections } from './format';

/** How long gc waits for a running agent or purge to finish evicting. */
const LOCK_WAIT_MS = 60_000;

/** Runs `gc`; exit 0 unless a removal failed. */
export async function gcCommand(ctx: CommandContext, json: boolean): Promise<number> {
  const dataRoot = await dataRootOf(ctx);
  warnImplausibleThresholds(ctx.config, await measureDisk(dataRoot));
  const report = await runCheck(checkDeps(ctx), dataRoot, { lockWaitMs: LOCK_WAIT_MS }, new AbortController().signal);
  ctx.store.close();
  if (json) {
    process.stdout.write(`${JSON.stringify({ dryRun: ctx.config.dryRun, containers: report.containers, images: report.outcomes }, null, 2)}\n`);
  } else {
    const containers = report.containers.map((c) => [c.result, c.name, c.image]);
    if (containers.length > 0) process.stdout.write(`${renderTable(['RESULT', 'CONTAINER', 'IMAGE'], containers)}\n`);
    process.stdout.write(`${outcomesText(report.outcomes)}\n`);
  }
  warnUnmatchedProtections(report.unmatchedProtections);
  const failed = [...report.containers, ...report.outcomes].some((o) => o.result === 'failed');
  return failed ? 1 : 0;
}
