// A stateful fake Docker engine for fast flow tests, in the spirit of kubelet's FakeRuntime: images
// made of layers, containers, an event stream with replay, and a disk whose free space follows the
// layers present. Removing an image really frees the layers no other image holds; removing one a
// container uses answers `conflict`, as Docker's 409 does. It replaces no real-engine test: it
// makes a change to the decision flow checkable in seconds, without root.
import { createHash } from 'node:crypto';
import type { ContainerInfo } from '../../agent/core/containers';
import { splitReference, type ContainerRef, type DockerEvent, type InventoryImage, type Layer } from '../../agent/core/image';
import type { DiskUsage, MeasureDisk } from '../../agent/disk/disk';
import { TRACKED_EVENTS, type DockerClient } from '../../agent/docker/client';

export interface FakeImageSpec {
  /** `repo:tag` the image is pulled as. */
  ref: string;
  layers: Layer[];
  createdMs?: number;
  labels?: Record<string, string>;
}

interface FakeImage {
  id: string;
  repoTags: string[];
  layers: Layer[];
  createdMs: number;
  lastTagTimeMs: number | null;
  labels: Record<string, string>;
}

interface FakeContainer {
  id: string;
  name: string;
  image: string;
  imageId: string;
  state: 'created' | 'running' | 'exited';
  createdMs: number;
  finishedMs: number | null;
}

export interface FakeEngine extends DockerClient {
  /** A pull: the image arrives (or is already there), takes the tag, and a `pull` event fires. */
  pull(spec: FakeImageSpec): string;
  /** `docker run`: a container is created and started from `ref` (events fire) and exits. */
  run(name: string, ref: string, options?: { keep?: boolean }): string;
  /** IDs of the images present. */
  imageIds(): string[];
  /** Free space of the data root, following the layers present. */
  measureDisk: MeasureDisk;
  /** Every removal Docker was asked for, with its answer. */
  removals: Array<{ ref: string; result: 'removed' | 'gone' | 'conflict' }>;
}

const NS_PER_MS = 1_000_000n;

/** A fake engine on a disk of `totalBytes`, `baseUsedBytes` of it taken by other files; times come from `clock`. */
/**
 * `dialect: 'podman'` speaks as Podman's Docker-compatible API does where it differs: removing one of
 * an image's tags fires `untag` and then `delete` for the image, which stays.
 */
