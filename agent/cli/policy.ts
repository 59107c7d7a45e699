// `policy check FILE` validates a policy without Docker; `policy explain FILE` shows which rule
// claims every current image and the class that results.
import type { Policy } from '../core/policy';
import { escapeControl } from '../log';
import { loadPolicy } from '../config/policy-file';
import type { CommandContext } from './context';
import { formatBytes, formatDuration, renderTable, shortId, tagsCell, warnUnmatchedProtections } from './format';
import { gatherStatus } from './status';

function hygieneText(policy: Policy): string[] {
  const c = policy.containers;
  const b = policy.buildCache;
  return [
    c.removeExited
      ? `containers: remove exited/dead after ${formatDuration(c.graceMs)}${c.removeVolumes ? ' with volumes' : ''}; excluded names ${c.excludeNames.join(',') || '-'}, images ${c.excludeImages.join(',') || '-'}`
      : 'containers: left alone',
    b.pruneUnderPressure ? `build cache: pruned under pressure, keeping ${formatBytes(b.keepStorageBytes)}` : 'build cache: left alone',
  ];
}

/** Runs `policy check`: exit 0 and a summary, or a located error (thrown, exit 2). */
export function policyCheckCommand(file: string): number {
  const { policy, settings } = loadPolicy(file);
  const rules = policy.rules.map((r, i) => [String(i + 1), r.origin, r.text]);
  const lines = [`${file}: ${policy.rules.length} rule(s), valid`];
  if (rules.length > 0) lines.push(renderTable(['#', 'WHERE', 'RULE'], rules));
  lines.push(...hygieneText(policy));
  const keys = Object.keys(settings);
  if (keys.length > 0) lines.push(`also sets: ${keys.join(', ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** Runs `policy explain` with the policy already in `ctx.config`. */
export async function policyExplainCommand(ctx: CommandContext, json: boolean): Promise<number> {
  const report = await gatherStatus(ctx);
  const textOf = new Map(ctx.config.policy.rules.map((r) => [r.origin, r.text]));
  const rows = report.images.map(({ record: r }) => {
    const ranked = report.ranking.get(r.id);
    const origin = ranked?.rule ?? null;
    // The protect setting's rules are named by their pattern and have no text of their own.
    return { id: r.id, tags: r.repoTags, rule: origin, ruleText: origin === null ? null : (textOf.get(origin) ?? null), class: ranked?.class ?? null, rank: ranked?.rank ?? null };
  });
  if (json) {
    process.stdout.write(`${JSON.stringify({ policy: ctx.config.policyPath, images: rows, unmatchedProtections: report.unmatchedProtections }, null, 2)}\n`);
  } else {
    const table = rows.map((r) => [
      tagsCell(r.tags),
      shortId(r.id),
      r.class ?? '-',
      String(r.rank ?? '-'),
      r.rule === null ? '(no rule: LRU)' : r.ruleText === null ? escapeControl(r.rule) : `${escapeControl(r.rule)}  ${escapeControl(r.ruleText)}`,
    ]);
    process.stdout.write(`${renderTable(['TAGS', 'ID', 'CLASS', 'RANK', 'RULE'], table)}\n`);
  }
  warnUnmatchedProtections(report.unmatchedProtections);
  return report.docker.reachable ? 0 : 1;
}
