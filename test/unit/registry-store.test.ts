// The registry's pull log (migration 007) as the listener's events fill it: what the pull model
// reads, bounded to 30 days; and the deletions and marks `registry gc` decides by.
import { join } from 'node:path';
import type { RegistryEvent } from '../../agent/core/registry';
import { silentLog } from '../../agent/log';
import { COLLECTED_MARK, lastCollectionCovers, READONLY_MARK } from '../../agent/registry/gc';
import { createRegistryStore, PULL_LOG_MS } from '../../agent/state/registry-store';
import { openDatabase } from '../../agent/state/store';
import { fileTestDir } from '../harness/tmp';
import { DAY, HOUR, T0 } from './fixtures';

const dir = fileTestDir('registry-store');
const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const digest = (c: string) => `sha256:${c.repeat(64)}`;
let ids = 0;
const event = (kind: RegistryEvent['kind'], atMs: number, d: string, tag: string | null = null): RegistryEvent => ({
  id: `e${(ids += 1)}`,
  atMs,
  kind,
  repository: 'ci/app',
  digest: d,
  tag,
  mediaType: kind === 'delete' ? null : MANIFEST,
  sizeBytes: null,
});

it('logs each pull and HEAD with its time, forgets those older than 30 days, and lists manifests with their deletions and index children apart', () => {
  const { db } = openDatabase(join(dir, 'pulls.db'), silentLog, T0);
  const store = createRegistryStore(db, 'http://127.0.0.1:5000');
  try {
    store.applyEvent(event('push', T0 - 40 * DAY, digest('a'), 'v1'));
    store.applyEvent(event('pull', T0 - 35 * DAY, digest('a')));
    store.applyEvent(event('push', T0 - 20 * DAY, digest('b'), 'v2'));
    store.applyEvent(event('pull', T0 - 10 * DAY, digest('a')));
    store.applyEvent(event('head', T0 - 2 * DAY, digest('b')));
    const last = event('pull', T0 - HOUR, digest('b'));
    expect(store.applyEvent(last)).toBe(true);
    // The same event delivered again (the registry retries): logged once.
    expect(store.applyEvent(last)).toBe(false);
    store.saveManifest('ci/app', digest('c'), INDEX, T0 - DAY, { blobs: [], children: [digest('d')] });
    store.saveManifest('ci/app', digest('d'), MANIFEST, T0 - DAY, { blobs: [], children: [] });
    store.applyEvent(event('delete', T0 - 5 * DAY, digest('a')));

    const since = T0 - PULL_LOG_MS;
    // The pull 35 days ago went when the later ones were logged.
    expect(store.pulls(0, true).map((p) => [p.digest, T0 - p.atMs])).toEqual([
      [digest('a'), 10 * DAY],
      [digest('b'), 2 * DAY],
      [digest('b'), HOUR],
    ]);
    expect(store.pulls(since, false).map((p) => p.digest)).toEqual([digest('a'), digest('b')]);
    const manifests = new Map(store.modelManifests(since).map((m) => [m.digest, m]));
    // A deleted manifest keeps the tag line it was pushed in (its tags went with it).
    expect(manifests.get(digest('a'))).toMatchObject({ pushedMs: T0 - 40 * DAY, deletedMs: T0 - 5 * DAY, topLevel: true, line: 'v#' });
    expect(manifests.get(digest('b'))).toMatchObject({ deletedMs: null, topLevel: true, line: 'v#' });
    expect(manifests.get(digest('c'))?.line).toBeNull();
    // An index's child is pushed with it: not a version of its own.
    expect(manifests.get(digest('d'))?.topLevel).toBe(false);
    expect(manifests.get(digest('c'))?.topLevel).toBe(true);
    // Deleted before the window: not a manifest the log can speak of.
    expect(store.modelManifests(T0 - 4 * DAY).map((m) => m.digest).sort()).toEqual([digest('b'), digest('c'), digest('d')]);
  } finally {
    store.close();
  }
});

