// Carries out a registry plan: each digest is checked against the registry right before its
// delete, so a tag pushed or moved since the plan keeps it. A registry that refuses deletes (405)
// stops the run at its first delete, so nothing is half-done.
import type { RegistryDeletion, RegistryPlan } from '../core/registry-planner';
import { errorText } from '../errors';
import type { Log } from '../log';
import type { RegistryStore } from '../state/registry-store';
import { DeleteUnsupportedError, RegistryError, type RegistryClient } from './client';

/** `protected`: GitLab refused a protected tag (403); `not-done`: the run stopped before it. */
export type DeleteResult = 'deleted' | 'gone' | 'changed' | 'failed' | 'protected' | 'not-done';

export interface DeleteOutcome {
  repository: string;
  digest: string;
  tags: string[];
  result: DeleteResult;
  /** Why it was skipped or failed. */
  detail: string | null;
  reclaimBytes: number;
}

export interface ApplyResult {
  outcomes: DeleteOutcome[];
  /** Set when the registry refuses deletes (or the token): the run stopped there. */
  refused: string | null;
}

/**
 * Whether deleting `deletion.digest` now would take a tag the plan did not judge: a planned tag
 * that moved to another digest (re-pushed), or a tag the state does not know pointing at it.
 */
async function changedSincePlan(client: RegistryClient, knownTags: Map<string, Set<string>>, deletion: RegistryDeletion): Promise<string | null> {
  const known = knownTags.get(deletion.repository) ?? new Set<string>();
  const now = await client.tags(deletion.repository);
  const planned = new Set(deletion.tags);
  for (const tag of now.filter((t) => planned.has(t) || !known.has(t))) {
    const head = await client.headManifest(deletion.repository, tag);
    if (head === null) continue;
    if (planned.has(tag) && head.digest !== deletion.digest) return `tag ${tag} was pushed again since the plan (now ${head.digest})`;
    if (!planned.has(tag) && head.digest === deletion.digest) return `tag ${tag}, new since the plan, points at it`;
  }
  return null;
}

export async function applyRegistryPlan(deps: { client: RegistryClient; store: RegistryStore; log: Log; clock: () => number }, plan: RegistryPlan): Promise<ApplyResult> {
  const { client, store, log, clock } = deps;
  const outcomes: DeleteOutcome[] = [];
  // The tags the plan was made with, per repository: read once, not once per delete.
  const knownTags = new Map<string, Set<string>>();
  for (const image of store.images()) for (const tag of image.tags) knownTags.set(image.repository, (knownTags.get(image.repository) ?? new Set()).add(tag));
  for (const deletion of plan.deletions) {
    const base = { repository: deletion.repository, digest: deletion.digest, tags: deletion.tags, reclaimBytes: deletion.reclaimBytes };
    try {
      const changed = await changedSincePlan(client, knownTags, deletion);
      if (changed !== null) {
        outcomes.push({ ...base, result: 'changed', detail: changed, reclaimBytes: 0 });
        log.info('registry_delete_skipped', { repository: deletion.repository, digest: deletion.digest, why: changed });
        continue;
      }
      const result = await client.deleteManifest(deletion.repository, deletion.digest);
      store.markDeleted(deletion.repository, deletion.digest, clock());
      outcomes.push({ ...base, result, detail: null, reclaimBytes: result === 'deleted' ? deletion.reclaimBytes : 0 });
      log.info('registry_deleted', { repository: deletion.repository, digest: deletion.digest, tags: deletion.tags, reason: deletion.reason, rule: deletion.rule, result, reclaimBytes: deletion.reclaimBytes });
    } catch (error) {
      if (error instanceof DeleteUnsupportedError) {
        // The caller says it, once: a one-shot's stderr is the operator's (or the timer's journal).
        return { outcomes, refused: `the registry refuses deletes (${error.message}): enable storage.delete.enabled; a pull-through cache cannot delete at all` };
      }
      if (!(error instanceof RegistryError)) throw error;
      outcomes.push({ ...base, result: 'failed', detail: errorText(error), reclaimBytes: 0 });
      log.warn('registry_delete_failed', { repository: deletion.repository, digest: deletion.digest, error: errorText(error) });
    }
  }
  return { outcomes, refused: null };
}
