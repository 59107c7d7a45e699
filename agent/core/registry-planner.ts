// What to delete from a registry: the host's rule language (core/rules.ts) applied per tag, LRU
// by last pull under storage pressure, and the digest safety a registry needs. Pure.
//
// Rules see each tag as an image `repository:tag`, and each untagged manifest as a dangling image:
// Age is push time, Unused the time since the last pull (else push), PreserveRecent keeps the N
// tags last pulled or pushed per repository. A digest is deleted only when every tag on it is
// selected (deleting a digest removes all its tags) and no kept index lists it as a child.
import type { ImageRecord } from './image';
import { lastPullMs, lastWantedMs, type BlobRef, type RegistryImage } from './registry';
import { claimImages, type Disposition, type Rule, type RuleSubject } from './rules';

export interface RegistryPlanInput {
  images: RegistryImage[];
  /** Blobs of each manifest, by `repository@digest`; an index has none of its own. */
  blobs: Map<string, BlobRef[]>;
  rules: Rule[];
  nowMs: number;
  /** Whether HEAD requests count as pulls. */
  headCounts: boolean;
  /** Manifests pushed or pulled more recently are never deleted: a pipeline may be using them. */
  minAgeMs: number;
  /** The storage filesystem now and its thresholds; null: no pressure eviction (rules only). */
  pressure: { freeBytes: number; lowBytes: number; targetBytes: number } | null;
  /**
   * Whether the registry deletes tag by tag (GitLab's API: the digest's other tags stay). Then a
   * selected tag goes even when another tag on its digest is kept; only the image stays.
   */
  perTag?: boolean;
  /**
   * How much each manifest is worth keeping, by `repository@digest` (core/pull-model.ts
   * pressureLikelihood: its expected pulls per MiB of its own layers, learned from this
   * registry's pull log, or that order's blend with recency): under pressure the lowest go first,
   * ties by last pull. Absent: least recently pulled first.
   */
  likelihood?: Map<string, number>;
}

export type DeletionReason = 'rule' | 'pressure' | 'index-deleted';

export interface RegistryDeletion {
  repository: string;
  digest: string;
  /** Tags that go with it: all of the digest's tags (per tag: the selected ones). */
  tags: string[];
  /** Per tag only: a kept tag holds the digest, so the image stays and frees nothing. */
  keptBy: string | null;
  reason: DeletionReason;
  /** The rule that selected it (its text and origin), for `rule`. */
  rule: string | null;
  /** When it was last pulled (else pushed). */
  lastWantedMs: number;
  /** Bytes of blobs no remaining manifest references once this and the deletions before it are done. */
  reclaimBytes: number;
}

/** A manifest a rule selected that stays, and why. */
export interface RegistryHold {
  repository: string;
  digest: string;
  /** The selected tags. */
  tags: string[];
  why: string;
}

export interface RegistryPlan {
  deletions: RegistryDeletion[];
  held: RegistryHold[];
  /** Estimated bytes freed on disk by the deletions, after garbage collection. */
  reclaimBytes: number;
  /** Whether storage was below the low threshold, and whether the plan reaches the target. */
  underPressure: boolean;
  reachesTarget: boolean;
}

const key = (repository: string, digest: string) => `${repository}@${digest}`;

/** A tag (or an untagged manifest) as the rules see an image. */
function subjectOf(image: RegistryImage, tag: string | null, headCounts: boolean): RuleSubject {
  const m = image.manifest;
  const record: ImageRecord = {
    id: tag === null ? key(image.repository, m.digest) : `${image.repository}:${tag}`,
    repoTags: tag === null ? [] : [`${image.repository}:${tag}`],
    repoDigests: [key(image.repository, m.digest)],
    sizeBytes: m.sizeBytes,
    createdMs: m.pushedMs,
    firstSeenMs: m.pushedMs,
    // A push is the image's arrival; a pull is its use: Unused(d) counts from the last pull.
    lastPulledMs: m.pushedMs,
    lastUsedMs: lastPullMs(m, headCounts),
    useCount: m.pulls,
    // Rules read no score; the registry's order learns from its pull log (core/pull-model.ts).
    useScore: 0,
    removedMs: null,
  };
  return { record };
}

/**
 * Bytes of the blobs that only manifests pushed at or after `sinceMs` reference: what the storage
 * took in since then, as far as the live manifests tell (a layer an older manifest holds took
 * nothing). Null when the state knows no manifest pushed before `sinceMs`: right after a first
 * sync every manifest counts as pushed then, and the figure would be the whole registry.
 */
export function bytesPushedSince(images: RegistryImage[], blobs: Map<string, BlobRef[]>, sinceMs: number): number | null {
  const older = new Set<string>();
  const newer = new Map<string, number>();
  for (const image of images) {
    for (const blob of blobs.get(key(image.repository, image.manifest.digest)) ?? []) {
      if (image.manifest.pushedMs < sinceMs) older.add(blob.digest);
      else newer.set(blob.digest, blob.sizeBytes);
    }
  }
  if (!images.some((i) => i.manifest.pushedMs < sinceMs)) return null;
  let bytes = 0;
  for (const [digest, size] of newer) if (!older.has(digest)) bytes += size;
  return bytes;
}

