// The registry planner: the host's rules per tag, digest safety, and LRU by last pull under pressure.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRuleFile } from '../../agent/config/rule-syntax';
import type { BlobRef, RegistryImage } from '../../agent/core/registry';
import { bytesPushedSince, ownLayerBytes, planRegistry, type RegistryPlanInput } from '../../agent/core/registry-planner';
import { DAY, T0 } from './fixtures';

const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
let digests = 0;
const nextDigest = () => `sha256:${(digests += 1).toString(16).padStart(64, '0')}`;

function image(repository: string, tags: string[], pushedDaysAgo: number, extra: { pulledDaysAgo?: number; parents?: string[]; digest?: string; mediaType?: string } = {}): RegistryImage {
  return {
    repository,
    tags,
    parents: extra.parents ?? [],
    manifest: {
      repository,
      digest: extra.digest ?? nextDigest(),
      mediaType: extra.mediaType ?? MANIFEST,
      sizeBytes: 100,
      pushedMs: T0 - pushedDaysAgo * DAY,
      lastPullMs: extra.pulledDaysAgo === undefined ? null : T0 - extra.pulledDaysAgo * DAY,
      pulls: extra.pulledDaysAgo === undefined ? 0 : 1,
      lastHeadMs: null,
      heads: 0,
      deletedMs: null,
    },
  };
}

function input(images: RegistryImage[], rules: string, extra: Partial<RegistryPlanInput> = {}): RegistryPlanInput {
  return { images, blobs: new Map(), rules: rules === '' ? [] : parseRuleFile(rules, 'rules.conf'), nowMs: T0, headCounts: false, minAgeMs: 0, pressure: null, ...extra };
}

const deletedTags = (plan: ReturnType<typeof planRegistry>) => plan.deletions.flatMap((d) => (d.tags.length > 0 ? d.tags.map((t) => `${d.repository}:${t}`) : [`${d.repository}@untagged`])).sort();

describe('planRegistry with the docker_gc example rules', () => {
  it('deletes the untagged, the old and the repository\'s oldest beyond 3; keeps the young', () => {
    const rules = readFileSync(join(__dirname, '..', '..', 'policies', 'docker_gc.conf'), 'utf8');
    const images = [
      image('team/app', [], 10),
      image('team/young', ['v1'], 1),
      image('team/old', ['v1'], 10),
      ...[1, 2, 4, 5, 6].map((days) => image('organisation/repo', [`d${days}`], days)),
    ];
    const plan = planRegistry(input(images, rules));
    expect(deletedTags(plan)).toEqual(['organisation/repo:d5', 'organisation/repo:d6', 'team/app@untagged', 'team/old:v1']);
    expect(plan.deletions.every((d) => d.reason === 'rule' && d.rule !== null)).toBe(true);
  });
});

describe('the shipped registry-rules.conf (what the nightly unit reads)', () => {
  const rules = readFileSync(join(__dirname, '..', '..', 'policies', 'registry-rules.conf'), 'utf8');
  // Everything old and never pulled: only the rules and pressure decide.
  const images = () => [
    image('ci/app', ['latest'], 90),
    image('ci/app', ['main'], 90),
    image('ci/app', ['v1.2.0'], 90),
    image('ci/app', ['2.3.4'], 90),
    image('ci/app', ['dev-17'], 90),
    image('ci/app', [], 8),
    image('ci/app', [], 8, { pulledDaysAgo: 2 }),
    image('ci/app', [], 3),
  ];
  const blobsOf = (list: RegistryImage[]) => new Map(list.map((i, n) => [`ci/app@${i.manifest.digest}`, [{ digest: `sha256:blob${n}`, sizeBytes: 100 }]]));

  it('without pressure deletes only the untagged manifest unpulled for a week', () => {
    const list = images();
    const plan = planRegistry(input(list, rules, { blobs: blobsOf(list) }));
    expect(plan.deletions.map((d) => d.digest)).toEqual([(list[5] as RegistryImage).manifest.digest]);
    expect(plan.deletions[0]).toMatchObject({ reason: 'rule', tags: [] });
  });

  it('under pressure deletes everything else the rules leave, never the moving tags or the releases', () => {
    const list = images();
    const plan = planRegistry(input(list, rules, { blobs: blobsOf(list), pressure: { freeBytes: 0, lowBytes: 10_000, targetBytes: 20_000 } }));
    expect(deletedTags(plan)).toEqual(['ci/app:dev-17', 'ci/app@untagged', 'ci/app@untagged', 'ci/app@untagged']);
  });
});

