// `registry delete-tag` on a Distribution registry, digest-safe: 2.x deletes manifests by digest,
// which takes every tag on it, so a tag is deleted only when no other tag points at its digest and
// no tagged index lists it as a child. Otherwise it is held, naming what holds it.
import { isIndexType, manifestRefs } from '../core/registry';
import type { TagDeleteOutcome, TagRef } from '../core/tag-ref';
import { errorText } from '../errors';
import type { Log } from '../log';
import type { RegistryStore } from '../state/registry-store';
import { RegistryError, type RegistryClient } from './client';
import { mapLimit } from './sync';

/** What else needs `digest` in the repository: another tag on it, or a tagged index listing it; null: nothing. */
async function holder(client: RegistryClient, repository: string, tag: string, digest: string): Promise<string | null> {
  const others = (await client.tags(repository)).filter((t) => t !== tag);
  const heads = await mapLimit(others, 8, async (other) => ({ other, head: await client.headManifest(repository, other) }));
  for (const { other, head } of heads) if (head?.digest === digest) return `tag ${other} points at the same digest (deleting it would delete ${other} too)`;
  for (const { other, head } of heads) {
    if (head === null || !isIndexType(head.mediaType)) continue;
    const index = await client.getManifest(repository, other);
    if (index !== null && manifestRefs(index.body).children.includes(digest)) return `index ${other} lists it as a child`;
  }
  return null;
}

export async function deleteRegistryTags(deps: { client: RegistryClient; store: RegistryStore; log: Log; clock: () => number }, refs: TagRef[]): Promise<TagDeleteOutcome[]> {
  const { client, store, log, clock } = deps;
  const outcomes: TagDeleteOutcome[] = [];
  for (const ref of refs) {
    const name = `${ref.repository}:${ref.tag}`;
    try {
      const head = await client.headManifest(ref.repository, ref.tag);
      if (head === null) {
        outcomes.push({ ref: name, result: 'gone', detail: null });
        continue;
      }
      const held = await holder(client, ref.repository, ref.tag, head.digest);
      if (held !== null) {
        outcomes.push({ ref: name, result: 'held', detail: held });
        continue;
      }
      const result = await client.deleteManifest(ref.repository, head.digest);
      store.markDeleted(ref.repository, head.digest, clock());
      log.info('registry_deleted', { repository: ref.repository, tag: ref.tag, digest: head.digest, result });
      outcomes.push({ ref: name, result, detail: null });
    } catch (error) {
      if (!(error instanceof RegistryError)) throw error;
      outcomes.push({ ref: name, result: 'failed', detail: errorText(error) });
    }
  }
  return outcomes;
}
