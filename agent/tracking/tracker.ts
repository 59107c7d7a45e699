// Turns Docker events and inventory passes into usage records in the store.
// All writes go through one queue: a reconcile working from a snapshot must not overwrite an event's update.
import { clampFuture, isAppliedEvent, nextCursor, shiftForJump, type ClockJump } from '../core/clock';
import { eventTimeMs, msToNano, type ContainerRef, type DockerEvent, type ImageRecord, type InventoryImage, type Layer } from '../core/image';
import { arrived, arrivedImageIds, observe, reconcile, releaseTags, removed, sameRecord, used } from '../core/usage';
import type { DockerClient } from '../docker/client';
import { DockerApiError, errorText } from '../errors';
import type { Log } from '../log';
import type { Store } from '../state/store';

/** What was read: stored records overlaid with what Docker reports now, its containers, and image layers. */
export interface Survey {
  records: Map<string, ImageRecord>;
  containers: ContainerRef[];
  /** Layers of live images, stored or freshly fetched. */
  layers: Map<string, Layer[]>;
  /** Uses per repository over every record, removed images too: a busy pipeline's new version is not a one-off. */
  repositoryUses: Map<string, number>;
  /** Labels of live images, from the listing. */
  labels: Map<string, Record<string, string>>;
  /** How many images Docker lists. */
  dockerImageCount: number;
}

/** What a survey found that the store does not hold yet: the writes a reconcile makes. */
interface SurveyWrites {
  records: ImageRecord[];
  layers: Array<[string, Layer[]]>;
}

/** A reconcile pass: what it read, and how many records it changed. */
export interface Reconciliation {
  survey: Survey;
  changedRecords: number;
}

/** Applies events and reconcile passes; each call is serialised with the others. */
export interface Tracker {
  /** Applies one event unless it was applied already (see isAppliedEvent); returns whether it was new. */
  applyEvent(event: DockerEvent): Promise<boolean>;
  /** Brings the store in line with Docker (records and layers) and returns what it saw. */
  reconcile(nowMs: number): Promise<Reconciliation>;
  /** What a reconcile would make of the records now, without writing anything. */
  preview(nowMs: number): Promise<Survey>;
  /**
   * Applies every event up to `nowMs` that the live stream may not have delivered yet, so a
   * decision taken next sees a pull or container that happened a moment ago. Returns the Docker
   * event time (nanoseconds) the records are now complete through, or null without a cursor.
   */
  catchUp(nowMs: number): Promise<string | null>;
  /** Moves the times recorded before a wall-clock jump by its skew; returns how many records moved. */
  absorbClockJump(jump: ClockJump): Promise<number>;
}

/** How many applied events are remembered by identity to recognise a duplicate. */
const RECENT_EVENTS = 10_000;

export interface TrackerDeps {
  docker: DockerClient;
  store: Store;
  log: Log;
}

