// `image-evictor registry ...`: the registry side. Each subcommand works on one Distribution
// registry (`--registry URL`) and keeps what it learns in the same state database as the agent.
import { existsSync, statSync } from 'node:fs';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { thresholdBytes } from '../core/planner';
import { lastWantedMs, type RegistryImage } from '../core/registry';
import { planRegistry, type RegistryPlan } from '../core/registry-planner';
import type { Rule } from '../core/rules';
import { loadPolicy } from '../config/policy-file';
import { measureDisk } from '../disk/disk';
import { applyRegistryPlan, type ApplyResult } from '../registry/apply';
import { checkGcCommand, collectGarbage, commandRestarter, systemdRestarter } from '../registry/gc';
import { writeRegistryMetrics } from '../registry/metrics';
import { ConfigError } from '../errors';
import { createLog, escapeControl, type Log } from '../log';
import { loadAuth, loadToken } from '../registry/auth';
import { createRegistryClient, type RegistryClient } from '../registry/client';
import { startListener } from '../registry/listen';
import { syncRegistry } from '../registry/sync';
import { createRegistryStore, type RegistryStore } from '../state/registry-store';
import { openDatabase } from '../state/store';
import { flagsFromOptions } from './context';
import { formatAgo, formatBytes, isoTime, renderTable } from './format';

/** The registry refused deletes: the run stopped at its first one. */
const EXIT_REFUSED = 3;

export interface RegistryContext {
  config: Config;
  log: Log;
  client: RegistryClient;
  store: RegistryStore;
  clock: () => number;
  /** The listener's bearer token, read from its file; null: none required. */
  listenToken: string | null;
}

/**
 * Loads the configuration and credentials (bad input fails here, before any request), then opens
 * the state. `read` commands need a state that exists: an empty one would show an empty registry.
 */
