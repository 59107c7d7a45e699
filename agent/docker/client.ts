// The one place that talks to the Docker Engine API (through dockerode). Returns domain types only,
// and tells failures apart by HTTP status (404 gone, 409 in use), never by message text.
import { createHash } from 'node:crypto';
// Before dockerode: its modem must find ssh2's stand-in.
import './without-ssh';
import Dockerode from 'dockerode';
import { z } from 'zod';
import { ContainerInfo } from '../core/containers';
import { ContainerRef, DockerEvent, splitReference, type InventoryImage, type Layer } from '../core/image';
import { DockerApiError, DockerUnreachableError, errorText } from '../errors';

/** The Docker operations the agent needs. */
export interface DockerClient {
  readonly host: string;
  /** DockerRootDir: the filesystem whose free space we guard. */
  dataRoot(): Promise<string>;
  /** The engine on this host: `docker info` ID and data root (daemons sharing a key.json share the ID). One agent per engine. */
  engineId(): Promise<string>;
  /** All images; `lastTagTimeMs` is null here (only inspect reports it). */
  listImages(): Promise<InventoryImage[]>;
  /** An image by ID or reference, or null when Docker has no such image. */
  inspectImage(ref: string): Promise<InventoryImage | null>;
  /** All containers, running or stopped. */
  listContainers(): Promise<ContainerRef[]>;
  /** The image's layers by chain ID with their sizes, or null when Docker has no such image. */
  imageLayers(imageId: string): Promise<Layer[] | null>;
  /** Removes an image reference, never forced: `conflict` (409) means in use or referenced elsewhere. */
  removeImage(ref: string): Promise<'removed' | 'gone' | 'conflict'>;
  /** Puts a `repo:tag` back on an image (undoing a partial removal). */
  tagImage(imageId: string, repoTag: string): Promise<void>;
  /** All containers with state, finish time and labels, for container hygiene. */
  listContainerInfo(): Promise<ContainerInfo[]>;
  /** Removes a stopped container, never forced: `conflict` (409) means it is running or being removed. */
  removeContainer(id: string, removeVolumes: boolean): Promise<'removed' | 'gone' | 'conflict'>;
  /** Prunes the builder cache down to `keepStorageBytes` (0: all unused); returns the bytes reclaimed. */
  pruneBuildCache(keepStorageBytes: number): Promise<number>;
  /** The image ID a container was created from, or null when the container is gone. */
  containerImageId(containerId: string): Promise<string | null>;
  /**
   * Subscribes to image and container events since `sinceNano` (replayed from Docker's bounded
   * buffer), then live ones; resolves once Docker accepted the subscription.
   */
  events(sinceNano: string | null, signal: AbortSignal): Promise<AsyncIterable<DockerEvent>>;
  /** The tracked events from `sinceNano` up to `untilNano`, as a finished list. */
  eventsBetween(sinceNano: string, untilNano: string): Promise<DockerEvent[]>;
}

/** Longest wait for a bounded events query (catch-up before a removal). */
const EVENTS_BETWEEN_TIMEOUT_MS = 3000;

/** The event actions the agent subscribes to; Docker delivers no others. */
export const TRACKED_EVENTS = ['pull', 'tag', 'untag', 'delete', 'import', 'load', 'create', 'start'];

/** An image or container event the tracker applies; the stream carries every other kind too. */
export function isTracked(event: DockerEvent): boolean {
  return (event.type === 'image' || event.type === 'container') && TRACKED_EVENTS.includes(event.action);
}

/** dockerode connection options from a DOCKER_HOST-style URL. */
export function connectionOptions(host: string): Dockerode.DockerOptions {
  const url = new URL(host);
  if (url.protocol === 'unix:') return { socketPath: url.pathname };
  if (url.protocol === 'tcp:' || url.protocol === 'http:') {
    return { host: url.hostname, port: Number(url.port || 2375), protocol: 'http' };
  }
  throw new DockerUnreachableError(host, `unsupported scheme '${url.protocol}' (use unix:// or tcp://)`);
}