/** Creates a tracker over a Docker client and a store. */
export function createTracker({ docker, store, log }: TrackerDeps): Tracker {
  const recentKeys = new Set<string>();
  let queue: Promise<unknown> = Promise.resolve();
  function exclusive<T>(task: () => Promise<T>): Promise<T> {
    const next = queue.then(task, task);
    queue = next.catch(() => undefined);
    return next;
  }

  /** A tag names one image at a time: a record that gains tags takes them from the others. */
  function withTagsReleased(record: ImageRecord): ImageRecord[] {
    if (record.repoTags.length === 0) return [record];
    return [record, ...releaseTags(store.tagHolders(record.repoTags), record)];
  }

  async function imageOfContainer(event: DockerEvent): Promise<InventoryImage | null> {
    // The container knows its image ID exactly; the reference in the event may have moved since.
    const imageId = await docker.containerImageId(event.actorId);
    const ref = imageId ?? event.attributes.image;
    return ref === undefined ? null : docker.inspectImage(ref);
  }

  /** What Docker says now about the event's image; null when it has none or the event needs nothing. */
  function lookupFor(event: DockerEvent): Promise<InventoryImage | null> {
    if (event.type === 'container') return imageOfContainer(event);
    // A delete is looked up too: Podman also says `delete` when removing one of an image's tags.
    return ['pull', 'import', 'load', 'tag', 'untag', 'delete'].includes(event.action) ? docker.inspectImage(event.actorId) : Promise.resolve(null);
  }

  function changesFor(event: DockerEvent, image: InventoryImage | null): ImageRecord[] {
    const atMs = eventTimeMs(event);
    if (event.type === 'container') {
      if (image === null) return [];
      const record = store.image(image.id);
      return [used(record?.removedMs === null ? record : observe(record, image, atMs), atMs, event.action === 'start')];
    }
    switch (event.action) {
      case 'pull':
      case 'import':
      case 'load':
        return image === null ? [] : withTagsReleased(arrived(store.image(image.id), image, atMs));
      case 'tag':
      case 'untag':
        return image === null ? [] : withTagsReleased(observe(store.image(image.id), image, atMs));
      case 'delete': {
        // Still there: a tag went, not the image (Podman's `delete` on untagging).
        if (image !== null) return withTagsReleased(observe(store.image(image.id), image, atMs));
        const record = store.image(event.actorId);
        return record === undefined ? [] : [removed(record, atMs)];
      }
      default:
        return [];
    }
  }

  async function survey(nowMs: number): Promise<{ survey: Survey; writes: SurveyWrites }> {
    const [inventory, containers] = await Promise.all([docker.listImages(), docker.listContainers()]);
    // Live records only: the survey's cost follows the images on disk, not the history kept.
    const records = store.liveImages();
    // Listings lack LastTagTime; only images new to the records need it, so only they are inspected.
    const arrivedIds = new Set(arrivedImageIds(records, inventory));
    // An image back after its removal keeps what its record knew (first seen, uses): looked up by ID.
    for (const id of arrivedIds) {
      const before = store.image(id);
      if (before !== undefined) records.set(id, before);
    }
    const detailed = await Promise.all(
      inventory.map(async (image) => (arrivedIds.has(image.id) ? ((await docker.inspectImage(image.id)) ?? image) : image)),
    );
    const changed = reconcile({ records, inventory: detailed, containers, nowMs, lastInventoryMs: store.lastInventoryMs() });
    for (const record of changed) records.set(record.id, record);
    // Times in the future mean the clock was set back while no agent ran to see it happen.
    const clamped = [...records.values()].map((r) => clampFuture(r, nowMs)).filter((r): r is ImageRecord => r !== null);
    if (clamped.length > 0) log.warn('clock_future_times_clamped', { images: clamped.length, nowMs });
    for (const record of clamped) {
      records.set(record.id, record);
      changed.push(record);
    }
    const layers = store.liveLayers();
    const newLayers: Array<[string, Layer[]]> = [];
    for (const image of inventory.filter((i) => !layers.has(i.id))) {
      const fetched = await docker.imageLayers(image.id);
      if (fetched === null) continue;
      layers.set(image.id, fetched);
      newLayers.push([image.id, fetched]);
    }
    const labels = new Map(inventory.map((i) => [i.id, i.labels]));
    const repositoryUses = store.repositoryUses();
    return { survey: { records, containers, layers, repositoryUses, labels, dockerImageCount: inventory.length }, writes: { records: changed, layers: newLayers } };
  }

  function applyEvent(event: DockerEvent): Promise<boolean> {
    // Docker is asked now, outside the queue, so a burst's lookups overlap; the answer is Docker's
    // state after the event either way. Records still change strictly in event order.
    const lookup = lookupFor(event).catch((error: unknown) => {
      // Docker answered, with an error: typically an image being removed while we asked (HTTP 500
      // "layer does not exist"). The stream is sound, so it is no disconnect; the event is applied
      // as if the image were gone, and the next reconcile sets any record right.
      if (!(error instanceof DockerApiError)) throw error;
      log.info('event_lookup_failed', { type: event.type, action: event.action, actor: event.actorId, error: errorText(error) });
      return null;
    });
    lookup.catch(() => undefined);
    return exclusive(async () => {
      const key = `${event.timeNano} ${event.type} ${event.action} ${event.actorId}`;
      const cursor = store.cursor();
      if (isAppliedEvent(key, event.timeNano, cursor, recentKeys)) return false;
      const changes = changesFor(event, await lookup);
      store.save(changes, nextCursor(cursor, event.timeNano));
      recentKeys.add(key);
      // Sets iterate in insertion order: the first key is the oldest.
      if (recentKeys.size > RECENT_EVENTS) recentKeys.delete(recentKeys.values().next().value as string);
      log.debug('docker_event', { type: event.type, action: event.action, actor: event.actorId, timeNano: event.timeNano, changed: changes.length });
      return true;
    });
  }

  return {
    applyEvent,

    reconcile: (nowMs) =>
      exclusive(async () => {
        const seen = await survey(nowMs);
        store.saveInventory(seen.writes.records, nowMs);
        store.saveLayers(seen.writes.layers);
        return { survey: seen.survey, changedRecords: seen.writes.records.length };
      }),

    preview: async (nowMs) => (await survey(nowMs)).survey,

    catchUp: async (nowMs) => {
      const cursor = store.cursor();
      if (cursor === null) return null;
      const untilNano = msToNano(nowMs);
      if (BigInt(untilNano) <= BigInt(cursor)) return cursor;
      for (const event of await docker.eventsBetween(cursor, untilNano)) await applyEvent(event);
      return untilNano;
    },

    absorbClockJump: (jump) =>
      exclusive(async () => {
        const before = [...store.images().values()];
        const moved = before.map((r) => shiftForJump(r, jump)).filter((r, i) => !sameRecord(r, before[i] as ImageRecord));
        const cursor = store.cursor();
        // A cursor left in the future would make Docker replay nothing and catch-ups stop early.
        const nowNano = msToNano(jump.nowWallMs);
        const cursorAfter = cursor !== null && BigInt(cursor) > BigInt(nowNano) ? nowNano : undefined;
        store.saveShifted(moved, jump, cursorAfter);
        return moved.length;
      }),
  };
}