describe('per tag (GitLab deletes tag by tag)', () => {
  it('a selected tag goes even when a kept tag shares its digest; the image stays and frees nothing', () => {
    const shared = image('ci/app', ['pr-1', 'main'], 10);
    const alone = image('ci/app', ['pr-2'], 10);
    const blobs = new Map([[`ci/app@${shared.manifest.digest}`, [{ digest: 'sha256:aa', sizeBytes: 500 }]], [`ci/app@${alone.manifest.digest}`, [{ digest: 'sha256:bb', sizeBytes: 300 }]]]);
    const plan = planRegistry(input([shared, alone], 'Tag("pr-*") : Delete', { perTag: true, blobs }));
    expect(deletedTags(plan)).toEqual(['ci/app:pr-1', 'ci/app:pr-2']);
    expect(plan.deletions.find((d) => d.tags.includes('pr-1'))).toMatchObject({ keptBy: 'main', reclaimBytes: 0 });
    expect(plan.deletions.find((d) => d.tags.includes('pr-2'))).toMatchObject({ keptBy: null, reclaimBytes: 300 });
    expect(plan.reclaimBytes).toBe(300);
    expect(plan.held).toEqual([]);
  });

  it('min-age still holds a young image\'s selected tags', () => {
    const shared = image('ci/app', ['pr-1', 'main'], 0);
    const plan = planRegistry(input([shared], 'Tag("pr-*") : Delete', { perTag: true, minAgeMs: DAY }));
    expect(plan.deletions).toEqual([]);
    expect(plan.held).toEqual([expect.objectContaining({ tags: ['pr-1'], why: expect.stringContaining('min-age') })]);
  });
});

describe('digest safety', () => {
  it('a digest goes only when every tag on it is selected; the kept tag that holds it is named', () => {
    const shared = image('ci/app', ['pr-1', 'main'], 10);
    const alone = image('ci/app', ['pr-2'], 10);
    const plan = planRegistry(input([shared, alone], 'Tag("pr-*") : Delete'));
    expect(deletedTags(plan)).toEqual(['ci/app:pr-2']);
    expect(plan.held).toEqual([expect.objectContaining({ digest: shared.manifest.digest, tags: ['pr-1'], why: expect.stringContaining('tag main') })]);
  });

  it('never a child of a kept index; an index deleted takes its untagged children along', () => {
    const child = image('ci/multi', ['amd64-only'], 10);
    const untaggedChild = image('ci/multi', [], 10);
    const index = image('ci/multi', ['latest'], 10, { mediaType: 'application/vnd.oci.image.index.v1+json' });
    child.parents = [index.manifest.digest];
    untaggedChild.parents = [index.manifest.digest];
    const kept = planRegistry(input([child, untaggedChild, index], 'Tag("amd64-*") : Delete\nDangling : Delete'));
    expect(kept.deletions).toEqual([]);
    expect(kept.held.map((h) => h.why)).toEqual([expect.stringContaining(`a child of index ${index.manifest.digest}`)]);
    const gone = planRegistry(input([untaggedChild, index], 'Tag("latest") : Delete'));
    expect(gone.deletions.map((d) => [d.digest, d.reason])).toEqual([
      [index.manifest.digest, 'rule'],
      [untaggedChild.manifest.digest, 'index-deleted'],
    ]);
  });

  it('min-age holds what was pulled or pushed too recently', () => {
    const fresh = image('ci/app', ['pr-3'], 10, { pulledDaysAgo: 0.01 });
    const plan = planRegistry(input([fresh], 'Tag("pr-*") : Delete', { minAgeMs: DAY }));
    expect(plan.deletions).toEqual([]);
    expect(plan.held[0]?.why).toMatch(/min-age/);
  });
});

