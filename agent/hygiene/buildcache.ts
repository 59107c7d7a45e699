// Prunes the builder cache under pressure: build cache is invisible to image eviction (docuum #316)
// yet fills the same disk, and it is cheaper to rebuild than images are to re-pull.
import type { BuildCachePolicy } from '../core/policy';
import type { DockerClient } from '../docker/client';
import { errorText } from '../errors';
import type { Log } from '../log';

/** Prunes the build cache down to the policy's bound; returns bytes reclaimed (0 on failure or when off). */
export async function pruneBuildCache(deps: { docker: DockerClient; log: Log }, policy: BuildCachePolicy, dryRun: boolean): Promise<number> {
  if (!policy.pruneUnderPressure) return 0;
  if (dryRun) {
    deps.log.info('build_cache_prune_dry_run', { keepStorageBytes: policy.keepStorageBytes });
    return 0;
  }
  try {
    const reclaimedBytes = await deps.docker.pruneBuildCache(policy.keepStorageBytes);
    deps.log.info('build_cache_pruned', { reclaimedBytes, keepStorageBytes: policy.keepStorageBytes });
    return reclaimedBytes;
  } catch (error) {
    // Image eviction still runs: a failed prune must not leave the disk full.
    deps.log.warn('build_cache_prune_failed', { error: errorText(error) });
    return 0;
  }
}
