// Policy rules: which rule claims each image, and what that claim means for eviction. Pure: images
// and `nowMs` in, claims out. The syntax (docker_gc's `Predicate : Action`) is parsed in policy/.
import { isDangling, repositoriesOf, splitReference, type ImageRecord } from './image';
import { compiledGlob } from './glob';
import { recencyMs } from './usage';

const DAY_MS = 86_400_000;

export type Comparison = '>' | '>=' | '<' | '<=';

export type Predicate =
  | { kind: 'true' }
  | { kind: 'false' }
  | { kind: 'dangling' }
  | { kind: 'repository'; glob: string }
  | { kind: 'tag'; glob: string }
  /** A glob on the whole `repo:tag`, as the `protect` setting writes them. */
  | { kind: 'reference'; glob: string }
  | { kind: 'label'; key: string; value: string | null }
  /** Created more than `olderThanMs` ago. */
  | { kind: 'age'; olderThanMs: number }
  /** Last pulled (else first seen) more than `olderThanMs` ago. */
  | { kind: 'pulled'; olderThanMs: number }
  /** Last used (else first seen) more than `olderThanMs` ago. */
  | { kind: 'unused'; olderThanMs: number }
  | { kind: 'size'; comparison: Comparison; bytes: number }
  | { kind: 'not'; operand: Predicate }
  | { kind: 'and'; operands: Predicate[] }
  | { kind: 'or'; operands: Predicate[] };

export type Action =
  | { kind: 'delete' }
  | { kind: 'evict' }
  | { kind: 'protect' }
  | { kind: 'keep' }
  | { kind: 'preserve-recent'; count: number };

/** What a claim does to an image: remove now, evict under pressure, only in emergency, or never. */
export type Disposition = 'delete' | 'evict' | 'protect' | 'keep';

export interface Rule {
  predicate: Predicate;
  action: Action;
  /** Where the rule was written, for `policy explain` and errors: `file:line`. */
  origin: string;
  /** The rule as written. */
  text: string;
}

/** The image facts rules look at. */
export interface RuleSubject {
  record: ImageRecord;
  labels?: Record<string, string>;
}

export interface Claim {
  /** Index of the claiming rule; -1 when no rule claimed the image (an ordinary LRU candidate). */
  ruleIndex: number;
  disposition: Disposition;
}

/** The repository without its registry host (a first component with a dot, a colon, or `localhost`). */
function withoutRegistry(repository: string): string {
  const slash = repository.indexOf('/');
  if (slash < 0) return repository;
  const first = repository.slice(0, slash);
  return /[.:]/.test(first) || first === 'localhost' ? repository.slice(slash + 1) : repository;
}

/** A repository glob that names no registry host matches images from any registry (docker_gc's `organisation/repo`). */
function repositoryMatches(pattern: string, repository: string): boolean {
  const re = compiledGlob(pattern);
  return re.test(repository) || (withoutRegistry(pattern) === pattern && re.test(withoutRegistry(repository)));
}

function olderThan(timeMs: number | null, fallbackMs: number, olderThanMs: number, nowMs: number): boolean {
  return (timeMs ?? fallbackMs) < nowMs - olderThanMs;
}

function compare(value: number, comparison: Comparison, bound: number): boolean {
  if (comparison === '>') return value > bound;
  if (comparison === '>=') return value >= bound;
  if (comparison === '<') return value < bound;
  return value <= bound;
}