describe('storage pressure', () => {
  it('evicts least recently pulled first until the blobs freed reach the target; shared blobs count once, when their last holder goes', () => {
    const base: BlobRef = { digest: `sha256:${'f'.repeat(64)}`, sizeBytes: 1000 };
    const a = image('ci/a', ['1'], 30, { pulledDaysAgo: 9 });
    const b = image('ci/b', ['1'], 30, { pulledDaysAgo: 5 });
    const c = image('ci/c', ['1'], 30, { pulledDaysAgo: 1 });
    const protectedOne = image('ci/base', ['1'], 30, { pulledDaysAgo: 20 });
    const own = (n: number): BlobRef => ({ digest: `sha256:${n.toString().repeat(64).slice(0, 64)}`, sizeBytes: 100 * n });
    const blobs = new Map<string, BlobRef[]>([
      [`ci/a@${a.manifest.digest}`, [base, own(1)]],
      [`ci/b@${b.manifest.digest}`, [base, own(2)]],
      [`ci/c@${c.manifest.digest}`, [own(3)]],
      [`ci/base@${protectedOne.manifest.digest}`, [own(4)]],
    ]);
    const plan = planRegistry(input([c, b, protectedOne, a], 'Repository("ci/base") : Protect', { blobs, pressure: { freeBytes: 0, lowBytes: 500, targetBytes: 1250 } }));
    // a frees only its own 100 (b still holds the base); b frees its 200 and the base's 1000.
    expect(plan.deletions.map((d) => [d.repository, d.reason, d.reclaimBytes])).toEqual([
      ['ci/a', 'pressure', 100],
      ['ci/b', 'pressure', 1200],
    ]);
    expect(plan).toMatchObject({ reclaimBytes: 1300, underPressure: true, reachesTarget: true });
    expect(planRegistry(input([c, b, a], '', { blobs, pressure: { freeBytes: 600, lowBytes: 500, targetBytes: 1250 } })).deletions).toEqual([]);
  });

  it('with learned likelihoods, the least likely to be pulled again goes first; equal ones by last pull; rules still win', () => {
    const pinned = image('ci/app', ['release'], 30, { pulledDaysAgo: 6 });
    const superseded = image('ci/app', ['v7'], 10, { pulledDaysAgo: 2 });
    const tool = image('ci/tool', ['1'], 30, { pulledDaysAgo: 4 });
    const other = image('ci/tool', ['2'], 30, { pulledDaysAgo: 3 });
    const kept = image('ci/base', ['1'], 30, { pulledDaysAgo: 20 });
    const key = (i: RegistryImage) => `${i.repository}@${i.manifest.digest}`;
    const likelihood = new Map([
      [key(pinned), 0.4],
      [key(superseded), 0.01],
      [key(tool), 0.1],
      [key(other), 0.1],
      [key(kept), 0],
    ]);
    const pressure = { freeBytes: 0, lowBytes: 1, targetBytes: Number.MAX_SAFE_INTEGER };
    const order = (extra: Partial<RegistryPlanInput>) => planRegistry(input([pinned, superseded, tool, other, kept], 'Repository("ci/base") : Keep', { pressure, ...extra })).deletions.map((d) => d.tags[0]);
    expect(order({})).toEqual(['release', '1', '2', 'v7']);
    expect(order({ likelihood })).toEqual(['v7', '1', '2', 'release']);
  });
});