export function openRegistryContext(options: Record<string, unknown>, use: 'write' | 'read' | 'listen'): RegistryContext {
  const config = loadConfig({ configFile: options.config as string | undefined, env: process.env, flags: flagsFromOptions(options) });
  if (config.registryUrl === null) throw new ConfigError('configuration', 'required: --registry URL (or `registry:` in the config file), e.g. http://127.0.0.1:5000', 'registry');
  if (config.registryStoragePath !== null && !statSync(config.registryStoragePath, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ConfigError('configuration', `${config.registryStoragePath} is not a directory: give the registry's storage directory (its storage.filesystem.rootdirectory)`, 'registry-storage');
  }
  const auth = loadAuth(config.registryAuthFile, process.env);
  const listenToken = use === 'listen' ? loadToken(config.registryListenTokenFile) : null;
  if (use === 'read' && !existsSync(config.statePath)) {
    throw new ConfigError('configuration', `state database ${config.statePath} does not exist: run \`image-evictor registry sync\` first, or check --state`, 'state');
  }
  const log = createLog({ level: config.logLevel, format: config.logFormat, stream: use === 'listen' ? process.stdout : process.stderr });
  const clock = () => Date.now();
  const { db } = openDatabase(config.statePath, log, clock());
  return { config, log, client: createRegistryClient(config.registryUrl, auth), store: createRegistryStore(db, config.registryUrl), clock, listenToken };
}

export async function registrySyncCommand(ctx: RegistryContext, json: boolean): Promise<number> {
  try {
    const result = await syncRegistry(ctx);
    if (json) process.stdout.write(`${JSON.stringify({ registry: ctx.client.url, ...result }, null, 2)}\n`);
    else {
      process.stdout.write(
        `${escapeControl(ctx.client.url)}: ${result.repositories} repositories, ${result.tags} tags; ${result.newManifests} manifests new to the state, ${result.manifestsRead} read, ${result.vanished} gone\n`,
      );
    }
    return 0;
  } finally {
    ctx.store.close();
  }
}

/** Runs until SIGTERM or SIGINT, then closes the listener and the state. */
export async function registryListenCommand(ctx: RegistryContext): Promise<number> {
  const listener = await startListener({
    listen: ctx.config.registryListen,
    token: ctx.listenToken,
    store: ctx.store,
    filter: { ignoreUserAgents: ctx.config.registryIgnoreUserAgents },
    log: ctx.log,
  });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await listener.close();
  ctx.log.info('registry_listen_stopped', { ...listener.counts });
  ctx.store.close();
  return 0;
}

function statusRows(images: RegistryImage[], headCounts: boolean): RegistryImage[] {
  // Least recently wanted first, as eviction would consider them.
  return [...images].sort((a, b) => lastWantedMs(a.manifest, headCounts) - lastWantedMs(b.manifest, headCounts) || a.repository.localeCompare(b.repository));
}

/**
 * Each manifest's class under the rules and its rank among eviction candidates: the plan as if the
 * storage were empty and had to be refilled, so every candidate is ranked.
 */
function classes(ctx: RegistryContext, images: RegistryImage[], rules: Rule[], nowMs: number): Map<string, { class: string; rank: number | null }> {
  const plan = planRegistry({ images, blobs: ctx.store.blobs(), rules, nowMs, headCounts: ctx.config.registryHeadCounts, minAgeMs: ctx.config.minAgeMs, pressure: { freeBytes: 0, lowBytes: 1, targetBytes: Number.MAX_SAFE_INTEGER } });
  const out = new Map<string, { class: string; rank: number | null }>();
  for (const i of images) out.set(`${i.repository}@${i.manifest.digest}`, { class: i.parents.length > 0 && i.tags.length === 0 ? 'child' : 'kept', rank: null });
  for (const h of plan.held) out.set(`${h.repository}@${h.digest}`, { class: 'held', rank: null });
  let rank = 0;
  for (const d of plan.deletions) {
    if (d.reason === 'pressure') rank += 1;
    out.set(`${d.repository}@${d.digest}`, { class: d.reason === 'pressure' ? 'candidate' : 'delete', rank: d.reason === 'pressure' ? rank : null });
  }
  return out;
}

export function registryStatusCommand(ctx: RegistryContext, json: boolean, rules: Rule[] = []): number {
  try {
    const nowMs = ctx.clock();
    const images = statusRows(ctx.store.images(), ctx.config.registryHeadCounts);
    const classOf = classes(ctx, images, rules, nowMs);
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
      }));
      process.stdout.write(`${JSON.stringify({ registry: ctx.client.url, headCounts: ctx.config.registryHeadCounts, images: out }, null, 2)}\n`);
      return 0;
    }
    const tagsCell = (i: RegistryImage) => (i.tags.length > 0 ? i.tags.map(escapeControl).join(',') : i.parents.length > 0 ? `<child of ${i.parents.length} index>` : '<untagged>');
    const rows = images.map((i) => [
      cls(i).class,
      cls(i).rank === null ? '' : String(cls(i).rank),
      escapeControl(i.repository),
      tagsCell(i),
      i.manifest.digest.replace(/^sha256:/, '').slice(0, 12),
      formatBytes(i.manifest.sizeBytes),
      formatAgo(i.manifest.pushedMs, nowMs),
      formatAgo(i.manifest.lastPullMs, nowMs),
      String(i.manifest.pulls),
      String(i.manifest.heads),
    ]);
    process.stdout.write(`registry ${escapeControl(ctx.client.url)}: ${images.length} manifests, least recently pulled first; CLASS under ${rules.length === 0 ? 'no rules (--rules FILE to see a rule file\'s)' : 'the rules given'}, RANK: eviction order under storage pressure\n`);
    process.stdout.write(`${renderTable(['CLASS', 'RANK', 'REPOSITORY', 'TAGS', 'DIGEST', 'SIZE', 'PUSHED', 'LAST PULL', 'PULLS', 'HEADS'], rows)}\n`);
    return 0;
  } finally {
    ctx.store.close();
  }
}

export interface PlanOptions {
  /** Rules already loaded (a bad file fails before any request). */
  rules: Rule[];
  json: boolean;
  /** Carry the plan out; false prints it only. */
  apply: boolean;
}