function statusOf(error: unknown): number | null {
  const status = (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' ? status : null;
}

/** Docker's tag placeholders for untagged images. */
function realNames(names: string[] | null | undefined): string[] {
  return (names ?? []).filter((name) => !name.startsWith('<none>'));
}

function timeMs(iso: string | undefined): number | null {
  const ms = iso ? Date.parse(iso) : NaN;
  // Go's zero time (0001-01-01) means "never tagged".
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

const RawEvent = z.object({
  Type: z.string(),
  Action: z.string(),
  Actor: z.object({ ID: z.string(), Attributes: z.record(z.string(), z.string()).nullish() }),
});

/** Parses one line of the events stream; null for lines that are not a tracked event. */
export function parseEventLine(line: string): DockerEvent | null {
  const raw = RawEvent.safeParse(safeJson(line));
  // timeNano exceeds a double's precision: read its digits from the text itself.
  const timeNano = /"timeNano"\s*:\s*(\d+)/.exec(line)?.[1];
  if (!raw.success || timeNano === undefined) return null;
  const attributes = raw.data.Actor.Attributes ?? {};
  // Podman's pull event names the image by reference only (empty Actor.ID, Attributes.name).
  const actorId = raw.data.Actor.ID === '' && raw.data.Type === 'image' ? (attributes.name ?? '') : raw.data.Actor.ID;
  const event = DockerEvent.safeParse({ type: raw.data.Type, action: raw.data.Action, actorId, attributes, timeNano });
  return event.success ? event.data : null;
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

/** Chain IDs of a layer stack: the first is its diff ID, each next one hashes the previous with its own. */
export function chainIds(diffIds: string[]): string[] {
  const chain: string[] = [];
  for (const diffId of diffIds) {
    const previous = chain[chain.length - 1];
    chain.push(previous === undefined ? diffId : `sha256:${createHash('sha256').update(`${previous} ${diffId}`).digest('hex')}`);
  }
  return chain;
}

/**
 * Pairs layers with sizes from the image history (oldest first). History gives a size only to
 * steps that made a layer, so steps with a size are matched to layers in order. When some layers
 * are empty (size 0) the pairing can shift a size to a neighbouring layer; totals stay right.
 */
export function pairLayerSizes(diffIds: string[], historySizesOldestFirst: number[]): Layer[] {
  const chain = chainIds(diffIds);
  const sizes = historySizesOldestFirst.filter((size) => size > 0);
  return chain.map((chainId, i) => ({ chainId, sizeBytes: sizes[i] ?? 0 }));
}

/** Docker's `since` takes seconds with a nanosecond fraction. */
export function sinceParam(cursorNano: string): string {
  const nano = BigInt(cursorNano);
  return `${nano / 1_000_000_000n}.${(nano % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** A DockerClient backed by dockerode. */
export function createDockerClient(host: string): DockerClient {
  const docker = new Dockerode(connectionOptions(host));

  async function call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      const status = statusOf(error);
      if (status === null) throw new DockerUnreachableError(host, errorText(error));
      throw new DockerApiError(operation, status, errorText(error));
    }
  }

  async function orNullIfGone<T>(operation: string, fn: () => Promise<T>): Promise<T | null> {
    try {
      return await call(operation, fn);
    } catch (error) {
      if (error instanceof DockerApiError && error.statusCode === 404) return null;
      throw error;
    }
  }

  /** A removal's outcome by HTTP status: 404 already gone, 409 in use. */
  async function removal(operation: string, fn: () => Promise<unknown>): Promise<'removed' | 'gone' | 'conflict'> {
    try {
      await call(operation, fn);
      return 'removed';
    } catch (error) {
      if (error instanceof DockerApiError && error.statusCode === 404) return 'gone';
      if (error instanceof DockerApiError && error.statusCode === 409) return 'conflict';
      throw error;
    }
  }

  return {
    host,
    dataRoot: async () => (await call('info', () => docker.info())).DockerRootDir as string,
    engineId: async () => {
      const info = await call('info', () => docker.info());
      // Daemons on one host that share /etc/docker/key.json (Debian's default) share the ID: the
      // data root, which no two daemons can share, tells them apart.
      return `${info.ID as string} ${info.DockerRootDir as string}`;
    },
    listImages: async () =>
      (await call('image list', () => docker.listImages({ all: false }))).map((image) => ({
        id: image.Id,
        repoTags: realNames(image.RepoTags),
        repoDigests: realNames(image.RepoDigests),
        sizeBytes: image.Size,
        createdMs: image.Created * 1000,
        lastTagTimeMs: null,
        labels: image.Labels ?? {},
      })),
    inspectImage: async (ref) => {
      const image = await orNullIfGone('image inspect', () => docker.getImage(ref).inspect());
      if (image === null) return null;
      const metadata = (image as { Metadata?: { LastTagTime?: string } }).Metadata;
      return {
        id: image.Id,
        repoTags: realNames(image.RepoTags),
        repoDigests: realNames(image.RepoDigests),
        sizeBytes: image.Size,
        createdMs: timeMs(image.Created),
        lastTagTimeMs: timeMs(metadata?.LastTagTime),
        labels: image.Config?.Labels ?? {},
      };
    },
    listContainers: async () =>
      (await call('container list', () => docker.listContainers({ all: true }))).map((c) =>
        ContainerRef.parse({
          id: c.Id,
          name: (c.Names[0] ?? '').replace(/^\//, ''),
          imageId: c.ImageID,
          state: c.State,
          createdMs: c.Created * 1000,
        }),
      ),
    imageLayers: async (imageId) => {
      const image = await orNullIfGone('image inspect', () => docker.getImage(imageId).inspect());
      const history = await orNullIfGone('image history', () => docker.getImage(imageId).history());
      if (image === null || history === null) return null;
      const sizes = (history as Array<{ Size: number }>).map((h) => h.Size).reverse();
      return pairLayerSizes(image.RootFS.Layers ?? [], sizes);
    },
    removeImage: (ref) => removal('image remove', () => docker.getImage(ref).remove({ force: false, noprune: false })),
    tagImage: async (imageId, repoTag) => {
      const { repository: repo, tag } = splitReference(repoTag);
      await call('image tag', () => docker.getImage(imageId).tag({ repo, tag }));
    },
    listContainerInfo: async () => {
      const listed = await call('container list', () => docker.listContainers({ all: true }));
      const infos: ContainerInfo[] = [];
      for (const c of listed) {
        // Only stopped containers need their finish time, and only inspect reports it.
        const stopped = c.State === 'exited' || c.State === 'dead';
        const inspected = stopped ? await orNullIfGone('container inspect', () => docker.getContainer(c.Id).inspect()) : null;
        if (stopped && inspected === null) continue;
        infos.push(
          ContainerInfo.parse({
            id: c.Id,
            name: (c.Names[0] ?? '').replace(/^\//, ''),
            image: c.Image,
            imageId: c.ImageID,
            state: c.State,
            createdMs: c.Created * 1000,
            finishedMs: timeMs(inspected?.State.FinishedAt),
            labels: c.Labels ?? {},
          }),
        );
      }
      return infos;
    },
    removeContainer: (id, removeVolumes) => removal('container remove', () => docker.getContainer(id).remove({ force: false, v: removeVolumes })),
    pruneBuildCache: async (keepStorageBytes) => {
      // dockerode's pruneBuilder sends no query parameters; keep-storage needs one.
      const result = await call(
        'build cache prune',
        () =>
          new Promise<unknown>((resolve, reject) =>
            docker.modem.dial(
              { path: '/build/prune?', method: 'POST', options: { _query: { 'keep-storage': keepStorageBytes }, _body: {} }, statusCodes: { 200: true, 500: 'server error' } },
              (error: unknown, data: unknown) => (error ? reject(error) : resolve(data)),
            ),
          ),
      );
      return z.object({ SpaceReclaimed: z.number() }).parse(result).SpaceReclaimed;
    },
    containerImageId: async (containerId) =>
      (await orNullIfGone('container inspect', () => docker.getContainer(containerId).inspect()))?.Image ?? null,
    events: (sinceNano, signal) => streamEvents(docker, call, sinceNano, signal),
    eventsBetween: async (sinceNano, untilNano) => {
      const collected: DockerEvent[] = [];
      // With `until`, Docker ends the stream itself once its own clock reaches that time; a daemon
      // whose clock is behind ours would hold it open, so it is cut off, and what came is complete
      // up to the cut (what it had logged comes at once, later events as they happen). A daemon
      // that has not answered at all by then (loaded by a burst of jobs) gave nothing to go on: an
      // error, so that the removal waiting on it does not go ahead on stale records.
      const signal = AbortSignal.timeout(EVENTS_BETWEEN_TIMEOUT_MS);
      let stream: AsyncIterable<DockerEvent>;
      try {
        stream = await streamEvents(docker, call, sinceNano, signal, untilNano);
      } catch (error) {
        if (signal.aborted) throw new DockerUnreachableError(host, `no answer to the events catch-up within ${EVENTS_BETWEEN_TIMEOUT_MS / 1000} s`);
        throw error;
      }
      try {
        for await (const event of stream) collected.push(event);
      } catch (error) {
        if (!signal.aborted) throw error;
      }
      return collected;
    },
  };
}

async function streamEvents(
  docker: Dockerode,
  call: <T>(operation: string, fn: () => Promise<T>) => Promise<T>,
  sinceNano: string | null,
  signal?: AbortSignal,
  untilNano?: string,
): Promise<AsyncIterable<DockerEvent>> {
  const options = {
    ...(sinceNano === null ? {} : { since: sinceParam(sinceNano) }),
    ...(untilNano === undefined ? {} : { until: sinceParam(untilNano) }),
    // No server-side filters: Podman 4.3 answers a bounded (since/until) query that has any filter
    // with no events at all, so the tracked events are picked here, on every engine alike.
    abortSignal: signal,
  };
  // The typings say `since` is a number; the API takes text, which keeps the nanoseconds a double would lose.
  const stream = await call('events', () => docker.getEvents(options as unknown as Dockerode.GetEventsOptions));
  return eventLines(stream);
}

async function* eventLines(stream: NodeJS.ReadableStream): AsyncGenerator<DockerEvent> {
  let buffered = '';
  for await (const chunk of stream) {
    buffered += String(chunk);
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const event = parseEventLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      if (event && isTracked(event)) yield event;
    }
  }
}
