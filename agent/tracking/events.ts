// Follows the Docker event stream for as long as the agent runs: replays from the persisted cursor,
// reconciles on every (re)connect, and reconnects with back-off when Docker goes away.
import { setTimeout as sleep } from 'node:timers/promises';
import { msToNano, type DockerEvent } from '../core/image';
import type { DockerClient } from '../docker/client';
import { errorText } from '../errors';
import type { Log } from '../log';
import type { Store } from '../state/store';
import type { Tracker } from './tracker';

export interface FollowDeps {
  docker: DockerClient;
  store: Store;
  tracker: Tracker;
  log: Log;
  clock: () => number;
  /** Runs after each successful subscription, before replayed events are applied. */
  onConnected: () => Promise<void>;
  /** Called for each event that was new to the store. */
  onEvent?: (event: DockerEvent) => void;
  backoff?: { initialMs: number; maxMs: number };
}

/** How many events may wait on their Docker lookup at once: a burst's lookups overlap. */
const INGEST_WINDOW = 32;

/** Applies events in order, with up to INGEST_WINDOW in flight; rejects with the first failure. */
export async function ingest(tracker: Tracker, events: AsyncIterable<DockerEvent> | Iterable<DockerEvent>, onEvent?: (event: DockerEvent) => void): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | null = null;
  for await (const event of events) {
    const applied: Promise<void> = tracker
      .applyEvent(event)
      .then((isNew) => {
        if (isNew) onEvent?.(event);
      })
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => inFlight.delete(applied));
    inFlight.add(applied);
    if (inFlight.size >= INGEST_WINDOW) await Promise.race(inFlight);
    if (failure !== null) break;
  }
  await Promise.all(inFlight);
  if (failure !== null) throw (failure as { error: unknown }).error;
}

/** Follows events until `signal` aborts; never throws for Docker being away. */
export async function followEvents(deps: FollowDeps, signal: AbortSignal): Promise<void> {
  const { docker, store, tracker, log } = deps;
  const { initialMs, maxMs } = deps.backoff ?? { initialMs: 500, maxMs: 30_000 };
  // Without a cursor there is nothing to replay: start from now, so a restart can replay from here.
  if (store.cursor() === null) store.save([], msToNano(deps.clock()));
  let delayMs = initialMs;
  let connectedBefore = false;
  while (!signal.aborted) {
    try {
      const events = await docker.events(store.cursor(), signal);
      log.info(connectedBefore ? 'docker_reconnected' : 'docker_events_connected', { host: docker.host, cursor: store.cursor() });
      connectedBefore = true;
      delayMs = initialMs;
      await deps.onConnected();
      await ingest(tracker, events, deps.onEvent);
      if (!signal.aborted) throw new Error('event stream closed by Docker');
    } catch (error) {
      if (signal.aborted) return;
      log.warn('docker_disconnected', { host: docker.host, error: errorText(error), retryInMs: delayMs });
      await sleep(delayMs, undefined, { signal }).catch(() => undefined);
      delayMs = Math.min(delayMs * 2, maxMs);
    }
  }
}