/** Reads the rule file of `--rules` (either syntax); none: pressure eviction only. */
export function loadRules(file: string | undefined): Rule[] {
  return file === undefined ? [] : loadPolicy(file).policy.rules;
}

async function buildPlan(ctx: RegistryContext, rules: Rule[]): Promise<{ plan: RegistryPlan; nowMs: number }> {
  const { config } = ctx;
  const nowMs = ctx.clock();
  let pressure: { freeBytes: number; lowBytes: number; targetBytes: number } | null = null;
  if (config.registryStoragePath !== null) {
    const disk = await measureDisk(config.registryStoragePath);
    const lowBytes = thresholdBytes(config.lowFree, disk.totalBytes);
    pressure = { freeBytes: disk.freeBytes, lowBytes, targetBytes: Math.max(lowBytes, thresholdBytes(config.targetFree, disk.totalBytes)) };
  }
  const plan = planRegistry({ images: ctx.store.images(), blobs: ctx.store.blobs(), rules, nowMs, headCounts: config.registryHeadCounts, minAgeMs: config.minAgeMs, pressure });
  return { plan, nowMs };
}

function planText(plan: RegistryPlan, nowMs: number): string {
  const rows = plan.deletions.map((d) => [
    d.reason,
    escapeControl(d.repository),
    d.tags.length > 0 ? d.tags.map(escapeControl).join(',') : '<untagged>',
    d.digest.replace(/^sha256:/, '').slice(0, 12),
    formatAgo(d.lastWantedMs, nowMs),
    formatBytes(d.reclaimBytes),
    d.rule === null ? '' : escapeControl(d.rule),
  ]);
  const lines = [
    plan.deletions.length === 0 ? 'nothing to delete' : renderTable(['REASON', 'REPOSITORY', 'TAGS', 'DIGEST', 'LAST WANTED', 'RECLAIM', 'RULE'], rows),
    ...plan.held.map((h) => `kept: ${escapeControl(h.repository)} ${h.tags.map(escapeControl).join(',')} (${h.digest.replace(/^sha256:/, '').slice(0, 12)}): ${escapeControl(h.why)}`),
    `${plan.deletions.length} manifests to delete, about ${formatBytes(plan.reclaimBytes)} of blobs freed after garbage collection${plan.underPressure ? (plan.reachesTarget ? '; reaches target-free' : '; does NOT reach target-free') : ''}`,
  ];
  return `${lines.join('\n')}\n`;
}

function planJson(plan: RegistryPlan, applied: ApplyResult | null): unknown {
  return {
    ...plan,
    deletions: plan.deletions.map((d) => ({ ...d, lastWanted: isoTime(d.lastWantedMs) })),
    ...(applied === null ? {} : { outcomes: applied.outcomes, refused: applied.refused }),
  };
}