/** Reference counts of blobs over live manifests; deleting one frees the blobs only it held. */
function blobLedger(images: RegistryImage[], blobs: Map<string, BlobRef[]>) {
  const refs = new Map<string, number>();
  const sizes = new Map<string, number>();
  for (const image of images) {
    for (const blob of blobs.get(key(image.repository, image.manifest.digest)) ?? []) {
      refs.set(blob.digest, (refs.get(blob.digest) ?? 0) + 1);
      sizes.set(blob.digest, blob.sizeBytes);
    }
  }
  return {
    /** Bytes freed by dropping this manifest's references. */
    release(image: RegistryImage): number {
      let freed = 0;
      for (const blob of blobs.get(key(image.repository, image.manifest.digest)) ?? []) {
        const left = (refs.get(blob.digest) ?? 0) - 1;
        refs.set(blob.digest, left);
        if (left === 0) freed += sizes.get(blob.digest) ?? 0;
      }
      return freed;
    },
  };
}

/**
 * Per top-level manifest (`repository@digest`), the bytes of its own layers: blobs no other
 * manifest the state knows of has ever held, live or deleted, counting those of the untagged
 * children only it lists (they go with it). `holders`: per blob, how many manifests have held
 * it. A layer shared with the repository's other versions counts for none of them, even for its
 * last live holder: the last holder of an old base is often a release a deployment is pinned to,
 * which the pull model underestimates (bench/FINDINGS.md).
 */
export function ownLayerBytes(images: RegistryImage[], blobs: Map<string, BlobRef[]>, holders: Map<string, number>): Map<string, number> {
  // What goes with each top-level manifest: itself, and the untagged children it alone lists.
  const members = new Map<string, RegistryImage[]>();
  for (const image of images) {
    const holder = image.parents.length === 0 ? image.manifest.digest : image.tags.length === 0 && image.parents.length === 1 ? (image.parents[0] as string) : null;
    if (holder === null) continue;
    const k = key(image.repository, holder);
    const list = members.get(k);
    if (list === undefined) members.set(k, [image]);
    else list.push(image);
  }
  const own = new Map<string, number>();
  for (const image of images) {
    if (image.parents.length > 0) continue;
    const k = key(image.repository, image.manifest.digest);
    const held = new Map<string, { holders: number; sizeBytes: number }>();
    for (const member of members.get(k) ?? []) {
      for (const blob of blobs.get(key(member.repository, member.manifest.digest)) ?? []) held.set(blob.digest, { holders: (held.get(blob.digest)?.holders ?? 0) + 1, sizeBytes: blob.sizeBytes });
    }
    let bytes = 0;
    // A blob the state has no count for is taken as held here alone.
    for (const [digest, h] of held) if ((holders.get(digest) ?? h.holders) <= h.holders) bytes += h.sizeBytes;
    own.set(k, bytes);
  }
  return own;
}

