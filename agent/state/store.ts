// The agent's durable state in SQLite (WAL): image usage records, layers, evictions and the Docker
// event cursor.
import { chmodSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { z } from 'zod';
import { ActiveOrder } from '../core/auto';
import { afterJumpBand, shiftedTime, type ClockJump } from '../core/clock';
import { EvictionRecord } from '../core/eviction';
import { HistoryEntry, historyEntries, type ChangeSource, type HistoryImage } from '../core/history';
import { ImageRecord, repositoriesOf, type Layer } from '../core/image';
import { CLASSES, REPOSITORY_CLASSES, ReuseModel } from '../core/reuse-model';
import { errorText, StateError } from '../errors';
import type { Log } from '../log';
import { migrate, readMigrations } from './migrate';

const CURSOR_KEY = 'event_cursor_nano';
const INVENTORY_KEY = 'last_inventory_ms';
const ACTIVE_ORDER_KEY = 'active_order';
const REUSE_MODEL_KEY = 'reuse_model';
const StoredReuseModel = z.object({ learnedMs: z.number(), model: ReuseModel.nullable() });
/** Set when compaction drops history for the window or the cap: replays cannot reach before it. */
const HISTORY_DROPPED_KEY = 'history_dropped_before_ms';

/** How much history is kept, and since when it is whole. */
export interface HistoryBounds {
  events: number;
  firstMs: number | null;
  /** Entries before this were compacted away; null if none ever were. */
  droppedBeforeMs: number | null;
}

export interface Compaction {
  events: number;
  images: number;
}

/** Persistence operations the agent needs; every write is one transaction. */
export interface Store {
  /** All records, removed ones included, keyed by image ID: for rare passes (a clock jump), never per check. */
  images(): Map<string, ImageRecord>;
  /** Records of live images, by image ID: what a survey reads, so its cost follows the images on disk, not the history kept. */
  liveImages(): Map<string, ImageRecord>;
  /** Uses per repository over every record, removed images too (see `repositoryUses`), summed without building records. */
  repositoryUses(): Map<string, number>;
  image(id: string): ImageRecord | undefined;
  /** Live records holding any of these tags, found by index (a tag event must not read every record). */
  tagHolders(tags: string[]): ImageRecord[];
  /** Writes records and, when given, the event cursor, atomically; `source` says what history they add (see historyEntries). */
  save(records: ImageRecord[], cursorNano?: string, source?: ChangeSource): void;
  /** Writes what an inventory pass begun at `atMs` changed, and that time, atomically. */
  saveInventory(records: ImageRecord[], atMs: number): void;
  /**
   * When the last saved inventory pass began; null before the first. Not moved by clock jumps: a
   * time left ahead of the clock only dates an arrival later, and arrivals are clamped to now.
   */
  lastInventoryMs(): number | null;
  /**
   * Writes records moved by a clock jump and moves the history recorded before it by the same
   * skew: a jump is no pull or use, and the gaps between jobs stay what they were.
   */
  saveShifted(records: ImageRecord[], jump: ClockJump, cursorNano?: string): void;
  /** Layers of live images that have them stored, by image ID. */
  liveLayers(): Map<string, Layer[]>;
  saveLayers(entries: Array<[string, Layer[]]>): void;
  recordEviction(eviction: EvictionRecord): void;
  /** Evictions, oldest first. */
  evictions(): EvictionRecord[];
  /** Writes what is pending (after a full disk); false while writes still fail. */
  flush(): boolean;
  /** Nanosecond timestamp of the last Docker event applied, or null before the first. */
  cursor(): string | null;
  /** History entries at or after `sinceMs`, oldest first. Every `save` appends what its records' changes say happened. */
  history(sinceMs: number): HistoryEntry[];
  /** Records and layers of the images history names at or after `sinceMs`. */
  historyImages(sinceMs: number): Map<string, HistoryImage>;
  historyBounds(): HistoryBounds;
  /**
   * Deletes history before `cutoffMs` and beyond the newest `maxEvents`, then the records, layers
   * and tags of removed images no remaining entry names: the store stays bounded by the window.
   */
  compactHistory(cutoffMs: number, maxEvents: number): Compaction;
  /** The order `auto` chose last, and why; null before the first choice. */
  activeOrder(): ActiveOrder | null;
  saveActiveOrder(active: ActiveOrder): void;
  /** The `learned` order's model and when it was learned; null before any. */
  reuseModel(): { learnedMs: number; model: ReuseModel | null } | null;
  saveReuseModel(learnedMs: number, model: ReuseModel | null): void;
  close(): void;
}

interface ImageRow {
  id: string;
  repo_tags: string;
  repo_digests: string;
  size_bytes: number;
  created_ms: number | null;
  first_seen_ms: number;
  last_pulled_ms: number | null;
  last_used_ms: number | null;
  use_count: number;
  use_score: number;
  removed_ms: number | null;
}

function fromRow(row: ImageRow): ImageRecord {
  return ImageRecord.parse({
    id: row.id,
    repoTags: JSON.parse(row.repo_tags),
    repoDigests: JSON.parse(row.repo_digests),
    sizeBytes: row.size_bytes,
    createdMs: row.created_ms,
    firstSeenMs: row.first_seen_ms,
    lastPulledMs: row.last_pulled_ms,
    lastUsedMs: row.last_used_ms,
    useCount: row.use_count,
    useScore: row.use_score,
    removedMs: row.removed_ms,
  });
}

function createStore(db: Database, log: Log): Store {
  const selectAll = db.prepare('SELECT * FROM images');
  const selectLive = db.prepare('SELECT * FROM images WHERE removed_ms IS NULL');
  const selectUses = db.prepare('SELECT id, repo_tags, use_count FROM images WHERE use_count > 0');
  const selectOne = db.prepare('SELECT * FROM images WHERE id = ?');
  const upsert = db.prepare(`
    INSERT INTO images (id, repo_tags, repo_digests, size_bytes, created_ms, first_seen_ms,
                        last_pulled_ms, last_used_ms, use_count, use_score, removed_ms)
    VALUES (@id, @repoTags, @repoDigests, @sizeBytes, @createdMs, @firstSeenMs,
            @lastPulledMs, @lastUsedMs, @useCount, @useScore, @removedMs)
    ON CONFLICT (id) DO UPDATE SET
      repo_tags = excluded.repo_tags, repo_digests = excluded.repo_digests,
      size_bytes = excluded.size_bytes, created_ms = excluded.created_ms,
      first_seen_ms = excluded.first_seen_ms, last_pulled_ms = excluded.last_pulled_ms,
      last_used_ms = excluded.last_used_ms, use_count = excluded.use_count, use_score = excluded.use_score,
      removed_ms = excluded.removed_ms`);
  const selectTagHolders = db.prepare(`
    -- CROSS JOIN keeps image_tags outermost: the planner would otherwise walk every live image.
    SELECT DISTINCT images.* FROM image_tags CROSS JOIN images ON images.id = image_tags.image_id
    WHERE image_tags.tag IN (SELECT value FROM json_each(?)) AND images.removed_ms IS NULL`);
  const deleteTags = db.prepare('DELETE FROM image_tags WHERE image_id = ?');
  const insertTag = db.prepare('INSERT OR IGNORE INTO image_tags (tag, image_id) VALUES (?, ?)');
  const selectMeta = db.prepare('SELECT value FROM meta WHERE key = ?');
  const upsertMeta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');

  const selectLiveLayers = db.prepare(`
    SELECT image_id, chain_id, size_bytes FROM image_layers
    WHERE image_id IN (SELECT id FROM images WHERE removed_ms IS NULL) ORDER BY image_id, position`);
  const deleteLayers = db.prepare('DELETE FROM image_layers WHERE image_id = ?');
  const insertLayer = db.prepare('INSERT INTO image_layers (image_id, position, chain_id, size_bytes) VALUES (?, ?, ?, ?)');
  const insertEviction = db.prepare(`
    INSERT INTO evictions (at_ms, image_id, tags, last_used_ms, estimated_bytes, measured_bytes, mode, dry_run)
    VALUES (@atMs, @imageId, @tags, @lastUsedMs, @estimatedBytes, @measuredBytes, @mode, @dryRun)`);
  const selectEvictions = db.prepare('SELECT * FROM evictions ORDER BY id');
  const insertHistory = db.prepare('INSERT INTO history (at_ms, kind, image_id, repo_tags) VALUES (@atMs, @kind, @imageId, @repoTags)');
  const selectHistoryRaw = db.prepare('SELECT at_ms, kind, image_id, repo_tags FROM history WHERE at_ms >= ? ORDER BY seq').raw(true);
  // The window's images by its time index: left to itself, SQLite walked all of history by the
  // image index, a row lookup each, to test at_ms (twice as slow on a month of 200,000 events).
  const selectHistoryImages = db.prepare('SELECT * FROM images WHERE id IN (SELECT image_id FROM history INDEXED BY history_at WHERE at_ms >= ?)');
  const selectHistoryLayers = db.prepare(`
    SELECT image_id, chain_id, size_bytes FROM image_layers
    WHERE image_id IN (SELECT image_id FROM history INDEXED BY history_at WHERE at_ms >= ?) ORDER BY image_id, position`);
  const historyStats = db.prepare('SELECT COUNT(*) AS events, MIN(at_ms) AS first_ms, MAX(seq) AS last_seq FROM history');
  const deleteHistoryBefore = db.prepare('DELETE FROM history WHERE at_ms < ?');
  const shiftHistory = db.prepare('UPDATE history SET at_ms = at_ms + @skewMs WHERE at_ms < @fromMs OR at_ms > @toMs');
  const deleteHistoryUpTo = db.prepare('DELETE FROM history WHERE seq <= ?');
  // Removed images no history names any more: their rows only cost every survey a read. Only those
  // removed before the window can be such (their removal is an entry), so the index bounds the work.
  const orphanCondition =
    'SELECT id FROM images WHERE removed_ms IS NOT NULL AND removed_ms < @cutoffMs AND NOT EXISTS (SELECT 1 FROM history WHERE history.image_id = images.id)';
  const deleteOrphanLayers = db.prepare(`DELETE FROM image_layers WHERE image_id IN (${orphanCondition})`);
  const deleteOrphanTags = db.prepare(`DELETE FROM image_tags WHERE image_id IN (${orphanCondition})`);
  const deleteOrphanImages = db.prepare(`DELETE FROM images WHERE id IN (${orphanCondition})`);

  // Writes land in `pending` first and go to disk in one transaction. When the disk is full they
  // wait there (reads see them) and are retried at the next write or flush, so a full disk never
  // stops the agent from evicting: it only delays persisting what it learned.
  const pending = {
    images: new Map<string, ImageRecord>(),
    layers: new Map<string, Layer[]>(),
    evictions: [] as EvictionRecord[],
    history: [] as HistoryEntry[],
    /** Clock jumps whose shift of the stored history is not written yet; `history` is shifted already. */
    jumps: [] as ClockJump[],
    cursor: undefined as string | undefined,
    inventoryMs: undefined as number | undefined,
  };
  let deferred = false;
  const isEmpty = () => pending.images.size === 0 && pending.layers.size === 0 && pending.evictions.length === 0 && pending.history.length === 0 && pending.jumps.length === 0 && pending.cursor === undefined && pending.inventoryMs === undefined;

  const writePending = db.transaction(() => {
    for (const r of pending.images.values()) {
      upsert.run({ ...r, repoTags: JSON.stringify(r.repoTags), repoDigests: JSON.stringify(r.repoDigests) });
      deleteTags.run(r.id);
      if (r.removedMs === null) for (const tag of r.repoTags) insertTag.run(tag, r.id);
    }
    for (const [imageId, layers] of pending.layers) {
      deleteLayers.run(imageId);
      layers.forEach((layer, position) => insertLayer.run(imageId, position, layer.chainId, layer.sizeBytes));
    }
    for (const e of pending.evictions) insertEviction.run({ ...e, tags: JSON.stringify(e.tags), dryRun: e.dryRun ? 1 : 0 });
    // Stored rows predate every pending entry: they are shifted first, then the entries go in.
    for (const jump of pending.jumps) {
      shiftHistory.run({ skewMs: jump.skewMs, ...afterJumpBand(jump) });
      const dropped = meta(HISTORY_DROPPED_KEY);
      if (dropped !== null) upsertMeta.run(HISTORY_DROPPED_KEY, String(shiftedTime(Number(dropped), jump)));
    }
    for (const h of pending.history) insertHistory.run({ ...h, repoTags: JSON.stringify(h.repoTags) });
    if (pending.cursor !== undefined) upsertMeta.run(CURSOR_KEY, pending.cursor);
    if (pending.inventoryMs !== undefined) upsertMeta.run(INVENTORY_KEY, String(pending.inventoryMs));
  });

  function flush(): boolean {
    if (isEmpty()) return true;
    const counts = { images: pending.images.size, layers: pending.layers.size, evictions: pending.evictions.length };
    try {
      writePending();
    } catch (error) {
      if (!isWriteFailure(error)) throw error;
      if (!deferred) log.error('state_write_deferred', { error: errorText(error), pending: counts, action: 'keeping state in memory, retrying at every check' });
      deferred = true;
      return false;
    }
    pending.images.clear();
    pending.layers.clear();
    pending.evictions.length = 0;
    pending.history.length = 0;
    pending.jumps.length = 0;
    pending.cursor = undefined;
    pending.inventoryMs = undefined;
    if (deferred) log.warn('state_write_recovered', { written: counts });
    deferred = false;
    return true;
  }

  function image(id: string): ImageRecord | undefined {
    const waiting = pending.images.get(id);
    if (waiting) return waiting;
    const row = selectOne.get(id) as ImageRow | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Records and the history their changes add, pending until the next flush. */
  function stage(records: ImageRecord[], source: ChangeSource): void {
    for (const r of records) {
      pending.history.push(...historyEntries(image(r.id), r, source));
      pending.images.set(r.id, r);
    }
  }

  function meta(key: string): string | null {
    return (selectMeta.get(key) as { value: string } | undefined)?.value ?? null;
  }

  return {
    images: () => {
      const all = new Map((selectAll.all() as ImageRow[]).map((row) => [row.id, fromRow(row)]));
      for (const [id, record] of pending.images) all.set(id, record);
      return all;
    },
    liveImages: () => {
      const live = new Map((selectLive.all() as ImageRow[]).map((row) => [row.id, fromRow(row)]));
      for (const [id, record] of pending.images) {
        if (record.removedMs === null) live.set(id, record);
        else live.delete(id);
      }
      return live;
    },
    repositoryUses: () => {
      // Rows are iterated one at a time: a year of removed images must not become a year of objects.
      const uses = new Map<string, number>();
      const add = (repoTags: string[], useCount: number) => {
        for (const repo of repositoriesOf({ repoTags })) uses.set(repo, (uses.get(repo) ?? 0) + useCount);
      };
      for (const row of selectUses.iterate() as Iterable<{ id: string; repo_tags: string; use_count: number }>) {
        if (!pending.images.has(row.id)) add(JSON.parse(row.repo_tags) as string[], row.use_count);
      }
      for (const record of pending.images.values()) add(record.repoTags, record.useCount);
      return uses;
    },
    image,
    tagHolders: (tags) => {
      if (tags.length === 0) return [];
      const wanted = new Set(tags);
      const holds = (r: ImageRecord) => r.removedMs === null && r.repoTags.some((t) => wanted.has(t));
      // Records waiting in `pending` are newer than their rows.
      const stored = (selectTagHolders.all(JSON.stringify(tags)) as ImageRow[]).map(fromRow).filter((r) => !pending.images.has(r.id));
      return [...stored, ...[...pending.images.values()].filter(holds)];
    },
    save: (records, cursorNano, source = 'event') => {
      stage(records, source);
      if (cursorNano !== undefined) pending.cursor = cursorNano;
      flush();
    },
    saveInventory: (records, atMs) => {
      stage(records, 'inventory');
      pending.inventoryMs = atMs;
      flush();
    },
    lastInventoryMs: () => {
      const stored = pending.inventoryMs ?? meta(INVENTORY_KEY);
      return stored === null ? null : Number(stored);
    },
    saveShifted: (records, jump, cursorNano) => {
      for (const r of records) pending.images.set(r.id, r);
      pending.history = pending.history.map((h) => ({ ...h, atMs: shiftedTime(h.atMs, jump) }));
      pending.jumps.push(jump);
      if (cursorNano !== undefined) pending.cursor = cursorNano;
      flush();
    },
    liveLayers: () => {
      const byImage = new Map<string, Layer[]>();
      for (const row of selectLiveLayers.all() as Array<{ image_id: string; chain_id: string; size_bytes: number }>) {
        const layers = byImage.get(row.image_id) ?? [];
        layers.push({ chainId: row.chain_id, sizeBytes: row.size_bytes });
        byImage.set(row.image_id, layers);
      }
      for (const [id, layers] of pending.layers) if (pending.images.get(id)?.removedMs == null) byImage.set(id, layers);
      for (const [id, record] of pending.images) if (record.removedMs !== null) byImage.delete(id);
      return byImage;
    },
    saveLayers: (entries) => {
      for (const [id, layers] of entries) pending.layers.set(id, layers);
      flush();
    },
    recordEviction: (e) => {
      pending.evictions.push(e);
      flush();
    },
    flush,
    evictions: () =>
      (selectEvictions.all() as Array<Record<string, unknown>>).map((row) =>
        EvictionRecord.parse({
          atMs: row.at_ms,
          imageId: row.image_id,
          tags: JSON.parse(row.tags as string),
          lastUsedMs: row.last_used_ms,
          estimatedBytes: row.estimated_bytes,
          measuredBytes: row.measured_bytes,
          mode: row.mode,
          dryRun: row.dry_run === 1,
        }),
      ).concat(pending.evictions),
    cursor: () => pending.cursor ?? meta(CURSOR_KEY),
    history: (sinceMs) => {
      flush();
      // Rows as arrays, one at a time: a month is 100,000-200,000 rows, and row objects cost a
      // third of its read; most are uses, whose tags are '[]'.
      const entries: HistoryEntry[] = [];
      for (const [atMs, kind, imageId, tags] of selectHistoryRaw.iterate(sinceMs) as Iterable<[number, string, string, string]>) {
        entries.push(HistoryEntry.parse({ atMs, kind, imageId, repoTags: tags === '[]' ? [] : JSON.parse(tags) }));
      }
      return entries.concat(pending.history.filter((h) => h.atMs >= sinceMs));
    },
    historyImages: (sinceMs) => {
      flush();
      const layers = new Map<string, Layer[]>();
      for (const row of selectHistoryLayers.all(sinceMs) as Array<{ image_id: string; chain_id: string; size_bytes: number }>) {
        layers.set(row.image_id, [...(layers.get(row.image_id) ?? []), { chainId: row.chain_id, sizeBytes: row.size_bytes }]);
      }
      const found = new Map<string, HistoryImage>();
      for (const row of selectHistoryImages.all(sinceMs) as ImageRow[]) {
        const record = pending.images.get(row.id) ?? fromRow(row);
        found.set(row.id, { record, layers: pending.layers.get(row.id) ?? layers.get(row.id) ?? null });
      }
      return found;
    },
    historyBounds: () => {
      const stats = historyStats.get() as { events: number; first_ms: number | null };
      const dropped = meta(HISTORY_DROPPED_KEY);
      return { events: stats.events + pending.history.length, firstMs: stats.first_ms, droppedBeforeMs: dropped === null ? null : Number(dropped) };
    },
    compactHistory: (cutoffMs, maxEvents) => {
      if (!flush()) return { events: 0, images: 0 };
      return db.transaction(() => {
        let events = deleteHistoryBefore.run(cutoffMs).changes;
        const stats = historyStats.get() as { events: number; last_seq: number | null };
        if (stats.events > maxEvents && stats.last_seq !== null) events += deleteHistoryUpTo.run(stats.last_seq - maxEvents).changes;
        if (events > 0) {
          const first = (historyStats.get() as { first_ms: number | null }).first_ms;
          upsertMeta.run(HISTORY_DROPPED_KEY, String(first ?? cutoffMs));
        }
        deleteOrphanLayers.run({ cutoffMs });
        deleteOrphanTags.run({ cutoffMs });
        const images = deleteOrphanImages.run({ cutoffMs }).changes;
        return { events, images };
      })();
    },
    activeOrder: () => {
      const text = meta(ACTIVE_ORDER_KEY);
      if (text === null) return null;
      const parsed = ActiveOrder.safeParse(JSON.parse(text));
      // An order this version does not know (a downgrade) is no choice at all: `auto` chooses again.
      return parsed.success ? parsed.data : null;
    },
    saveActiveOrder: (active) => {
      upsertMeta.run(ACTIVE_ORDER_KEY, JSON.stringify(active));
    },
    reuseModel: () => {
      const text = meta(REUSE_MODEL_KEY);
      if (text === null) return null;
      const parsed = StoredReuseModel.safeParse(JSON.parse(text));
      // A model of another shape (another version's classes) is none: it is learned again.
      if (!parsed.success) return null;
      const { model } = parsed.data;
      return model === null || (model.idlePerUseMs.length === CLASSES && model.repositoryIdlePerUseMs.length === REPOSITORY_CLASSES) ? parsed.data : null;
    },
    saveReuseModel: (learnedMs, model) => {
      upsertMeta.run(REUSE_MODEL_KEY, JSON.stringify({ learnedMs, model }));
    },
    close: () => {
      if (!flush()) log.error('state_unsaved_on_exit', { images: pending.images.size, evictions: pending.evictions.length });
      db.close();
    },
  };
}

/**
 * SQLite's own default page cache, 2 MiB a connection. better-sqlite3 builds SQLite with 16 MiB,
 * and a connection fills it as soon as it scans a big table (counting a year of history once is
 * enough), then holds it as long as it lives: 13-17 MiB more idle RSS for the agent with a year kept.
 * The survey's reads go by index, and the OS caches the file anyway.
 */
const CACHE_PRAGMA = 'cache_size = -2000';

/**
 * integrity_check on a connection of its own, closed right after: the check fills SQLite's memory
 * in proportion to the file, and the agent's connection would hold on to it for as long as it runs.
 */
function checkIntegrity(path: string): void {
  if (!existsSync(path)) return;
  const checker = new BetterSqlite3(path, { fileMustExist: true });
  try {
    checker.pragma(CACHE_PRAGMA);
    const check = checker.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new Error(`integrity_check: ${String(check)}`);
  } finally {
    checker.close();
  }
}

/** Opens the database, checks it and applies migrations; throws on any damage. */
function openChecked(path: string, nowMs: number): Database {
  checkIntegrity(path);
  const db = new BetterSqlite3(path);
  try {
    db.pragma(CACHE_PRAGMA);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    // In WAL mode, NORMAL syncs at checkpoints, not at every commit: a power cut may lose the last
    // events (the next reconcile restores them from Docker's inventory) but never damages the file.
    db.pragma('synchronous = NORMAL');
    migrate(db, readMigrations(), nowMs);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * The history since `sinceMs` and the images it names, read from the state file on a read-only
 * connection of its own (WAL lets it read beside the agent's writes). What the agent holds back
 * on a full disk is not there yet; it is flushed at every check.
 */
export function readHistory(path: string, sinceMs: number, log: Log): { entries: HistoryEntry[]; images: Map<string, HistoryImage> } {
  const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma(CACHE_PRAGMA);
    const store = createStore(db, log);
    return { entries: store.history(sinceMs), images: store.historyImages(sinceMs) };
  } finally {
    db.close();
  }
}

/** The disk (or its quota) is full, or the device refuses writes: worth retrying later. */
function isWriteFailure(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR'));
}

/** Only damage is repaired by moving the file aside; a permission or disk problem must stay visible. */
function isDamage(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    code === 'SQLITE_CORRUPT' ||
    code === 'SQLITE_NOTADB' ||
    (error instanceof Error && (error.message.startsWith('integrity_check') || error instanceof SyntaxError))
  );
}

export interface OpenedStore {
  store: Store;
  /** Where a damaged database was moved, when it was; the caller rebuilds from Docker's inventory. */
  movedAsideTo: string | null;
}

/**
 * A store that lives in memory only, for one-shot commands when no state database exists: they
 * judge by Docker's data alone and must not create a database (a mistyped --state would otherwise
 * leave one behind, and look like an agent that never saw a pull).
 */
export function openMemoryStore(log: Log, nowMs: number): Store {
  const db = new BetterSqlite3(':memory:');
  migrate(db, readMigrations(), nowMs);
  return createStore(db, log);
}

/** Opens the state DB (see openDatabase) as the image store. */
export function openStore(path: string, log: Log, nowMs: number): OpenedStore {
  const { db, movedAsideTo } = openDatabase(path, log, nowMs);
  return { store: createStore(db, log), movedAsideTo };
}

/**
 * Opens (creating if needed) the state database with every migration applied; a damaged one is
 * renamed aside with a timestamp and started afresh. The registry side opens the same file.
 */
export function openDatabase(path: string, log: Log, nowMs: number): { db: Database; movedAsideTo: string | null } {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  } catch (error) {
    throw new StateError(path, `cannot create its directory: ${errorText(error)}`);
  }
  let movedAsideTo: string | null = null;
  let db: Database;
  try {
    db = openChecked(path, nowMs);
  } catch (error) {
    if (!isDamage(error)) throw new StateError(path, errorText(error));
    movedAsideTo = `${path}.corrupt-${new Date(nowMs).toISOString().replace(/[:.]/g, '-')}`;
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(path + suffix)) renameSync(path + suffix, movedAsideTo + suffix);
    }
    log.error('state_db_corrupt', { path, movedTo: movedAsideTo, error: errorText(error), action: 'rebuilding from Docker inventory' });
    try {
      db = openChecked(path, nowMs);
    } catch (retryError) {
      throw new StateError(path, errorText(retryError));
    }
  }
  chmodSync(path, 0o600);
  return { db, movedAsideTo };
}
