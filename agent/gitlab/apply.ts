// Carries out a plan through GitLab's API, tag by tag: each tag's digest is read again right before
// its delete (a re-push since the plan keeps it), a protected tag (403) is skipped and reported, a
// tag already gone (404) is fine. A token refused mid-run (401) stops the run: what is left is
// reported as not done. Deleting a tag frees nothing by itself: GitLab's garbage collection does.
import type { RegistryPlan } from '../core/registry-planner';
import { errorText } from '../errors';
import type { Log } from '../log';
import type { ApplyResult, DeleteOutcome } from '../registry/apply';
import { mapLimit } from '../registry/sync';
import type { RegistryStore } from '../state/registry-store';
import { GitlabAuthError, GitlabError, type GitlabClient, type GitlabScope } from './client';

/** Tags deleted at once: GitLab's API is shared with every other user of the instance. */
const DELETES_AT_ONCE = 4;

export async function applyGitlabPlan(deps: { gitlab: GitlabClient; scope: GitlabScope; store: RegistryStore; log: Log; clock: () => number }, plan: RegistryPlan): Promise<ApplyResult> {
  const { gitlab, scope, store, log, clock } = deps;
  const repositories = new Map((await gitlab.repositories(scope)).map((r) => [r.path, r]));
  const steps = plan.deletions.flatMap((d) => d.tags.map((tag) => ({ deletion: d, tag })));
  let stopped: string | null = null;
  const outcomes = await mapLimit(steps, DELETES_AT_ONCE, async ({ deletion, tag }): Promise<DeleteOutcome> => {
    const base = { repository: deletion.repository, digest: deletion.digest, tags: [tag], reclaimBytes: 0 };
    if (stopped !== null) return { ...base, result: 'not-done', detail: 'the run stopped before it' };
    const repository = repositories.get(deletion.repository);
    if (repository === undefined) {
      store.untag(deletion.repository, tag, clock());
      return { ...base, result: 'gone', detail: `repository no longer listed in ${scope.kind} ${scope.id}` };
    }
    try {
      const now = await gitlab.tagDetails(repository, tag);
      if (now === null) {
        store.untag(deletion.repository, tag, clock());
        return { ...base, result: 'gone', detail: null };
      }
      if (now.digest !== deletion.digest) {
        log.info('registry_delete_skipped', { repository: deletion.repository, tag, digest: deletion.digest, why: `pushed again since the plan (now ${now.digest})` });
        return { ...base, result: 'changed', detail: `tag ${tag} was pushed again since the plan (now ${now.digest})` };
      }
      const result = await gitlab.deleteTag(repository, tag);
      if (result === 'protected') {
        log.warn('gitlab_tag_protected', { repository: deletion.repository, tag });
        return { ...base, result, detail: 'a protected tag (403): change its protection rule in GitLab to delete it' };
      }
      store.untag(deletion.repository, tag, clock());
      log.info('registry_deleted', { repository: deletion.repository, tag, digest: deletion.digest, reason: deletion.reason, rule: deletion.rule, result });
      return { ...base, result, detail: null };
    } catch (error) {
      if (error instanceof GitlabAuthError) {
        stopped ??= errorText(error);
        return { ...base, result: 'not-done', detail: 'the token was refused' };
      }
      if (!(error instanceof GitlabError)) throw error;
      log.warn('registry_delete_failed', { repository: deletion.repository, tag, error: errorText(error) });
      return { ...base, result: 'failed', detail: errorText(error) };
    }
  });
  // An image's bytes become collectable only when all its tags went: counted on its last outcome.
  let at = 0;
  for (const deletion of plan.deletions) {
    const mine = outcomes.slice(at, at + deletion.tags.length);
    at += deletion.tags.length;
    const lastOne = mine[mine.length - 1];
    if (lastOne !== undefined && mine.every((o) => o.result === 'deleted' || o.result === 'gone')) lastOne.reclaimBytes = deletion.reclaimBytes;
  }
  if (stopped !== null) {
    const notDone = outcomes.filter((o) => o.result === 'not-done').length;
    return { outcomes, refused: `${stopped}; stopped: ${notDone} of ${outcomes.length} tag deletions not done (listed as not-done)` };
  }
  return { outcomes, refused: null };
}
