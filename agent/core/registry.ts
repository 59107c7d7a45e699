// The registry side's domain: manifests, tags and what a Distribution registry's notifications
// say happened to them. Plain data; the HTTP and SQLite edges live in agent/registry/ and agent/state/.
import { z } from 'zod';

/** Image manifests: what a tag points at for one platform. */
export const IMAGE_MANIFEST_TYPES = ['application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.oci.image.manifest.v1+json'] as const;
/** Indexes (multi-arch): they point at image manifests, their children. */
export const INDEX_TYPES = ['application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.index.v1+json'] as const;
/**
 * Every manifest type, for `Accept`: without the index types a 2.8 registry answers an index's tag
 * with a converted digest or 404, and a HEAD would name a digest no one pushed.
 */
export const MANIFEST_TYPES: readonly string[] = [...IMAGE_MANIFEST_TYPES, ...INDEX_TYPES];

export function isManifestType(mediaType: string): boolean {
  return MANIFEST_TYPES.includes(mediaType);
}

export function isIndexType(mediaType: string): boolean {
  return (INDEX_TYPES as readonly string[]).includes(mediaType);
}

const Digest = z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/, 'a digest like sha256:<hex>');

/** A manifest as the registry serves it, reduced to what reclaiming space needs. */
export const ManifestBody = z.object({
  mediaType: z.string().optional(),
  config: z.object({ digest: Digest, size: z.number().int().nonnegative() }).optional(),
  layers: z.array(z.object({ digest: Digest, size: z.number().int().nonnegative() })).optional(),
  manifests: z.array(z.object({ digest: Digest, mediaType: z.string().optional(), size: z.number().int().nonnegative().optional() })).optional(),
});
export type ManifestBody = z.infer<typeof ManifestBody>;

/** A manifest the state knows, with its usage. */
export const RegistryManifest = z.object({
  repository: z.string().min(1),
  digest: Digest,
  mediaType: z.string(),
  /** Bytes of the blobs it references (an index: its children's), shared with others or not. */
  sizeBytes: z.number().int().nonnegative(),
  /** Push time; for a manifest sync found first, the time it found it. */
  pushedMs: z.number().int(),
  lastPullMs: z.number().int().nullable(),
  pulls: z.number().int().nonnegative(),
  lastHeadMs: z.number().int().nullable(),
  heads: z.number().int().nonnegative(),
  deletedMs: z.number().int().nullable(),
});
export type RegistryManifest = z.infer<typeof RegistryManifest>;

/** One blob a manifest references. */
export const BlobRef = z.object({ digest: Digest, sizeBytes: z.number().int().nonnegative() });
export type BlobRef = z.infer<typeof BlobRef>;

/** What a manifest's body references: blobs (image manifests) or children (indexes). */
export interface ManifestRefs {
  blobs: BlobRef[];
  children: string[];
}

export function manifestRefs(body: ManifestBody): ManifestRefs {
  const blobs = [...(body.config ? [body.config] : []), ...(body.layers ?? [])].map((b) => ({ digest: b.digest, sizeBytes: b.size }));
  return { blobs, children: (body.manifests ?? []).map((m) => m.digest) };
}

/** The envelope's content types: registry 2.x posts v1 (seen on 2.8.2); v2 is accepted as well, as newer releases document it. */
export const NOTIFICATION_MEDIA_TYPES: readonly string[] = ['application/vnd.docker.distribution.events.v1+json', 'application/vnd.docker.distribution.events.v2+json'];

const NotificationEvent = z.object({
  id: z.string().min(1),
  timestamp: z.string().datetime({ offset: true }),
  action: z.string(),
  target: z.object({
    mediaType: z.string().optional(),
    digest: z.string().optional(),
    repository: z.string().optional(),
    tag: z.string().optional(),
    size: z.number().optional(),
  }),
  request: z.object({ method: z.string().optional(), useragent: z.string().optional() }).partial().optional(),
});
export const NotificationEnvelope = z.object({ events: z.array(NotificationEvent) });
export type NotificationEnvelope = z.infer<typeof NotificationEnvelope>;

/** What the listener records of one event. */
export const RegistryEvent = z.object({
  id: z.string(),
  atMs: z.number().int(),
  kind: z.enum(['push', 'pull', 'head', 'delete']),
  repository: z.string().min(1),
  digest: Digest.nullable(),
  tag: z.string().nullable(),
  mediaType: z.string().nullable(),
  sizeBytes: z.number().int().nonnegative().nullable(),
});
export type RegistryEvent = z.infer<typeof RegistryEvent>;

export interface EventFilter {
  /** User agents whose requests are not demand: our own crawler, vulnerability scanners. Substrings, case-insensitive. */
  ignoreUserAgents: string[];
}

/** Why an event was not recorded, for the listener's counters. */
export type SkipReason = 'blob' | 'user-agent' | 'action' | 'incomplete';

/**
 * The events worth recording from an envelope, each with why the rest were not: blob events are
 * noise (a manifest pull stands for its image), and ignored user agents are not demand.
 * Deletes carry no media type on 2.8, so they are kept by action alone.
 */
export function recordableEvents(envelope: NotificationEnvelope, filter: EventFilter): { events: RegistryEvent[]; skipped: SkipReason[] } {
  const events: RegistryEvent[] = [];
  const skipped: SkipReason[] = [];
  const ignored = filter.ignoreUserAgents.map((u) => u.toLowerCase()).filter((u) => u.length > 0);
  for (const e of envelope.events) {
    const { target } = e;
    if (e.action !== 'push' && e.action !== 'pull' && e.action !== 'delete') {
      skipped.push('action');
      continue;
    }
    if (e.action !== 'delete' && (target.mediaType === undefined || !isManifestType(target.mediaType))) {
      skipped.push('blob');
      continue;
    }
    const agent = (e.request?.useragent ?? '').toLowerCase();
    if (ignored.some((u) => agent.includes(u))) {
      skipped.push('user-agent');
      continue;
    }
    if (target.repository === undefined || (target.digest === undefined && target.tag === undefined)) {
      skipped.push('incomplete');
      continue;
    }
    const kind = e.action === 'pull' && e.request?.method?.toUpperCase() === 'HEAD' ? 'head' : e.action;
    events.push(
      RegistryEvent.parse({
        id: e.id,
        atMs: Date.parse(e.timestamp),
        kind,
        repository: target.repository,
        digest: target.digest ?? null,
        tag: target.tag ?? null,
        mediaType: target.mediaType ?? null,
        sizeBytes: target.size === undefined ? null : Math.max(0, Math.round(target.size)),
      }),
    );
  }
  return { events, skipped };
}

/** One tag and the manifest it points at, as status and the planner see them. */
export interface RegistryImage {
  repository: string;
  /** Tags on this manifest now; empty: untagged (dangling, unless an index holds it). */
  tags: string[];
  /** Live indexes that list it as a child: it goes only with them. */
  parents: string[];
  manifest: RegistryManifest;
}

/** The last pull: a GET, or a HEAD too when `headCounts`; null when never pulled. */
export function lastPullMs(manifest: RegistryManifest, headCounts: boolean): number | null {
  const pulled = Math.max(manifest.lastPullMs ?? -Infinity, headCounts ? (manifest.lastHeadMs ?? -Infinity) : -Infinity);
  return Number.isFinite(pulled) ? pulled : null;
}

/** When the image was last wanted: the last pull (see lastPullMs), else its push. */
export function lastWantedMs(manifest: RegistryManifest, headCounts: boolean): number {
  return Math.max(lastPullMs(manifest, headCounts) ?? -Infinity, manifest.pushedMs);
}
