// `registry sync`: crawls the catalog and every tag to fill what notifications missed (the
// registry queues them in memory and loses them on restart), and reads the manifests the state
// has no blobs for, so reclaim estimates know their layers.
import { isIndexType, manifestRefs, type ManifestRefs } from '../core/registry';
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

/** Requests in flight at once per repository (4 repositories at a time): latency hidden, the registry not flooded. */
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

type Read = { digest: string; mediaType: string; refs: ManifestRefs };

/**
 * A manifest and, for an index, the children the state has no blobs for, children first.
 * null when the registry no longer has it.
 */
async function readManifest(client: RegistryClient, store: RegistryStore, repository: string, reference: string): Promise<Read[] | null> {
  const got = await client.getManifest(repository, reference);
  if (got === null) return null;
  const refs = manifestRefs(got.body);
  const children: Read[] = [];
  if (isIndexType(got.mediaType)) {
    const unknown = refs.children.filter((child) => !store.refsKnown(repository, child));
    for (const read of await mapLimit(unknown, CONCURRENCY, (child) => readManifest(client, store, repository, child))) children.push(...(read ?? []));
  }
  return [...children, { digest: got.digest, mediaType: got.mediaType, refs }];
}

export async function syncRegistry(deps: { client: RegistryClient; store: RegistryStore; clock: () => number; log: Log }): Promise<SyncResult> {
  const { client, store, clock, log } = deps;
  const repositories = await client.catalog();
  let tagCount = 0;
  let newManifests = 0;
  let manifestsRead = 0;
  await mapLimit(repositories, 4, async (repository) => {
    const tags = await client.tags(repository);
    // A GET by tag costs what a HEAD does and brings the blobs too: one request per tag. Ours is
    // the crawler's user agent, which the listener never counts as a pull.
    const reads = await mapLimit(tags, CONCURRENCY, async (tag) => ({ tag, read: await readManifest(client, store, repository, tag) }));
    const current = new Map<string, string>();
    const manifests: Read[] = [];
    for (const { tag, read } of reads) {
      // Deleted between the listing and the read: not a tag any more.
      if (read === null) continue;
      manifestsRead += read.length;
      manifests.push(...read);
      current.set(tag, (read[read.length - 1] as Read).digest);
    }
    newManifests += store.saveCrawl(repository, manifests, current, clock());
    tagCount += current.size;
  });
  // Repositories gone from the catalog (every tag deleted) keep no tags.
  const listed = new Set(repositories);
  for (const repository of store.repositories()) if (!listed.has(repository)) store.setTags(repository, new Map());

  // Manifests the listener heard of but no tag names now (replaced by a push): read by digest.
  let vanished = 0;
  await mapLimit(store.manifestsWithoutRefs(), CONCURRENCY, async ({ repository, digest }) => {
    const read = await readManifest(client, store, repository, digest);
    manifestsRead += read?.length ?? 0;
    if (read === null) {
      vanished += 1;
      store.markDeleted(repository, digest, clock());
      return;
    }
    for (const m of read) store.saveManifest(repository, m.digest, m.mediaType, clock(), m.refs);
  });
  const result = { repositories: repositories.length, tags: tagCount, newManifests, manifestsRead, vanished };
  log.info('registry_synced', { registry: client.url, ...result });
  return result;
}
