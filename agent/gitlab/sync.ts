// `registry sync` for GitLab: lists the scope's container repositories and every tag's details
// through the API, and records them in the same state as a Distribution registry's crawl. GitLab
// gives an image's total size, not its layers: each manifest stands as one blob of that size, so
// reclaim estimates count shared layers once per image (an upper bound).
import type { ManifestRefs } from '../core/registry';
import type { Log } from '../log';
import { mapLimit } from '../registry/sync';
import type { RegistryStore } from '../state/registry-store';
import type { GitlabClient, GitlabScope } from './client';
import { scopeRepositories, setScopeRepositories } from './scope';

export interface GitlabSyncResult {
  repositories: number;
  tags: number;
  newManifests: number;
  /** Tag details read (one request each). */
  detailsRead: number;
  /** Manifests no tag names any more: gone from GitLab's view. */
  vanished: number;
}

/** Tags whose details are requested at once per repository; the client bounds requests in flight over all. */
const DETAILS_AT_ONCE = 16;

export async function syncGitlab(deps: { gitlab: GitlabClient; scope: GitlabScope; store: RegistryStore; clock: () => number; log: Log }): Promise<GitlabSyncResult> {
  const { gitlab, scope, store, clock, log } = deps;
  const repositories = await gitlab.repositories(scope);
  let tagCount = 0;
  let newManifests = 0;
  let detailsRead = 0;
  let vanished = 0;
  await mapLimit(repositories, 4, async (repository) => {
    const names = await gitlab.tags(repository);
    const details = await mapLimit(names, DETAILS_AT_ONCE, (name) => gitlab.tagDetails(repository, name));
    detailsRead += names.length;
    const tags = new Map<string, string>();
    const manifests = new Map<string, { digest: string; mediaType: string; refs: ManifestRefs }>();
    names.forEach((name, i) => {
      const d = details[i];
      // Deleted between the listing and the read: not a tag any more.
      if (d === null || d === undefined) return;
      tags.set(name, d.digest);
      manifests.set(d.digest, { digest: d.digest, mediaType: d.media_type ?? '', refs: { blobs: [{ digest: d.digest, sizeBytes: Math.round(d.total_size ?? 0) }], children: [] } });
    });
    newManifests += store.saveCrawl(repository.path, [...manifests.values()], tags, clock());
    vanished += store.dropUntagged(repository.path, clock());
    tagCount += tags.size;
  });
  // Repositories of this scope at the last sync that GitLab no longer lists: deleted with their tags.
  const listed = new Set(repositories.map((r) => r.path));
  for (const path of scopeRepositories(store, scope) ?? []) {
    if (listed.has(path)) continue;
    store.setTags(path, new Map());
    vanished += store.dropUntagged(path, clock());
  }
  setScopeRepositories(store, scope, [...listed]);
  const result = { repositories: repositories.length, tags: tagCount, newManifests, detailsRead, vanished };
  log.info('gitlab_synced', { gitlab: gitlab.url, scope: `${scope.kind} ${scope.id}`, ...result });
  return result;
}
