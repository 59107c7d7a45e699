// The registry side's state in the same SQLite file (migration 006): manifests with their pull
// counts, tags, the blobs and children each manifest references, and notification IDs applied.
import type { Database } from 'better-sqlite3';
import { tagLine, type ModelManifest, type PullRecord } from '../core/pull-model';
import { RegistryManifest, type BlobRef, type ManifestRefs, type RegistryEvent, type RegistryImage } from '../core/registry';

/** How long applied notification IDs are remembered: the registry retries for far less. */
const SEEN_EVENTS_MS = 7 * 86_400_000;
/** How long each pull is kept for the pull model (migration 007): a month of this registry's habits. */
export const PULL_LOG_MS = 30 * 86_400_000;

export interface RegistryStore {
  manifest(repository: string, digest: string): RegistryManifest | undefined;
  /** Records a manifest found by sync (first-seen time as push time) or its references; keeps known usage. */
  saveManifest(repository: string, digest: string, mediaType: string, seenMs: number, refs: ManifestRefs | null): void;
  /** Replaces a repository's tags with what the registry lists now. */
  setTags(repository: string, tags: Map<string, string>): void;
  /**
   * What one crawl of a repository found, in one transaction: its manifests (children before the
   * indexes that list them) and its tags now. Returns how many manifests were new to the state.
   */
  saveCrawl(repository: string, manifests: Array<{ digest: string; mediaType: string; refs: ManifestRefs }>, tags: Map<string, string>, seenMs: number): number;
  /** Repositories with live tags or manifests. */
  repositories(): string[];
  /** Manifests whose blobs are not recorded yet: sync reads them. */
  manifestsWithoutRefs(): Array<{ repository: string; digest: string }>;
  /** Whether a live manifest's blobs or children are recorded. */
  refsKnown(repository: string, digest: string): boolean;
  /** Applies a notification event once (by ID); false for one applied before. */
  applyEvent(event: RegistryEvent): boolean;
  /** Live manifests with their tags, untagged ones too. */
  images(): RegistryImage[];
  /** Pulls recorded at or after `sinceMs` (HEADs too when `headCounts`), for the pull model. */
  pulls(sinceMs: number, headCounts: boolean): PullRecord[];
  /** Manifests live at or after `sinceMs`, deleted ones too: the pushes the pull model counts. */
  modelManifests(sinceMs: number): ModelManifest[];
  /** Blobs of every live manifest, by `repository@digest`. */
  blobs(): Map<string, BlobRef[]>;
  /** Per blob, how many manifests the state knows have held it, deleted ones too. */
  blobHolders(): Map<string, number>;
  /** A named mark for this registry in the state's `meta` (e.g. "left read-only by gc"); null: none. */
  mark(name: string): string | null;
  setMark(name: string, value: string | null): void;
  /** The manifest is gone from the registry: deleted by us or found missing. */
  markDeleted(repository: string, digest: string, atMs: number): void;
  /** How many manifests the state knows were deleted at or after `sinceMs`. */
  deletedSince(sinceMs: number): number;
  /**
   * A registry that shows tags only (GitLab): live manifests of the repository no tag names are
   * gone as far as it is concerned (its own garbage collection takes them). Returns how many.
   */
  dropUntagged(repository: string, atMs: number): number;
  /** One tag deleted (GitLab deletes tag by tag); its manifest goes when it was the last tag. */
  untag(repository: string, tag: string, atMs: number): void;
  close(): void;
}

interface ManifestRow {
  repository: string;
  digest: string;
  media_type: string;
  size_bytes: number;
  pushed_ms: number;
  last_pull_ms: number | null;
  pulls: number;
  last_head_ms: number | null;
  heads: number;
  deleted_ms: number | null;
}

function fromRow(row: ManifestRow): RegistryManifest {
  return RegistryManifest.parse({
    repository: row.repository,
    digest: row.digest,
    mediaType: row.media_type,
    sizeBytes: row.size_bytes,
    pushedMs: row.pushed_ms,
    lastPullMs: row.last_pull_ms,
    pulls: row.pulls,
    lastHeadMs: row.last_head_ms,
    heads: row.heads,
    deletedMs: row.deleted_ms,
  });
}

