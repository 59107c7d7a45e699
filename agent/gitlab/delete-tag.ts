// `registry delete-tag` on GitLab: one DELETE per tag. GitLab removes just that tag; other tags on
// the same digest keep the image, so this is safe where a Distribution digest delete is not.
import type { TagDeleteOutcome, TagRef } from '../core/tag-ref';
import { errorText } from '../errors';
import type { Log } from '../log';
import type { RegistryStore } from '../state/registry-store';
import { GitlabError, type GitlabClient, type GitlabScope } from './client';

export async function deleteGitlabTags(deps: { gitlab: GitlabClient; scope: GitlabScope; store: RegistryStore; log: Log; clock: () => number }, refs: TagRef[]): Promise<TagDeleteOutcome[]> {
  const { gitlab, scope, store, log, clock } = deps;
  const repositories = new Map((await gitlab.repositories(scope)).map((r) => [r.path, r]));
  const outcomes: TagDeleteOutcome[] = [];
  for (const ref of refs) {
    const name = `${ref.repository}:${ref.tag}`;
    const repository = repositories.get(ref.repository);
    if (repository === undefined) {
      outcomes.push({ ref: name, result: 'failed', detail: `no container repository ${ref.repository} in ${scope.kind} ${scope.id} (it has: ${[...repositories.keys()].slice(0, 5).join(', ') || 'none'})` });
      continue;
    }
    try {
      const result = await gitlab.deleteTag(repository, ref.tag);
      if (result !== 'protected') store.untag(ref.repository, ref.tag, clock());
      log.info(result === 'protected' ? 'gitlab_tag_protected' : 'registry_deleted', { repository: ref.repository, tag: ref.tag, result });
      outcomes.push({ ref: name, result, detail: result === 'protected' ? 'a protected tag (403): change its protection rule in GitLab to delete it' : null });
    } catch (error) {
      if (!(error instanceof GitlabError)) throw error;
      outcomes.push({ ref: name, result: 'failed', detail: errorText(error) });
    }
  }
  return outcomes;
}