describe('ownLayerBytes: the layers only one manifest has ever held', () => {
  const blob = (n: number, sizeBytes: number): BlobRef => ({ digest: `sha256:${n.toString(16).padStart(64, 'e')}`, sizeBytes });

  it('counts a manifest\'s layers no other manifest held, an index\'s own children with it; not a base, even for its last live holder, nor a child another index lists', () => {
    const base = blob(1, 1000);
    const oldBase = blob(8, 900);
    const v1 = image('ci/app', ['v1'], 3);
    const v2 = image('ci/app', ['v2'], 2);
    // The last live holder of a base its deleted predecessors shared.
    const pinned = image('ci/app', ['release'], 20);
    const lone = image('ci/tool', ['1'], 3);
    const index = image('ci/multi', ['latest'], 1, { mediaType: 'application/vnd.oci.image.index.v1+json' });
    const otherIndex = image('ci/multi', ['old'], 2, { mediaType: 'application/vnd.oci.image.index.v1+json' });
    const amd64 = image('ci/multi', [], 1, { parents: [index.manifest.digest] });
    const shared = image('ci/multi', [], 1, { parents: [index.manifest.digest, otherIndex.manifest.digest] });
    const blobs = new Map([
      [`ci/app@${v1.manifest.digest}`, [base, blob(2, 50)]],
      [`ci/app@${v2.manifest.digest}`, [base, blob(3, 70)]],
      [`ci/app@${pinned.manifest.digest}`, [oldBase, blob(9, 30)]],
      [`ci/tool@${lone.manifest.digest}`, [blob(4, 500), blob(5, 20)]],
      [`ci/multi@${index.manifest.digest}`, []],
      [`ci/multi@${otherIndex.manifest.digest}`, []],
      [`ci/multi@${amd64.manifest.digest}`, [blob(6, 300)]],
      [`ci/multi@${shared.manifest.digest}`, [blob(7, 400)]],
    ]);
    // As the state counts them: every manifest that held each blob, the deleted ones too (the old base had three).
    const holders = new Map<string, number>();
    for (const list of blobs.values()) for (const b of list) holders.set(b.digest, (holders.get(b.digest) ?? 0) + 1);
    holders.set(oldBase.digest, 3);
    const all = [v1, v2, pinned, lone, index, otherIndex, amd64, shared];
    const own = ownLayerBytes(all, blobs, holders);
    const named = new Map(all.map((i) => [`${i.repository}@${i.manifest.digest}`, `${i.repository}:${i.tags[0] ?? ''}`]));
    expect(Object.fromEntries([...own].map(([k, bytes]) => [named.get(k), bytes]))).toEqual({
      'ci/app:v1': 50,
      'ci/app:v2': 70,
      'ci/app:release': 30,
      'ci/tool:1': 520,
      'ci/multi:latest': 300,
      'ci/multi:old': 0,
    });
    // Children are not ranked on their own: they go with their index.
    expect(own.has(`ci/multi@${amd64.manifest.digest}`)).toBe(false);
  });
});

describe('bytesPushedSince: what the storage took in over the last day', () => {
  const blob = (n: number, sizeBytes: number): BlobRef => ({ digest: `sha256:${n.toString(16).padStart(64, 'b')}`, sizeBytes });
  const base = blob(1, 1000);

  it('counts the layers only the day\'s manifests hold, each once; not the ones an older manifest holds', () => {
    const old = image('ci/app', ['v1'], 3);
    const v2 = image('ci/app', ['v2'], 0.5);
    const v3 = image('ci/app', ['v3'], 0.2);
    const shared = blob(2, 300);
    const blobs = new Map([
      [`ci/app@${old.manifest.digest}`, [base, blob(3, 50)]],
      [`ci/app@${v2.manifest.digest}`, [base, shared, blob(4, 70)]],
      [`ci/app@${v3.manifest.digest}`, [base, shared, blob(5, 90)]],
    ]);
    expect(bytesPushedSince([old, v2, v3], blobs, T0 - DAY)).toBe(300 + 70 + 90);
  });

  it('is null when the state knows nothing pushed before the day (a first sync dates all it finds now)', () => {
    const v1 = image('ci/app', ['v1'], 0.1);
    expect(bytesPushedSince([v1], new Map([[`ci/app@${v1.manifest.digest}`, [base]]]), T0 - DAY)).toBeNull();
  });
});