export function planRegistry(input: RegistryPlanInput): RegistryPlan {
  const { images, rules, nowMs, headCounts, minAgeMs } = input;
  const byKey = new Map(images.map((i) => [key(i.repository, i.manifest.digest), i]));
  // One subject per tag, and one per untagged manifest that no index holds (the dangling ones).
  const subjects: Array<{ image: RegistryImage; tag: string | null; subject: RuleSubject }> = [];
  for (const image of images) {
    if (image.tags.length === 0 && image.parents.length === 0) subjects.push({ image, tag: null, subject: subjectOf(image, null, headCounts) });
    for (const tag of image.tags) subjects.push({ image, tag, subject: subjectOf(image, tag, headCounts) });
  }
  const claims = claimImages(
    subjects.map((s) => s.subject),
    rules,
    nowMs,
  );
  const dispositionOf = (s: (typeof subjects)[number]): { disposition: Disposition; rule: Rule | null } => {
    const claim = claims.get(s.subject.record.id);
    return { disposition: claim?.disposition ?? 'evict', rule: claim === undefined || claim.ruleIndex < 0 ? null : (rules[claim.ruleIndex] ?? null) };
  };
  const young = (image: RegistryImage) => nowMs - lastWantedMs(image.manifest, headCounts) < minAgeMs;

  // Per manifest: what its tags' claims say together.
  const perManifest = new Map<string, Array<{ tag: string | null; disposition: Disposition; rule: Rule | null }>>();
  for (const s of subjects) {
    const k = key(s.image.repository, s.image.manifest.digest);
    perManifest.set(k, [...(perManifest.get(k) ?? []), { tag: s.tag, ...dispositionOf(s) }]);
  }

  const held: RegistryHold[] = [];
  const partial: Array<{ image: RegistryImage; tags: string[]; rule: Rule | null; keptBy: string }> = [];
  const chosen = new Map<string, { reason: DeletionReason; rule: string | null }>();
  for (const [k, claimsOf] of perManifest) {
    const image = byKey.get(k) as RegistryImage;
    const selected = claimsOf.filter((c) => c.disposition === 'delete');
    if (selected.length === 0) continue;
    const tags = selected.map((c) => c.tag).filter((t): t is string => t !== null);
    const keeper = claimsOf.find((c) => c.disposition !== 'delete');
    if (keeper !== undefined && input.perTag === true) {
      if (young(image)) held.push({ repository: image.repository, digest: image.manifest.digest, tags, why: 'pulled or pushed within min-age' });
      else partial.push({ image, tags, rule: selected[0]?.rule ?? null, keptBy: keeper.tag ?? '' });
      continue;
    }
    if (keeper !== undefined) {
      held.push({ repository: image.repository, digest: image.manifest.digest, tags, why: `tag ${keeper.tag ?? ''} on the same digest is kept${keeper.rule ? ` (${keeper.rule.text})` : ''}` });
      continue;
    }
    if (young(image)) {
      held.push({ repository: image.repository, digest: image.manifest.digest, tags, why: 'pulled or pushed within min-age' });
      continue;
    }
    const rule = selected[0]?.rule;
    chosen.set(k, { reason: 'rule', rule: rule ? `${rule.text} (${rule.origin})` : null });
  }

  // Never a child of a kept index: the index would point at a manifest that is gone.
  for (const k of [...chosen.keys()]) {
    const image = byKey.get(k) as RegistryImage;
    const keptParent = image.parents.find((p) => !chosen.has(key(image.repository, p)));
    if (keptParent === undefined) continue;
    chosen.delete(k);
    held.push({ repository: image.repository, digest: image.manifest.digest, tags: image.tags, why: `a child of index ${keptParent}, which is kept` });
  }

  // Under pressure: whole manifests whose every tag is an ordinary candidate, least recently pulled first.
  const ledger = blobLedger(images, input.blobs);
  let reclaimBytes = 0;
  const deletions: RegistryDeletion[] = [];
  const deleted = new Set<string>();
  const childrenOf = new Map<string, RegistryImage[]>();
  for (const image of images) {
    for (const parent of image.parents) childrenOf.set(key(image.repository, parent), [...(childrenOf.get(key(image.repository, parent)) ?? []), image]);
  }
  const take = (image: RegistryImage, reason: DeletionReason, rule: string | null) => {
    const k = key(image.repository, image.manifest.digest);
    if (deleted.has(k)) return;
    deleted.add(k);
    const freed = ledger.release(image);
    reclaimBytes += freed;
    deletions.push({ repository: image.repository, digest: image.manifest.digest, tags: image.tags, keptBy: null, reason, rule, lastWantedMs: lastWantedMs(image.manifest, headCounts), reclaimBytes: freed });
    // An index's children go with it when nothing else holds them: untagged, no other live parent.
    for (const child of childrenOf.get(k) ?? []) {
      if (child.tags.length > 0) continue;
      const otherParents = child.parents.filter((p) => p !== image.manifest.digest && !chosen.has(key(image.repository, p)) && !deleted.has(key(image.repository, p)));
      if (otherParents.length === 0) take(child, 'index-deleted', null);
    }
  };
  for (const [k, c] of chosen) take(byKey.get(k) as RegistryImage, c.reason, c.rule);
  for (const p of partial) {
    deletions.push({ repository: p.image.repository, digest: p.image.manifest.digest, tags: p.tags, keptBy: p.keptBy, reason: 'rule', rule: p.rule ? `${p.rule.text} (${p.rule.origin})` : null, lastWantedMs: lastWantedMs(p.image.manifest, headCounts), reclaimBytes: 0 });
  }

  const pressure = input.pressure;
  const underPressure = pressure !== null && pressure.freeBytes < pressure.lowBytes;
  if (pressure !== null && underPressure) {
    const likelihoodOf = (image: RegistryImage) => input.likelihood?.get(key(image.repository, image.manifest.digest)) ?? 0;
    const candidates = [...perManifest]
      .filter(([k, claimsOf]) => !chosen.has(k) && claimsOf.every((c) => c.disposition === 'evict'))
      .map(([k]) => byKey.get(k) as RegistryImage)
      // A child goes only with its index.
      .filter((image) => image.parents.length === 0 && !young(image))
      .sort(
        (a, b) =>
          likelihoodOf(a) - likelihoodOf(b) ||
          lastWantedMs(a.manifest, headCounts) - lastWantedMs(b.manifest, headCounts) ||
          key(a.repository, a.manifest.digest).localeCompare(key(b.repository, b.manifest.digest)),
      );
    for (const image of candidates) {
      if (pressure.freeBytes + reclaimBytes >= pressure.targetBytes) break;
      take(image, 'pressure', null);
    }
  }
  return {
    deletions,
    held,
    reclaimBytes,
    underPressure,
    reachesTarget: pressure === null || pressure.freeBytes + reclaimBytes >= pressure.targetBytes,
  };
}