/** `registry plan` (print) and `registry apply` (carry out, unless --dry-run). */
export async function registryPlanCommand(ctx: RegistryContext, options: PlanOptions): Promise<number> {
  try {
    const { plan, nowMs } = await buildPlan(ctx, options.rules);
    if (!options.apply) {
      process.stdout.write(options.json ? `${JSON.stringify(planJson(plan, null), null, 2)}\n` : planText(plan, nowMs));
      return 0;
    }
    const applied = await applyRegistryPlan(ctx, plan);
    if (ctx.config.registryMetricsFile !== null) {
      const deleted = applied.outcomes.filter((o) => o.result === 'deleted');
      writeRegistryMetrics(ctx.config.registryMetricsFile, ctx.client.url, {
        apply_last_run_timestamp_seconds: { help: 'When registry apply last ran (Unix time)', value: nowMs / 1000 },
        apply_deleted_manifests: { help: 'Manifests the last registry apply deleted', value: deleted.length },
        apply_skipped_manifests: { help: 'Manifests the last registry apply skipped (changed since the plan) or failed to delete', value: applied.outcomes.length - deleted.length },
        apply_reclaim_estimate_bytes: { help: 'Blob bytes the last registry apply made collectable (estimate)', value: deleted.reduce((s, o) => s + o.reclaimBytes, 0) },
        apply_refused: { help: '1 if the registry refused deletes at the last registry apply', value: applied.refused === null ? 0 : 1 },
      });
    }
    if (options.json) process.stdout.write(`${JSON.stringify(planJson(plan, applied), null, 2)}\n`);
    else {
      const rows = applied.outcomes.map((o) => [o.result, escapeControl(o.repository), o.tags.map(escapeControl).join(',') || '<untagged>', o.digest.replace(/^sha256:/, '').slice(0, 12), o.detail === null ? '' : escapeControl(o.detail)]);
      if (rows.length > 0) process.stdout.write(`${renderTable(['RESULT', 'REPOSITORY', 'TAGS', 'DIGEST', 'DETAIL'], rows)}\n`);
      const deleted = applied.outcomes.filter((o) => o.result === 'deleted');
      process.stdout.write(`${deleted.length} manifests deleted, about ${formatBytes(deleted.reduce((s, o) => s + o.reclaimBytes, 0))} to free at the next garbage collection\n`);
    }
    if (applied.refused !== null) {
      process.stderr.write(`image-evictor: registry apply: ${applied.refused}\n`);
      return EXIT_REFUSED;
    }
    return 0;
  } finally {
    ctx.store.close();
  }
}

/** Kept tags broken after garbage collection: the run finished, its outcome is not what it must be. */
const EXIT_BROKEN = 3;

/** Checks what `registry gc` needs before it touches the registry (exit 2 on a bad setting). */
export function checkGcSettings(config: Config): void {
  if (config.registryStoragePath === null) throw new ConfigError('configuration', "required for gc: --storage DIR, the registry's storage directory (freed bytes are measured there)", 'registry-storage');
  const bad = checkGcCommand(config.registryGcCommand);
  if (bad !== null) throw new ConfigError('configuration', bad, 'registry-gc-command');
}

export async function registryGcCommand(ctx: RegistryContext, json: boolean): Promise<number> {
  try {
    const { config } = ctx;
    const restarter = config.registryRestartCommand !== null ? commandRestarter(config.registryRestartCommand, ctx.log) : systemdRestarter(config.registryUnit, ctx.log);
    const result = await collectGarbage({ ...ctx, restarter, gcCommand: config.registryGcCommand, storagePath: config.registryStoragePath as string });
    if (config.registryMetricsFile !== null) {
      writeRegistryMetrics(config.registryMetricsFile, ctx.client.url, {
        gc_last_success_timestamp_seconds: { help: 'When registry gc last finished (Unix time)', value: ctx.clock() / 1000 },
        gc_duration_seconds: { help: 'How long the last registry gc took, read-only window included', value: result.durationMs / 1000 },
        gc_freed_bytes: { help: 'Bytes the last registry gc freed under the storage directory (measured)', value: result.freedBytes },
        gc_storage_bytes: { help: 'Bytes under the storage directory after the last registry gc', value: result.afterBytes },
        gc_broken_tags: { help: 'Kept tags that did not pull after the last registry gc', value: result.brokenTags.length },
      });
    }
    if (json) process.stdout.write(`${JSON.stringify({ registry: ctx.client.url, ...result }, null, 2)}\n`);
    else {
      process.stdout.write(
        `${escapeControl(ctx.client.url)}: garbage collected in ${Math.round(result.durationMs / 1000)} s (read-only meanwhile); storage ${formatBytes(result.beforeBytes)} -> ${formatBytes(result.afterBytes)}, ${formatBytes(result.freedBytes)} freed; ${result.checkedTags} kept tags and ${result.checkedBlobs} of their blobs checked, ${result.brokenTags.length} broken\n`,
      );
    }
    for (const tag of result.brokenTags) process.stderr.write(`image-evictor: registry gc: kept tag ${escapeControl(tag)} no longer pulls\n`);
    return result.brokenTags.length > 0 ? EXIT_BROKEN : 0;
  } finally {
    ctx.store.close();
  }
}