it('counts every manifest that held a blob, deleted ones too: a base its predecessors shared is no one\'s own layer', () => {
  const { db } = openDatabase(join(dir, 'holders.db'), silentLog, T0);
  const store = createRegistryStore(db, 'http://127.0.0.1:5000');
  try {
    const base = { digest: digest('0'), sizeBytes: 1000 };
    const layer = (c: string) => ({ digest: digest(c), sizeBytes: 10 });
    store.saveManifest('ci/app', digest('a'), MANIFEST, T0 - 9 * DAY, { blobs: [base, layer('1')], children: [] });
    store.saveManifest('ci/app', digest('b'), MANIFEST, T0 - 5 * DAY, { blobs: [base, layer('2')], children: [] });
    store.applyEvent(event('delete', T0 - DAY, digest('a')));
    // Only b is live, and holds the base alone; the state still knows a held it.
    expect([...store.blobs().keys()]).toEqual([`ci/app@${digest('b')}`]);
    expect(Object.fromEntries(store.blobHolders())).toEqual({ [digest('0')]: 2, [digest('1')]: 1, [digest('2')]: 1 });
  } finally {
    store.close();
  }
});

it('records each manifest\'s tag line from the first tags seen on it (a numbered tag first), and reads older rows\' lines from their tags', () => {
  const { db } = openDatabase(join(dir, 'lines.db'), silentLog, T0);
  const store = createRegistryStore(db, 'http://127.0.0.1:5000');
  const lines = () => new Map(store.modelManifests(0).map((m) => [m.digest, m.line]));
  try {
    for (const c of ['g', 'h', 'k']) store.saveManifest('ci/app', digest(c), MANIFEST, T0 - DAY, { blobs: [], children: [] });
    store.setTags('ci/app', new Map([['latest', digest('g')], ['1.4.2', digest('g')], ['main', digest('h')]]));
    expect(lines()).toEqual(new Map([[digest('g'), '1.4.#'], [digest('h'), 'main'], [digest('k'), null]]));
    // `main` moves on: the old build stays in the line it was pushed in.
    store.setTags('ci/app', new Map([['main', digest('k')], ['dev-3', digest('h')]]));
    expect(lines()).toEqual(new Map([[digest('g'), '1.4.#'], [digest('h'), 'main'], [digest('k'), 'main']]));
    // A row from before the column (migration 009): its tags now name its line.
    db.prepare('UPDATE registry_manifests SET line = NULL').run();
    expect(lines()).toEqual(new Map([[digest('g'), null], [digest('h'), 'dev-#'], [digest('k'), 'main']]));
  } finally {
    store.close();
  }
});

it('gc collects only when something was deleted since the last collection that ran to its end, or a run left the registry read-only', () => {
  const { db } = openDatabase(join(dir, 'collected.db'), silentLog, T0);
  const store = createRegistryStore(db, 'http://127.0.0.1:5000');
  try {
    store.applyEvent(event('push', T0 - 2 * DAY, digest('e'), 'v1'));
    store.applyEvent(event('push', T0 - 2 * DAY, digest('f'), 'v2'));
    // No collection ran yet: collect.
    expect(lastCollectionCovers(store)).toBeNull();
    store.setMark(COLLECTED_MARK, new Date(T0 - DAY).toISOString());
    expect(lastCollectionCovers(store)).toBe(T0 - DAY);
    // A manifest deleted after it (a listener's delete event, or apply's): collect.
    store.applyEvent(event('delete', T0 - HOUR, digest('e')));
    expect(store.deletedSince(T0 - DAY)).toBe(1);
    expect(lastCollectionCovers(store)).toBeNull();
    store.setMark(COLLECTED_MARK, new Date(T0).toISOString());
    expect(lastCollectionCovers(store)).toBe(T0);
    // A run killed while read-only: collect (and restore) whatever was deleted.
    store.setMark(READONLY_MARK, new Date(T0).toISOString());
    expect(lastCollectionCovers(store)).toBeNull();
  } finally {
    store.close();
  }
});