/** The store for one registry (`registry`: its base URL) over an open state database. */
export function createRegistryStore(db: Database, registry: string): RegistryStore {
  const selectManifest = db.prepare('SELECT * FROM registry_manifests WHERE registry = ? AND repository = ? AND digest = ?');
  // A manifest seen again after its deletion (pushed anew) is live again, from this time.
  const insertManifest = db.prepare(`
    INSERT INTO registry_manifests (registry, repository, digest, media_type, pushed_ms)
    VALUES (@registry, @repository, @digest, @mediaType, @atMs)
    ON CONFLICT (registry, repository, digest) DO UPDATE SET
      media_type = excluded.media_type,
      pushed_ms = CASE WHEN deleted_ms IS NOT NULL THEN excluded.pushed_ms ELSE pushed_ms END,
      deleted_ms = NULL`);
  const markPushed = db.prepare('UPDATE registry_manifests SET pushed_ms = MAX(pushed_ms, @atMs) WHERE registry = @registry AND repository = @repository AND digest = @digest');
  const deleteBlobs = db.prepare('DELETE FROM registry_blobs WHERE registry = ? AND repository = ? AND manifest = ?');
  const insertBlob = db.prepare('INSERT OR REPLACE INTO registry_blobs (registry, repository, manifest, blob, size_bytes) VALUES (?, ?, ?, ?, ?)');
  const deleteChildren = db.prepare('DELETE FROM registry_children WHERE registry = ? AND repository = ? AND parent = ?');
  const insertChild = db.prepare('INSERT OR IGNORE INTO registry_children (registry, repository, parent, child) VALUES (?, ?, ?, ?)');
  const setRefs = db.prepare('UPDATE registry_manifests SET refs_known = 1, size_bytes = ? WHERE registry = ? AND repository = ? AND digest = ?');
  // An index's size is its children's: they are what pulling it on some platform downloads.
  const childrenBytes = db.prepare(`
    SELECT COALESCE(SUM(size_bytes), 0) AS bytes FROM registry_manifests
    WHERE registry = ? AND repository = ? AND digest IN (SELECT child FROM registry_children WHERE registry = ? AND repository = ? AND parent = ?)`);
  const selectRefsKnown = db.prepare('SELECT refs_known FROM registry_manifests WHERE registry = ? AND repository = ? AND digest = ? AND deleted_ms IS NULL');
  const selectParents = db.prepare(`
    SELECT c.repository, c.child, c.parent FROM registry_children c
    JOIN registry_manifests m ON m.registry = c.registry AND m.repository = c.repository AND m.digest = c.parent
    WHERE c.registry = ? AND m.deleted_ms IS NULL`);
  const withoutRefs = db.prepare('SELECT repository, digest FROM registry_manifests WHERE registry = ? AND refs_known = 0 AND deleted_ms IS NULL');
  const deleteRepoTags = db.prepare('DELETE FROM registry_tags WHERE registry = ? AND repository = ?');
  const upsertTag = db.prepare('INSERT OR REPLACE INTO registry_tags (registry, repository, tag, digest) VALUES (?, ?, ?, ?)');
  const selectTagDigest = db.prepare('SELECT digest FROM registry_tags WHERE registry = ? AND repository = ? AND tag = ?');
  const deleteDigestTags = db.prepare('DELETE FROM registry_tags WHERE registry = ? AND repository = ? AND digest = ?');
  const deleteTag = db.prepare('DELETE FROM registry_tags WHERE registry = ? AND repository = ? AND tag = ?');
  const selectRepositories = db.prepare(`
    SELECT repository FROM registry_manifests WHERE registry = ? AND deleted_ms IS NULL
    UNION SELECT repository FROM registry_tags WHERE registry = ? ORDER BY repository`);
  const selectLive = db.prepare('SELECT * FROM registry_manifests WHERE registry = ? AND deleted_ms IS NULL ORDER BY repository, digest');
  const selectTags = db.prepare('SELECT repository, tag, digest FROM registry_tags WHERE registry = ? ORDER BY repository, tag');
  const selectBlobs = db.prepare(`
    SELECT b.repository, b.manifest, b.blob, b.size_bytes FROM registry_blobs b
    JOIN registry_manifests m ON m.registry = b.registry AND m.repository = b.repository AND m.digest = b.manifest
    WHERE b.registry = ? AND m.deleted_ms IS NULL`);
  const selectHolders = db.prepare('SELECT blob, COUNT(*) AS holders FROM registry_blobs WHERE registry = ? GROUP BY blob');
  const selectMeta = db.prepare('SELECT value FROM meta WHERE key = ?');
  const upsertMeta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  const deleteMeta = db.prepare('DELETE FROM meta WHERE key = ?');
  const metaKey = (name: string) => `${name} ${registry}`;
  const insertSeen = db.prepare('INSERT OR IGNORE INTO registry_events_seen (id, at_ms) VALUES (?, ?)');
  const forgetSeen = db.prepare('DELETE FROM registry_events_seen WHERE at_ms < ?');
  const countPull = db.prepare(`
    UPDATE registry_manifests SET pulls = pulls + 1, last_pull_ms = MAX(COALESCE(last_pull_ms, 0), @atMs)
    WHERE registry = @registry AND repository = @repository AND digest = @digest`);
  const countHead = db.prepare(`
    UPDATE registry_manifests SET heads = heads + 1, last_head_ms = MAX(COALESCE(last_head_ms, 0), @atMs)
    WHERE registry = @registry AND repository = @repository AND digest = @digest`);
  const insertPull = db.prepare('INSERT INTO registry_pulls (registry, repository, digest, at_ms, head) VALUES (@registry, @repository, @digest, @atMs, @head)');
  const forgetPulls = db.prepare('DELETE FROM registry_pulls WHERE registry = ? AND at_ms < ?');
  const selectPulls = db.prepare('SELECT repository, digest, at_ms FROM registry_pulls WHERE registry = ? AND at_ms >= ? AND (head = 0 OR ?)');
  // Rows recorded before migration 009 have no line: their tags now (a NUL-separated list) give it.
  const selectModelManifests = db.prepare(`
    SELECT m.repository, m.digest, m.pushed_ms, m.deleted_ms, m.line,
      NOT EXISTS (SELECT 1 FROM registry_children c WHERE c.registry = m.registry AND c.repository = m.repository AND c.child = m.digest) AS top_level,
      CASE WHEN m.line IS NULL THEN (SELECT group_concat(t.tag, char(0)) FROM registry_tags t WHERE t.registry = m.registry AND t.repository = m.repository AND t.digest = m.digest) END AS tags
    FROM registry_manifests m WHERE m.registry = ? AND (m.deleted_ms IS NULL OR m.deleted_ms >= ?)`);
  // The first line seen sticks: a tag moved onto an old manifest later does not make it new in another line.
  const setLine = db.prepare('UPDATE registry_manifests SET line = ? WHERE registry = ? AND repository = ? AND digest = ? AND line IS NULL');
  const setDeleted = db.prepare('UPDATE registry_manifests SET deleted_ms = ? WHERE registry = ? AND repository = ? AND digest = ? AND deleted_ms IS NULL');
  const countDeletedSince = db.prepare('SELECT COUNT(*) AS n FROM registry_manifests WHERE registry = ? AND deleted_ms >= ?');

  function manifest(repository: string, digest: string): RegistryManifest | undefined {
    const row = selectManifest.get(registry, repository, digest) as ManifestRow | undefined;
    return row ? fromRow(row) : undefined;
  }

  function ensureManifest(repository: string, digest: string, mediaType: string, atMs: number): void {
    const known = manifest(repository, digest);
    if (known === undefined || known.deletedMs !== null || known.mediaType !== mediaType) insertManifest.run({ registry, repository, digest, mediaType, atMs });
  }

  const markDeleted = db.transaction((repository: string, digest: string, atMs: number) => {
    setDeleted.run(atMs, registry, repository, digest);
    deleteDigestTags.run(registry, repository, digest);
  });

  const selectUntagged = db.prepare(`
    SELECT digest FROM registry_manifests m WHERE registry = ? AND repository = ? AND deleted_ms IS NULL
    AND NOT EXISTS (SELECT 1 FROM registry_tags t WHERE t.registry = m.registry AND t.repository = m.repository AND t.digest = m.digest)`);
  const dropUntagged = db.transaction((repository: string, atMs: number): number => {
    const rows = selectUntagged.all(registry, repository) as Array<{ digest: string }>;
    for (const row of rows) setDeleted.run(atMs, registry, repository, row.digest);
    return rows.length;
  });
  const untag = db.transaction((repository: string, tag: string, atMs: number) => {
    deleteTag.run(registry, repository, tag);
    dropUntagged(repository, atMs);
  });

  const applyEvent = db.transaction((event: RegistryEvent): boolean => {
    if (insertSeen.run(event.id, event.atMs).changes === 0) return false;
    forgetSeen.run(event.atMs - SEEN_EVENTS_MS);
    const { repository } = event;
    // A pull by tag may come without its digest on other registries; the tag names it.
    const digest = event.digest ?? (event.tag === null ? undefined : (selectTagDigest.get(registry, repository, event.tag) as { digest: string } | undefined)?.digest);
    if (event.kind === 'delete') {
      if (digest !== undefined) markDeleted(repository, digest, event.atMs);
      else if (event.tag !== null) deleteTag.run(registry, repository, event.tag);
      return true;
    }
    if (digest === undefined) return true;
    if (event.kind === 'push') {
      ensureManifest(repository, digest, event.mediaType ?? 'application/octet-stream', event.atMs);
      markPushed.run({ registry, repository, digest, atMs: event.atMs });
      if (event.tag !== null) {
        upsertTag.run(registry, repository, event.tag, digest);
        setLine.run(tagLine([event.tag]), registry, repository, digest);
      }
      return true;
    }
    // A pull of a manifest the state never saw (pushed before the listener ran): known from now.
    if (manifest(repository, digest) === undefined) ensureManifest(repository, digest, event.mediaType ?? 'application/octet-stream', event.atMs);
    (event.kind === 'pull' ? countPull : countHead).run({ registry, repository, digest, atMs: event.atMs });
    insertPull.run({ registry, repository, digest, atMs: event.atMs, head: event.kind === 'head' ? 1 : 0 });
    forgetPulls.run(registry, event.atMs - PULL_LOG_MS);
    return true;
  });

  function saveManifest(repository: string, digest: string, mediaType: string, seenMs: number, refs: ManifestRefs | null): void {
    ensureManifest(repository, digest, mediaType, seenMs);
    if (refs === null) return;
    deleteBlobs.run(registry, repository, digest);
    for (const blob of refs.blobs) insertBlob.run(registry, repository, digest, blob.digest, blob.sizeBytes);
    deleteChildren.run(registry, repository, digest);
    for (const child of refs.children) insertChild.run(registry, repository, digest, child);
    const ownBytes = refs.blobs.reduce((sum, b) => sum + b.sizeBytes, 0);
    const bytes = refs.children.length > 0 ? (childrenBytes.get(registry, repository, registry, repository, digest) as { bytes: number }).bytes : ownBytes;
    setRefs.run(bytes, registry, repository, digest);
  }

  function setTags(repository: string, tags: Map<string, string>): void {
    deleteRepoTags.run(registry, repository);
    const byDigest = new Map<string, string[]>();
    for (const [tag, digest] of tags) {
      upsertTag.run(registry, repository, tag, digest);
      byDigest.set(digest, [...(byDigest.get(digest) ?? []), tag]);
    }
    for (const [digest, its] of byDigest) setLine.run(tagLine(its), registry, repository, digest);
  }

  // Transactions that read before they write take the write lock first (IMMEDIATE): in WAL mode a
  // deferred one fails at once with SQLITE_BUSY when `registry listen` wrote in between, whatever
  // the busy timeout.
  const saveManifestTx = db.transaction(saveManifest);
  const setTagsTx = db.transaction(setTags);
  const saveCrawl = db.transaction((repository: string, manifests: Array<{ digest: string; mediaType: string; refs: ManifestRefs }>, tags: Map<string, string>, seenMs: number): number => {
    let fresh = 0;
    for (const m of manifests) {
      const known = manifest(repository, m.digest);
      if (known === undefined || known.deletedMs !== null) fresh += 1;
      // Blobs of a digest never change: a known one is not written again.
      else if (known.mediaType === m.mediaType && (selectRefsKnown.get(registry, repository, m.digest) as { refs_known: number } | undefined)?.refs_known === 1) continue;
      saveManifest(repository, m.digest, m.mediaType, seenMs, m.refs);
    }
    setTags(repository, tags);
    return fresh;
  });

  return {
    manifest,
    saveManifest: (...args) => saveManifestTx.immediate(...args),
    setTags: (...args) => setTagsTx.immediate(...args),
    saveCrawl: (...args) => saveCrawl.immediate(...args),
    repositories: () => (selectRepositories.all(registry, registry) as Array<{ repository: string }>).map((r) => r.repository),
    manifestsWithoutRefs: () => withoutRefs.all(registry) as Array<{ repository: string; digest: string }>,
    refsKnown: (repository, digest) => (selectRefsKnown.get(registry, repository, digest) as { refs_known: number } | undefined)?.refs_known === 1,
    applyEvent: (event) => applyEvent.immediate(event),
    images: () => {
      const tagsOf = new Map<string, string[]>();
      for (const row of selectTags.all(registry) as Array<{ repository: string; tag: string; digest: string }>) {
        const key = `${row.repository}@${row.digest}`;
        tagsOf.set(key, [...(tagsOf.get(key) ?? []), row.tag]);
      }
      const parentsOf = new Map<string, string[]>();
      for (const row of selectParents.all(registry) as Array<{ repository: string; child: string; parent: string }>) {
        const key = `${row.repository}@${row.child}`;
        parentsOf.set(key, [...(parentsOf.get(key) ?? []), row.parent]);
      }
      return (selectLive.all(registry) as ManifestRow[]).map((row) => {
        const key = `${row.repository}@${row.digest}`;
        return { repository: row.repository, tags: tagsOf.get(key) ?? [], parents: parentsOf.get(key) ?? [], manifest: fromRow(row) };
      });
    },
    pulls: (sinceMs, headCounts) =>
      (selectPulls.all(registry, sinceMs, headCounts ? 1 : 0) as Array<{ repository: string; digest: string; at_ms: number }>).map((r) => ({ repository: r.repository, digest: r.digest, atMs: r.at_ms })),
    modelManifests: (sinceMs) =>
      (selectModelManifests.all(registry, sinceMs) as Array<{ repository: string; digest: string; pushed_ms: number; deleted_ms: number | null; top_level: number; line: string | null; tags: string | null }>).map((r) => ({
        repository: r.repository,
        digest: r.digest,
        pushedMs: r.pushed_ms,
        deletedMs: r.deleted_ms,
        topLevel: r.top_level === 1,
        line: r.line ?? (r.tags === null ? null : tagLine(r.tags.split('\0'))),
      })),
    blobs: () => {
      const byManifest = new Map<string, BlobRef[]>();
      for (const row of selectBlobs.all(registry) as Array<{ repository: string; manifest: string; blob: string; size_bytes: number }>) {
        const k = `${row.repository}@${row.manifest}`;
        byManifest.set(k, [...(byManifest.get(k) ?? []), { digest: row.blob, sizeBytes: row.size_bytes }]);
      }
      return byManifest;
    },
    blobHolders: () => new Map((selectHolders.all(registry) as Array<{ blob: string; holders: number }>).map((row) => [row.blob, row.holders])),
    markDeleted: (repository, digest, atMs) => markDeleted.immediate(repository, digest, atMs),
    deletedSince: (sinceMs) => (countDeletedSince.get(registry, sinceMs) as { n: number }).n,
    dropUntagged: (repository, atMs) => dropUntagged.immediate(repository, atMs),
    untag: (repository, tag, atMs) => untag.immediate(repository, tag, atMs),
    mark: (name) => (selectMeta.get(metaKey(name)) as { value: string } | undefined)?.value ?? null,
    setMark: (name, value) => {
      if (value === null) deleteMeta.run(metaKey(name));
      else upsertMeta.run(metaKey(name), value);
    },
    close: () => db.close(),
  };
}
