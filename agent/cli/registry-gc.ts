// `registry gc`: garbage collection of a local registry, read-only meanwhile (agent/registry/gc.ts).
import type { Config } from '../config/schema';
import { ConfigError } from '../errors';
import { escapeControl } from '../log';
import { checkGcCommand, collectGarbage, commandRestarter, lastCollectionCovers, systemdRestarter } from '../registry/gc';
import { writeRegistryMetrics } from '../registry/metrics';
import { formatBytes, isoTime } from './format';
import { distributionClient, type RegistryContext } from './registry-context';

/** Kept tags broken after garbage collection: the run finished, its outcome is not what it must be. */
const EXIT_BROKEN = 3;

/** Checks what `registry gc` needs before it touches the registry (exit 2 on a bad setting). */
export function checkGcSettings(config: Config): void {
  if (config.registryStoragePath === null) throw new ConfigError('configuration', "required for gc: --storage DIR, the registry's storage directory (freed bytes are measured there)", 'registry-storage');
  const bad = checkGcCommand(config.registryGcCommand);
  if (bad !== null) throw new ConfigError('configuration', bad, 'registry-gc-command');
}

export async function registryGcCommand(ctx: RegistryContext, options: { json: boolean; always: boolean }): Promise<number> {
  const { json } = options;
  if (ctx.gitlab !== null) {
    ctx.store.close();
    throw new ConfigError('configuration', 'GitLab collects its registry\'s garbage itself: `sudo gitlab-ctl registry-garbage-collect` (Omnibus, downtime or read-only), or online GC with the metadata database', 'gitlab');
  }
  const client = distributionClient(ctx, 'gc');
  try {
    const { config } = ctx;
    // A quiet registry's last success grows old by design: this gauge says the nightly run still runs.
    const checked = { gc_last_check_timestamp_seconds: { help: 'When registry gc last ran, collecting or finding nothing deleted since the last collection (Unix time)', value: ctx.clock() / 1000 } };
    const coveredMs = options.always ? null : lastCollectionCovers(ctx.store);
    if (coveredMs !== null) {
      ctx.log.info('registry_gc_skipped', { registry: ctx.name, lastCollection: isoTime(coveredMs) });
      if (config.registryMetricsFile !== null) writeRegistryMetrics(config.registryMetricsFile, ctx.name, checked);
      if (json) process.stdout.write(`${JSON.stringify({ registry: ctx.name, skipped: true, lastCollection: isoTime(coveredMs) }, null, 2)}\n`);
      else process.stdout.write(`${escapeControl(ctx.name)}: nothing deleted since the last collection (${isoTime(coveredMs)}): not collected, the registry stays writable (--always collects anyway)\n`);
      return 0;
    }
    const restarter = config.registryRestartCommand !== null ? commandRestarter(config.registryRestartCommand, ctx.log) : systemdRestarter(config.registryUnit, ctx.log);
    const result = await collectGarbage({ ...ctx, client, restarter, gcCommand: config.registryGcCommand, storagePath: config.registryStoragePath as string });
    if (config.registryMetricsFile !== null) {
      writeRegistryMetrics(config.registryMetricsFile, ctx.name, {
        ...checked,
        gc_last_success_timestamp_seconds: { help: 'When registry gc last finished (Unix time)', value: ctx.clock() / 1000 },
        gc_duration_seconds: { help: 'How long the last registry gc took, read-only window included', value: result.durationMs / 1000 },
        gc_freed_bytes: { help: 'Bytes the last registry gc freed under the storage directory (measured)', value: result.freedBytes },
        gc_storage_bytes: { help: 'Bytes under the storage directory after the last registry gc', value: result.afterBytes },
        gc_broken_tags: { help: 'Kept tags that did not pull after the last registry gc', value: result.brokenTags.length },
      });
    }
    if (json) process.stdout.write(`${JSON.stringify({ registry: ctx.name, ...result }, null, 2)}\n`);
    else {
      process.stdout.write(
        `${escapeControl(ctx.name)}: garbage collected in ${Math.round(result.durationMs / 1000)} s (read-only meanwhile); storage ${formatBytes(result.beforeBytes)} -> ${formatBytes(result.afterBytes)}, ${formatBytes(result.freedBytes)} freed; ${result.checkedTags} kept tags and ${result.checkedBlobs} of their blobs checked, ${result.brokenTags.length} broken\n`,
      );
    }
    for (const tag of result.brokenTags) process.stderr.write(`image-evictor: registry gc: kept tag ${escapeControl(tag)} no longer pulls\n`);
    return result.brokenTags.length > 0 ? EXIT_BROKEN : 0;
  } finally {
    ctx.store.close();
  }
}
