// `registry status`: every manifest the state knows, with its class and rank under the rules.
import { lastWantedMs, type BlobRef, type RegistryImage } from '../core/registry';
import { planRegistry } from '../core/registry-planner';
import type { Rule } from '../core/rules';
import { escapeControl } from '../log';
import { formatAgo, formatBytes, isoTime, renderTable } from './format';
import type { RegistryContext } from './registry-context';
import { pressureOrderText, pullRates, rankedBy } from './registry-pull-order';
import { measureStorage, storageText } from './registry-storage';

function statusRows(images: RegistryImage[], headCounts: boolean): RegistryImage[] {
  // Least recently wanted first, as eviction would consider them.
  return [...images].sort((a, b) => lastWantedMs(a.manifest, headCounts) - lastWantedMs(b.manifest, headCounts) || a.repository.localeCompare(b.repository));
}

const rankless = (ctx: RegistryContext) => ctx.gitlab !== null && ctx.config.registryStoragePath === null;

/**
 * Each manifest's class under the rules and its rank among eviction candidates: the plan as if the
 * storage were empty and had to be refilled, so every candidate is ranked.
 */
function classes(ctx: RegistryContext, images: RegistryImage[], blobs: Map<string, BlobRef[]>, rules: Rule[], nowMs: number, likelihood: Map<string, number> | null): Map<string, { class: string; rank: number | null }> {
  // A GitLab scope without a storage directory is never evicted under pressure: no ranks to show.
  const pressure = rankless(ctx) ? null : { freeBytes: 0, lowBytes: 1, targetBytes: Number.MAX_SAFE_INTEGER };
  const plan = planRegistry({
    images,
    blobs,
    rules,
    nowMs,
    headCounts: ctx.config.registryHeadCounts,
    minAgeMs: ctx.config.minAgeMs,
    pressure,
    perTag: ctx.gitlab !== null,
    ...(likelihood === null ? {} : { likelihood }),
  });
  const out = new Map<string, { class: string; rank: number | null }>();
  for (const i of images) out.set(`${i.repository}@${i.manifest.digest}`, { class: i.parents.length > 0 && i.tags.length === 0 ? 'child' : 'kept', rank: null });
  for (const h of plan.held) out.set(`${h.repository}@${h.digest}`, { class: 'held', rank: null });
  let rank = 0;
  for (const d of plan.deletions) {
    if (d.reason === 'pressure') rank += 1;
    // `untag`: per tag (GitLab), some of its tags go and a kept tag keeps the image.
    out.set(`${d.repository}@${d.digest}`, { class: d.reason === 'pressure' ? 'candidate' : d.keptBy !== null ? 'untag' : 'delete', rank: d.reason === 'pressure' ? rank : null });
  }
  return out;
}

export async function registryStatusCommand(ctx: RegistryContext, json: boolean, rules: Rule[] = []): Promise<number> {
  try {
    const nowMs = ctx.clock();
    const images = statusRows(ctx.store.images().filter((i) => ctx.inScope(i.repository)), ctx.config.registryHeadCounts);
    // One read of the blobs serves the storage figures and the ranks.
    const blobs = ctx.store.blobs();
    const storage = await measureStorage(ctx.config, images, blobs, nowMs);
    const learned = rankless(ctx) ? null : pullRates(ctx, images, blobs, nowMs);
    const rates = learned?.rates ?? null;
    const classOf = classes(ctx, images, blobs, rules, nowMs, learned?.likelihood ?? null);
    const cls = (i: RegistryImage) => classOf.get(`${i.repository}@${i.manifest.digest}`) ?? { class: 'kept', rank: null };
    if (json) {
      const out = images.map((i) => ({
        ...cls(i),
        repository: i.repository,
        tags: i.tags,
        digest: i.manifest.digest,
        mediaType: i.manifest.mediaType,
        parents: i.parents,
        sizeBytes: i.manifest.sizeBytes,
        pushed: isoTime(i.manifest.pushedMs),
        lastPull: isoTime(i.manifest.lastPullMs),
        pulls: i.manifest.pulls,
        lastHead: isoTime(i.manifest.lastHeadMs),
        heads: i.manifest.heads,
        ...rankedBy(rates, `${i.repository}@${i.manifest.digest}`),
      }));
      process.stdout.write(`${JSON.stringify({ registry: ctx.name, headCounts: ctx.config.registryHeadCounts, ...(storage === null ? {} : { storage }), pressureOrder: learned?.order ?? null, images: out }, null, 2)}\n`);
      return 0;
    }
    const tagsCell = (i: RegistryImage) => (i.tags.length > 0 ? i.tags.map(escapeControl).join(',') : i.parents.length > 0 ? `<child of ${i.parents.length} index>` : '<untagged>');
    // Under a learned order, what the rank comes from: expected pulls a day, and the own layers they are taken per MiB of.
    const ranked = (i: RegistryImage) => {
      if (rates === null) return [];
      const { expectedPullsPerDay: perDay, ownLayerBytes: own } = rankedBy(rates, `${i.repository}@${i.manifest.digest}`);
      return [perDay === undefined || perDay === null ? '' : perDay.toFixed(perDay < 10 ? 2 : 0), own === undefined || own === null ? '' : formatBytes(own)];
    };
    const rows = images.map((i) => [
      cls(i).class,
      cls(i).rank === null ? '' : String(cls(i).rank),
      ...ranked(i),
      escapeControl(i.repository),
      tagsCell(i),
      i.manifest.digest.replace(/^sha256:/, '').slice(0, 12),
      formatBytes(i.manifest.sizeBytes),
      formatAgo(i.manifest.pushedMs, nowMs),
      formatAgo(i.manifest.lastPullMs, nowMs),
      String(i.manifest.pulls),
      String(i.manifest.heads),
    ]);
    const rank = rankless(ctx) || learned === null ? 'no RANK: without --storage nothing is evicted under pressure' : `RANK: eviction order ${pressureOrderText(learned.order)}${rates === null ? '' : '; PULLS/DAY: expected pulls a day, taken per MiB of OWN LAYERS (layers no other manifest has held)'}`;
    process.stdout.write(`registry ${escapeControl(ctx.name)}: ${images.length} manifests, least recently pulled first; CLASS under ${rules.length === 0 ? 'no rules (--rules FILE to see a rule file\'s)' : 'the rules given'}, ${rank}\n`);
    process.stdout.write(`${renderTable(['CLASS', 'RANK', ...(rates === null ? [] : ['PULLS/DAY', 'OWN LAYERS']), 'REPOSITORY', 'TAGS', 'DIGEST', 'SIZE', 'PUSHED', 'LAST PULL', 'PULLS', 'HEADS'], rows)}\n`);
    if (storage !== null) process.stdout.write(`${storageText(storage)}\n`);
    return 0;
  } finally {
    ctx.store.close();
  }
}
