// `registry sync`: crawls the catalog and every tag to fill what notifications missed (the
// registry queues them in memory and loses them on restart), then reads the manifests the state
// has no blobs for, so reclaim estimates know their layers.
import { isIndexType, manifestRefs } from '../core/registry';
import type { Log } from '../log';
import type { RegistryStore } from '../state/registry-store';
import type { RegistryClient } from './client';

export interface SyncResult {
  repositories: number;
  tags: number;
  /** Manifests the state did not know before this crawl. */
  newManifests: number;
  /** Manifests read for their blobs or children. */
  manifestsRead: number;
  /** Manifests the state held live that the registry no longer has. */
  vanished: number;
}

/** Requests in flight at once: enough to hide latency, few enough not to load the registry. */
const CONCURRENCY = 16;

/** Runs `work` over `items`, at most `limit` at a time, keeping the order of results. */
export async function mapLimit<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next;
      next += 1;
      results[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export async function syncRegistry(deps: { client: RegistryClient; store: RegistryStore; clock: () => number; log: Log }): Promise<SyncResult> {
  const { client, store, clock, log } = deps;
  const repositories = await client.catalog();
  let tagCount = 0;
  let newManifests = 0;
  await mapLimit(repositories, 4, async (repository) => {
    const tags = await client.tags(repository);
    const heads = await mapLimit(tags, CONCURRENCY, async (tag) => ({ tag, head: await client.headManifest(repository, tag) }));
    const current = new Map<string, string>();
    for (const { tag, head } of heads) {
      // Deleted between the listing and the HEAD: not a tag any more.
      if (head === null) continue;
      current.set(tag, head.digest);
      const known = store.manifest(repository, head.digest);
      if (known === undefined || known.deletedMs !== null) {
        newManifests += 1;
        store.saveManifest(repository, head.digest, head.mediaType, clock(), null);
      }
    }
    store.setTags(repository, current);
    tagCount += current.size;
  });
  // Repositories gone from the catalog (every tag deleted) keep no tags.
  const listed = new Set(repositories);
  for (const repository of store.repositories()) if (!listed.has(repository)) store.setTags(repository, new Map());

  let manifestsRead = 0;
  let vanished = 0;
  const read = async (repository: string, digest: string): Promise<void> => {
    const got = await client.getManifest(repository, digest);
    manifestsRead += 1;
    if (got === null) {
      vanished += 1;
      store.markDeleted(repository, digest, clock());
      return;
    }
    const refs = manifestRefs(got.body);
    if (isIndexType(got.mediaType)) {
      // Children first, so the index's size is the sum of theirs.
      for (const child of refs.children) {
        const known = store.manifest(repository, child);
        if (known === undefined || known.deletedMs !== null) store.saveManifest(repository, child, 'application/octet-stream', clock(), null);
      }
      await mapLimit(
        refs.children.filter((child) => !store.refsKnown(repository, child)),
        CONCURRENCY,
        (child) => read(repository, child),
      );
    }
    store.saveManifest(repository, digest, got.mediaType, clock(), refs);
  };
  const pending = store.manifestsWithoutRefs();
  await mapLimit(pending, CONCURRENCY, ({ repository, digest }) => read(repository, digest));
  const result = { repositories: repositories.length, tags: tagCount, newManifests, manifestsRead, vanished };
  log.info('registry_synced', { registry: client.url, ...result });
  return result;
}