/** Whether an image satisfies a predicate at `nowMs`. */
export function matches(predicate: Predicate, subject: RuleSubject, nowMs: number): boolean {
  const { record } = subject;
  switch (predicate.kind) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'dangling':
      return isDangling(record);
    case 'repository':
      return repositoriesOf(record).some((repository) => repositoryMatches(predicate.glob, repository));
    case 'tag':
      return record.repoTags.some((t) => compiledGlob(predicate.glob).test(splitReference(t).tag));
    case 'reference':
      return record.repoTags.some((t) => compiledGlob(predicate.glob).test(t));
    case 'label': {
      const value = subject.labels?.[predicate.key];
      return value !== undefined && (predicate.value === null || value === predicate.value);
    }
    case 'age':
      // An image with no creation time is treated as new: the safe side for a deletion rule.
      return record.createdMs !== null && record.createdMs < nowMs - predicate.olderThanMs;
    case 'pulled':
      return olderThan(record.lastPulledMs, record.firstSeenMs, predicate.olderThanMs, nowMs);
    case 'unused':
      return olderThan(record.lastUsedMs, record.firstSeenMs, predicate.olderThanMs, nowMs);
    case 'size':
      return compare(record.sizeBytes, predicate.comparison, predicate.bytes);
    case 'not':
      return !matches(predicate.operand, subject, nowMs);
    case 'and':
      return predicate.operands.every((p) => matches(p, subject, nowMs));
    case 'or':
      return predicate.operands.some((p) => matches(p, subject, nowMs));
  }
}

/** Most recently wanted first; ties by newer creation, then ID. */
function compareMostRecent(a: ImageRecord, b: ImageRecord): number {
  return recencyMs(b) - recencyMs(a) || (b.createdMs ?? 0) - (a.createdMs ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

const PRESERVING: ReadonlySet<Disposition> = new Set(['protect', 'keep']);

/**
 * Which rule claims each image; the first rule that claims an image wins. `PreserveRecent(N)`
 * preserves, per repository, the N most recently wanted matching images, counting images that
 * earlier rules preserved in that repository; the rest fall through to later rules. An image
 * tagged in several repositories counts in each and is grouped under its first tag's repository.
 */
export function claimImages(subjects: RuleSubject[], rules: Rule[], nowMs: number): Map<string, Claim> {
  const claims = new Map<string, Claim>();
  const preservedPerRepository = new Map<string, number>();
  const claim = (subject: RuleSubject, ruleIndex: number, disposition: Disposition) => {
    claims.set(subject.record.id, { ruleIndex, disposition });
    if (!PRESERVING.has(disposition)) return;
    for (const repository of repositoriesOf(subject.record)) {
      preservedPerRepository.set(repository, (preservedPerRepository.get(repository) ?? 0) + 1);
    }
  };
  rules.forEach((rule, ruleIndex) => {
    const matching = subjects.filter((s) => !claims.has(s.record.id) && matches(rule.predicate, s, nowMs));
    const { action } = rule;
    if (action.kind !== 'preserve-recent') {
      for (const subject of matching) claim(subject, ruleIndex, action.kind);
      return;
    }
    const groups = new Map<string, RuleSubject[]>();
    for (const subject of matching) {
      const repository = repositoriesOf(subject.record)[0];
      // Untagged images have no repository to count in: they fall through.
      if (repository !== undefined) groups.set(repository, [...(groups.get(repository) ?? []), subject]);
    }
    for (const [repository, group] of groups) {
      const room = action.count - (preservedPerRepository.get(repository) ?? 0);
      const kept = group.sort((a, b) => compareMostRecent(a.record, b.record)).slice(0, Math.max(room, 0));
      for (const subject of kept) claim(subject, ruleIndex, 'protect');
    }
  });
  for (const subject of subjects) if (!claims.has(subject.record.id)) claims.set(subject.record.id, { ruleIndex: -1, disposition: 'evict' });
  return claims;
}

/**
 * The Protect rules that match no image: a typo in a pattern protects nothing, and nothing else
 * would say so. Matching, not claiming, counts: a rule shadowed by an earlier one is not a typo.
 */
export function idleProtectRules(rules: Rule[], subjects: RuleSubject[], nowMs: number): Rule[] {
  return rules.filter((rule) => rule.action.kind === 'protect' && !subjects.some((s) => matches(rule.predicate, s, nowMs)));
}

/** Days as docker_gc's `Age(3)` means them. */
export function daysToMs(days: number): number {
  return days * DAY_MS;
}