export function createFakeEngine(options: { clock: () => number; totalBytes: number; baseUsedBytes?: number; dataRoot?: string; dialect?: 'docker' | 'podman' }): FakeEngine {
  const images = new Map<string, FakeImage>();
  const containers = new Map<string, FakeContainer>();
  const events: DockerEvent[] = [];
  const listeners = new Set<(event: DockerEvent) => void>();
  let sequence = 0n;
  const dataRoot = options.dataRoot ?? '/fake/docker';

  function emit(type: DockerEvent['type'], action: string, actorId: string, attributes: Record<string, string> = {}): void {
    // Nanosecond stamps from the clock, kept strictly increasing like Docker's.
    const last = events.length > 0 ? BigInt((events[events.length - 1] as DockerEvent).timeNano) : 0n;
    const stamp = BigInt(options.clock()) * NS_PER_MS + (sequence += 1n) % NS_PER_MS;
    const event: DockerEvent = { type, action, actorId, attributes, timeNano: String(stamp > last ? stamp : last + 1n) };
    // Docker delivers only the events the client subscribed to.
    if (!TRACKED_EVENTS.includes(action)) return;
    events.push(event);
    for (const listener of listeners) listener(event);
  }

  function resolve(ref: string): FakeImage | undefined {
    if (images.has(ref)) return images.get(ref);
    const withTag = ref.includes(':') && !ref.startsWith('sha256:') ? ref : `${ref}:latest`;
    return [...images.values()].find((i) => i.repoTags.includes(withTag) || i.id.startsWith(`sha256:${ref}`));
  }

  function inventory(image: FakeImage, inspected: boolean): InventoryImage {
    return {
      id: image.id,
      repoTags: [...image.repoTags],
      repoDigests: image.repoTags.map((t) => `${splitReference(t).repository}@sha256:${image.id.slice(7, 71)}`),
      sizeBytes: image.layers.reduce((sum, l) => sum + l.sizeBytes, 0),
      createdMs: image.createdMs,
      lastTagTimeMs: inspected ? image.lastTagTimeMs : null,
      labels: { ...image.labels },
    };
  }

  function inUse(image: FakeImage): boolean {
    return [...containers.values()].some((c) => c.imageId === image.id);
  }

  function takeTag(tag: string, image: FakeImage): void {
    for (const other of images.values()) {
      if (other !== image && other.repoTags.includes(tag)) other.repoTags = other.repoTags.filter((t) => t !== tag);
    }
    if (!image.repoTags.includes(tag)) image.repoTags.push(tag);
  }

  function deleteImage(image: FakeImage): void {
    for (const tag of image.repoTags) emit('image', 'untag', image.id, { name: tag });
    images.delete(image.id);
    emit('image', 'delete', image.id);
  }

  const measureDisk: MeasureDisk = async (path): Promise<DiskUsage> => {
    const held = new Map<string, number>();
    for (const image of images.values()) for (const layer of image.layers) held.set(layer.chainId, layer.sizeBytes);
    const usedBytes = (options.baseUsedBytes ?? 0) + [...held.values()].reduce((a, b) => a + b, 0);
    const freeBytes = Math.max(0, options.totalBytes - usedBytes);
    return { path, totalBytes: options.totalBytes, freeBytes, freeRatio: freeBytes / options.totalBytes, totalInodes: 1_000_000, freeInodes: 900_000, freeInodesRatio: 0.9 };
  };

  const removals: FakeEngine['removals'] = [];

  return {
    host: 'unix:///fake/docker.sock',
    removals,
    measureDisk,
    imageIds: () => [...images.keys()],

    pull(spec) {
      const id = `sha256:${createHash('sha256').update(JSON.stringify(spec.layers)).digest('hex')}`;
      let image = images.get(id);
      if (image === undefined) {
        image = { id, repoTags: [], layers: spec.layers, createdMs: spec.createdMs ?? options.clock(), lastTagTimeMs: null, labels: spec.labels ?? {} };
        images.set(id, image);
      }
      takeTag(spec.ref, image);
      emit('image', 'pull', spec.ref);
      return id;
    },

    run(name, ref, runOptions = {}) {
      const image = resolve(ref);
      if (image === undefined) throw new Error(`fake engine: no image ${ref} to run`);
      const id = createHash('sha256').update(`${name}/${sequence}`).digest('hex');
      const now = options.clock();
      containers.set(id, { id, name, image: ref, imageId: image.id, state: 'exited', createdMs: now, finishedMs: now });
      emit('container', 'create', id, { image: ref, name });
      emit('container', 'start', id, { image: ref, name });
      // `run --rm`, as CI runners do, unless the test keeps the container.
      if (runOptions.keep !== true) {
        containers.delete(id);
        emit('container', 'destroy', id, { image: ref, name });
      }
      return id;
    },

    dataRoot: async () => dataRoot,
    engineId: async () => `fake-engine-${dataRoot}`,
    listImages: async () => [...images.values()].map((i) => inventory(i, false)),
    inspectImage: async (ref) => {
      const image = resolve(ref);
      return image === undefined ? null : inventory(image, true);
    },
    listContainers: async (): Promise<ContainerRef[]> =>
      [...containers.values()].map((c) => ({ id: c.id, name: c.name, imageId: c.imageId, state: c.state, createdMs: c.createdMs })),
    imageLayers: async (imageId) => images.get(imageId)?.layers.map((l) => ({ ...l })) ?? null,

    removeImage: async (ref) => {
      const image = resolve(ref);
      let result: 'removed' | 'gone' | 'conflict';
      if (image === undefined) result = 'gone';
      else if (image.id === ref || ref.startsWith('sha256:')) {
        // By ID, unforced: Docker refuses an image tagged in several repositories, or in use.
        result = image.repoTags.length > 1 || inUse(image) ? 'conflict' : (deleteImage(image), 'removed');
      } else if (image.repoTags.length > 1) {
        image.repoTags = image.repoTags.filter((t) => t !== ref);
        emit('image', 'untag', image.id, { name: ref });
        if (options.dialect === 'podman') emit('image', 'delete', image.id, { name: ref });
        result = 'removed';
      } else result = inUse(image) ? 'conflict' : (deleteImage(image), 'removed');
      removals.push({ ref, result });
      return result;
    },
    tagImage: async (imageId, repoTag) => {
      const image = images.get(imageId);
      if (image === undefined) throw new Error(`fake engine: no image ${imageId} to tag`);
      takeTag(repoTag, image);
      image.lastTagTimeMs = options.clock();
      emit('image', 'tag', imageId, { name: repoTag });
    },
    listContainerInfo: async (): Promise<ContainerInfo[]> => [...containers.values()].map((c) => ({ ...c, labels: {} })),
    removeContainer: async (id) => {
      const container = containers.get(id);
      if (container === undefined) return 'gone';
      if (container.state === 'running') return 'conflict';
      containers.delete(id);
      emit('container', 'destroy', id, { image: container.image, name: container.name });
      return 'removed';
    },
    pruneBuildCache: async () => 0,
    containerImageId: async (id) => containers.get(id)?.imageId ?? null,

    events: async (sinceNano, signal) => {
      // Replay from the cursor, then live events, until the signal aborts.
      const queue = sinceNano === null ? [] : events.filter((e) => BigInt(e.timeNano) >= BigInt(sinceNano));
      let wake: (() => void) | null = null;
      const listener = (event: DockerEvent) => {
        queue.push(event);
        wake?.();
      };
      listeners.add(listener);
      const onAbort = () => wake?.();
      signal.addEventListener('abort', onAbort);
      return {
        async *[Symbol.asyncIterator]() {
          try {
            while (!signal.aborted) {
              const next = queue.shift();
              if (next !== undefined) yield next;
              else await new Promise<void>((r) => (wake = r));
              wake = null;
            }
          } finally {
            listeners.delete(listener);
            signal.removeEventListener('abort', onAbort);
          }
        },
      };
    },
    eventsBetween: async (sinceNano, untilNano) =>
      events.filter((e) => BigInt(e.timeNano) >= BigInt(sinceNano) && BigInt(e.timeNano) <= BigInt(untilNano)),
  };
}
