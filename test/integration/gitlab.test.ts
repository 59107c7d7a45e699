// The GitLab backend of `registry sync|plan|apply|status|delete-tag`, against a faithful fake of
// GitLab's API (test/harness/gitlab.ts) whose tags live in a real docker-registry 2.8: a delete
// here really removes a tag there. Outcomes are checked on the registry itself, before and after.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import Database from 'better-sqlite3';
import { CLI, cli, startService } from '../harness/cli';
import { startFakeGitlab, type FakeGitlab } from '../harness/gitlab';
import { run, waitFor } from '../harness/proc';
import { freePort, startRegistry, type Registry } from '../harness/registry';
import { pushSynthetic, type SyntheticTag } from '../harness/registry-push';
import { fileTestDir } from '../harness/tmp';

const TOKEN = 'glpat-test-0123456789abcdef';
const dir = fileTestDir('gitlab');
let registry: Registry;
let gitlab: FakeGitlab;
let base: string;

/** Every tag of every repository of the registry, as `repository:tag`, sorted. */
async function allTags(): Promise<string[]> {
  const catalog = (await (await fetch(`${base}/v2/_catalog?n=1000`)).json()) as { repositories: string[] };
  const out: string[] = [];
  for (const repository of catalog.repositories) {
    const list = (await (await fetch(`${base}/v2/${repository}/tags/list`)).json()) as { tags: string[] | null };
    for (const tag of list.tags ?? []) out.push(`${repository}:${tag}`);
  }
  return out.sort();
}

const env = { GITLAB_TOKEN: TOKEN };
const scoped = (statePath: string, scope: string[], args: string[], extra: NodeJS.ProcessEnv = env) =>
  cli(['--state', statePath, '--min-age', '0s', 'registry', '--gitlab', gitlab.url, ...scope, ...args], extra);

const tags = (repository: string, names: string[], image: (name: string) => string = (name) => `${repository}:${name}`): SyntheticTag[] =>
  names.map((tag) => ({ repository, tag, image: image(tag), created: '2026-01-02T03:04:05Z' }));

beforeAll(async () => {
  registry = await startRegistry();
  base = `http://${registry.address}`;
  gitlab = await startFakeGitlab({
    registry,
    tokens: [TOKEN, 'glpat-expiring-0123456789'],
    projects: [
      { id: 1, path: 'ci/app', group: 'ci', repositories: ['', 'review'], protectedTags: [/^v\d+$/] },
      { id: 2, path: 'ci/tools', group: 'ci', repositories: ['builder'], protectedTags: [/^stable$/] },
      { id: 3, path: 'other/lib', group: 'other', repositories: [''] },
      { id: 4, path: 'big/mono', group: 'big', repositories: [''] },
    ],
  });
  await pushSynthetic(base, [
    ...tags('ci/app', ['v1', 'v2', 'main', 'mr-1', 'mr-2']),
    // mr-3 is the very image main is: per tag, it goes and main keeps the image.
    ...tags('ci/app', ['mr-3'], () => 'ci/app:main'),
    ...tags('ci/app/review', ['mr-10', 'mr-11', 'latest']),
    ...tags('ci/app/review', ['mr-12'], () => 'ci/app/review:latest'),
    ...tags('ci/tools/builder', ['stable', 'b1', 'b2', 'b3']),
    ...tags('other/lib', ['mr-1', 'mr-2']),
    // Past one page of 100: the same image under 130 names.
    ...tags('big/mono', Array.from({ length: 130 }, (_, i) => `t${String(i).padStart(3, '0')}`), () => 'big/mono'),
  ]);
}, 120_000);

afterAll(async () => {
  await gitlab?.stop();
  await registry?.stop();
});

describe('GitLab: sync, plan and apply through the API', () => {
  it('deletes exactly the planned tags over a group of 3 repositories; protected tags are skipped and reported', async () => {
    const statePath = join(dir, 'group.db');
    const group = ['--group', 'ci'];
    const synced = await scoped(statePath, group, ['sync', '--json']);
    expect(synced.code).toBe(0);
    expect(JSON.parse(synced.stdout)).toMatchObject({ repositories: 3, tags: 14 });

    const rules = join(dir, 'mr.conf');
    // Tags no rule claims (main, latest) are pressure candidates only: kept here.
    writeFileSync(rules, ['Tag("mr-*") : Delete', 'Tag("v*") : Delete', 'Repository("ci/tools/builder") : PreserveRecent(2)', 'Repository("ci/tools/builder") : Delete', ''].join('\n'));
    const planned = await scoped(statePath, group, ['plan', '--rules', rules, '--json']);
    expect(planned.code).toBe(0);
    const plan = JSON.parse(planned.stdout) as { pullTimes: boolean; note: string; deletions: Array<{ repository: string; tags: string[]; keptBy: string | null }> };
    const plannedTags = plan.deletions.flatMap((d) => d.tags.map((t) => `${d.repository}:${t}`)).sort();
    // other/lib is another group's: never judged. The builder keeps its 2 most recent of 4.
    expect(plannedTags.filter((t) => !t.startsWith('ci/tools/builder:'))).toEqual(['ci/app/review:mr-10', 'ci/app/review:mr-11', 'ci/app/review:mr-12', 'ci/app:mr-1', 'ci/app:mr-2', 'ci/app:mr-3', 'ci/app:v1', 'ci/app:v2']);
    expect(plannedTags.filter((t) => t.startsWith('ci/tools/builder:'))).toHaveLength(2);
    expect(plan.deletions.find((d) => d.tags.includes('mr-3'))?.keptBy).toBe('main');
    // status says the same per image: main's image loses mr-3 but stays.
    const classed = await scoped(statePath, group, ['status', '--rules', rules, '--json']);
    const byTags = new Map((JSON.parse(classed.stdout) as { images: Array<{ tags: string[]; class: string }> }).images.map((i) => [[...i.tags].sort().join(','), i.class]));
    expect([byTags.get('main,mr-3'), byTags.get('mr-1'), byTags.get('latest,mr-12')]).toEqual(['untag', 'delete', 'untag']);
    // No notifications reach this state: the plan says what it judges by.
    expect(plan.pullTimes).toBe(false);
    expect(plan.note).toMatch(/no pulls recorded/);

    const before = await allTags();
    const applied = await scoped(statePath, group, ['apply', '--rules', rules, '--json']);
    expect(applied.code).toBe(0);
    const outcomes = (JSON.parse(applied.stdout) as { outcomes: Array<{ repository: string; tags: string[]; result: string; detail: string | null }> }).outcomes;
    const protectedOnes = outcomes.filter((o) => o.result === 'protected').map((o) => `${o.repository}:${o.tags[0]}`).sort();
    expect(protectedOnes).toEqual(['ci/app:v1', 'ci/app:v2', ...plannedTags.filter((t) => t === 'ci/tools/builder:stable')]);
    const deleted = outcomes.filter((o) => o.result === 'deleted').map((o) => `${o.repository}:${o.tags[0]}`).sort();
    expect(deleted).toEqual(plannedTags.filter((t) => !protectedOnes.includes(t)));
    // Nothing outside the plan went, and everything in it but the protected did.
    const after = await allTags();
    expect(after).toEqual(before.filter((t) => !deleted.includes(t)));
    // mr-3 went, the image stays under main; mr-12 went, latest still pulls.
    for (const [repository, tag] of [['ci/app', 'main'], ['ci/app/review', 'latest']] as const) {
      expect((await fetch(`${base}/v2/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).status).toBe(200);
    }

    // The state follows: status shows no deleted tag, and a second plan finds only the protected ones.
    const status = await scoped(statePath, group, ['status', '--json']);
    const statusImages = (JSON.parse(status.stdout) as { images: Array<{ repository: string; tags: string[]; class: string; rank: number | null }> }).images;
    const shown = statusImages.flatMap((i) => i.tags.map((t) => `${i.repository}:${t}`));
    // Without --storage a GitLab scope is never evicted under pressure: nothing is a ranked candidate.
    expect(statusImages.every((i) => i.class === 'kept' && i.rank === null)).toBe(true);
    for (const tag of deleted) expect(shown).not.toContain(tag);
    const again = await scoped(statePath, group, ['plan', '--rules', rules, '--json']);
    const left = (JSON.parse(again.stdout) as { deletions: Array<{ repository: string; tags: string[] }> }).deletions.flatMap((d) => d.tags.map((t) => `${d.repository}:${t}`));
    expect(left.sort()).toEqual(protectedOnes);
  }, 180_000);

  it('follows pages past 100 tags, with no more requests in flight than gitlab-concurrency', async () => {
    const statePath = join(dir, 'paging.db');
    gitlab.resetMaxInFlight();
    const synced = await scoped(statePath, ['--project', 'big/mono', '--gitlab-concurrency', '2'], ['sync', '--json']);
    expect(synced.code).toBe(0);
    expect(gitlab.maxInFlight()).toBe(2);
    expect(JSON.parse(synced.stdout)).toMatchObject({ repositories: 1, tags: 130 });
    const listed = gitlab.requests.filter((r) => r.path.startsWith(`/api/v4/projects/4/registry/repositories/${gitlab.repositoryId('big/mono')}/tags?`));
    expect(listed.map((r) => new URL(r.path, 'http://x').searchParams.get('page'))).toEqual(['1', '2']);
  }, 120_000);

  it('stops when the token expires mid-run: the rest reported as not done, nothing else deleted', async () => {
    const statePath = join(dir, 'expiry.db');
    const expiring = { GITLAB_TOKEN: 'glpat-expiring-0123456789' };
    await pushSynthetic(base, tags('other/lib', ['pr-1', 'pr-2', 'pr-3', 'pr-4', 'pr-5', 'pr-6']));
    expect((await scoped(statePath, ['--project', '3'], ['sync'], expiring)).code).toBe(0);
    const rules = join(dir, 'pr.conf');
    writeFileSync(rules, 'Tag("pr-*") : Delete\n');
    const before = await allTags();
    gitlab.expireAfterDeletes('glpat-expiring-0123456789', 2);
    const applied = await scoped(statePath, ['--project', '3'], ['apply', '--rules', rules, '--json'], expiring);
    expect(applied.code).toBe(3);
    expect(applied.stderr).toMatch(/401.*GITLAB_TOKEN.*expired.*4 of 6 tag deletions not done/s);
    const outcomes = (JSON.parse(applied.stdout) as { outcomes: Array<{ tags: string[]; result: string }> }).outcomes;
    expect(outcomes.map((o) => o.result).sort()).toEqual(['deleted', 'deleted', 'not-done', 'not-done', 'not-done', 'not-done']);
    const deleted = outcomes.filter((o) => o.result === 'deleted').map((o) => `other/lib:${o.tags[0]}`);
    expect(await allTags()).toEqual(before.filter((t) => !deleted.includes(t)));
  }, 120_000);

  it('waits as Retry-After says on 429, then carries on', async () => {
    const statePath = join(dir, 'throttle.db');
    const mark = gitlab.requests.length;
    gitlab.throttle(2, 2);
    const synced = await scoped(statePath, ['--project', 'ci/tools'], ['sync', '--json']);
    expect(synced.code).toBe(0);
    expect(JSON.parse(synced.stdout)).toMatchObject({ repositories: 1 });
    const seen = gitlab.requests.slice(mark);
    expect(seen.slice(0, 3).map((r) => r.status)).toEqual([429, 429, 200]);
    // Each retry came no sooner than the 2 s asked (load only makes the gap longer).
    expect((seen[1] as { atMs: number }).atMs - (seen[0] as { atMs: number }).atMs).toBeGreaterThanOrEqual(1990);
    expect((seen[2] as { atMs: number }).atMs - (seen[1] as { atMs: number }).atMs).toBeGreaterThanOrEqual(1990);
  }, 120_000);
});

describe('GitLab with pull times from registry listen', () => {
  it('keeps the tag pulled just now and deletes the one unpulled, under Unused("3d")', async () => {
    const statePath = join(dir, 'pulls.db');
    const listenToken = 'listener-token-0123456789abcdef';
    writeFileSync(`${statePath}.token`, listenToken, { mode: 0o600 });
    const listenAddress = `127.0.0.1:${await freePort()}`;
    const heard = await startRegistry({ notify: { url: `http://${listenAddress}/events`, token: listenToken } });
    const heardBase = `http://${heard.address}`;
    const listener = startService(['--state', statePath, 'registry', '--registry', heardBase, 'listen', '--listen', listenAddress, '--token-file', `${statePath}.token`]);
    const fake = await startFakeGitlab({ registry: heard, tokens: [TOKEN], projects: [{ id: 7, path: 'team/svc', repositories: [''] }] });
    try {
      await listener.waitForLog('registry_listening');
      const digests = await pushSynthetic(heardBase, tags('team/svc', ['old-1', 'old-2']));
      const recorded = (sql: string, ...params: unknown[]) => () => {
        const check = new Database(statePath, { readonly: true });
        try {
          return check.prepare(sql).get(...params) === undefined ? undefined : true;
        } finally {
          check.close();
        }
      };
      // The pushes' notifications first: one arriving after the backdating below would undo it.
      for (const image of ['team/svc:old-1', 'team/svc:old-2']) await waitFor(`the push of ${image}`, recorded('SELECT 1 FROM registry_manifests WHERE digest = ?', digests.get(image)));
      // --registry names GitLab's registry, so this state is the one the listener writes.
      const gl = (args: string[]) => cli(['--state', statePath, '--min-age', '0s', 'registry', '--gitlab', fake.url, '--project', '7', '--registry', heardBase, ...args], env);
      const synced = await gl(['sync']);
      expect(synced).toMatchObject({ code: 0, stdout: expect.stringContaining('2 tags'), stderr: expect.not.stringContaining('rror') });
      const db = new Database(statePath);
      db.prepare('UPDATE registry_manifests SET pushed_ms = pushed_ms - ? WHERE repository = ?').run(10 * 86_400_000, 'team/svc');
      db.close();
      const pulled = await fetch(`${heardBase}/v2/team/svc/manifests/old-1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json', 'User-Agent': 'docker/24.0.7 go/go1.20' } });
      expect(pulled.status).toBe(200);
      await waitFor('the pull to be recorded', recorded('SELECT 1 FROM registry_manifests WHERE digest = ? AND last_pull_ms IS NOT NULL', digests.get('team/svc:old-1')));
      const rules = join(dir, 'unused.conf');
      writeFileSync(rules, 'Unused("3d") : Delete\n');
      const planned = await gl(['plan', '--rules', rules, '--json']);
      expect(planned.code).toBe(0);
      const plan = JSON.parse(planned.stdout) as { pullTimes: boolean; deletions: Array<{ tags: string[] }> };
      expect(plan.pullTimes).toBe(true);
      expect(plan.deletions.flatMap((d) => d.tags)).toEqual(['old-2']);
    } finally {
      await fake.stop();
      await listener.stop();
      await heard.stop();
    }
  }, 120_000);
});

describe('registry delete-tag: a stop-environment job', () => {
  it('deletes the review tag only; another tag on the same image keeps it (GitLab)', async () => {
    const statePath = join(dir, 'stop-env.db');
    await pushSynthetic(base, [...tags('ci/app/review', ['feature-x']), ...tags('ci/app/review', ['feature-x-copy'], () => 'ci/app/review:feature-x')]);
    // As the job gives it: $CI_REGISTRY_IMAGE/review:$CI_COMMIT_REF_SLUG, the registry host in front.
    const deleted = await scoped(statePath, ['--project', 'ci/app'], ['delete-tag', `${registry.address}/ci/app/review:feature-x`]);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toMatch(/deleted\s+ci\/app\/review:feature-x/);
    expect(await allTags()).toEqual(expect.arrayContaining(['ci/app/review:feature-x-copy']));
    expect(await allTags()).not.toContain('ci/app/review:feature-x');
    // Again: already gone is fine (a retried job).
    expect((await scoped(statePath, ['--project', 'ci/app'], ['delete-tag', 'ci/app/review:feature-x'])).code).toBe(0);
    // A protected tag: reported, kept, exit 3.
    const refused = await scoped(statePath, ['--project', 'ci/app'], ['delete-tag', 'ci/app:v1']);
    expect(refused.code).toBe(3);
    expect(refused.stdout).toMatch(/protected\s+ci\/app:v1/);
    expect(await allTags()).toContain('ci/app:v1');
  }, 120_000);

  it('on a Distribution registry, holds a tag whose digest another tag shares, and deletes one that is alone', async () => {
    const statePath = join(dir, 'stop-env-distribution.db');
    await pushSynthetic(base, [...tags('plain/app', ['mr-7', 'alone']), ...tags('plain/app', ['main'], () => 'plain/app:mr-7')]);
    const held = await cli(['--state', statePath, 'registry', '--registry', base, 'delete-tag', 'plain/app:mr-7']);
    expect(held.code).toBe(3);
    expect(held.stdout).toMatch(/held.*tag main points at the same digest/);
    const alone = await cli(['--state', statePath, 'registry', '--registry', base, 'delete-tag', 'plain/app:alone']);
    expect(alone.code).toBe(0);
    expect((await allTags()).filter((t) => t.startsWith('plain/app:'))).toEqual(['plain/app:main', 'plain/app:mr-7']);
  }, 120_000);
});

describe('policies/gitlab-ci.yml, its scripts run as GitLab would run them', () => {
  interface Job {
    script: string[];
    variables?: Record<string, string>;
  }
  const pipeline = parse(readFileSync(join(__dirname, '..', '..', 'policies', 'gitlab-ci.yml'), 'utf8')) as { variables: Record<string, string> } & Record<string, Job>;

  /** Runs a job's script lines with `sh -e` in a project checkout, image-evictor on PATH, the CI variables GitLab sets. */
  async function runJob(name: string, projectDir: string, ci: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    const job = pipeline[name] as Job;
    const bin = join(projectDir, '.bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'image-evictor'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`, { mode: 0o755 });
    const expand = (text: string, vars: Record<string, string>) => text.replace(/\$([A-Z_]+)/g, (_, v: string) => vars[v] ?? '');
    const vars: Record<string, string> = { ...ci };
    for (const [k, v] of Object.entries({ ...pipeline.variables, ...(job.variables ?? {}) })) vars[k] = expand(String(v), vars);
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IMAGE_EVICTOR_'))) as Record<string, string>;
    return run('sh', ['-ec', job.script.join('\n')], { cwd: projectDir, env: { ...base, ...vars, PATH: `${bin}:${process.env.PATH ?? ''}` } });
  }

  it('stop_review deletes the review tag only; registry_cleanup deletes nothing on its first run (ages count from the first sync)', async () => {
    const projectDir = join(dir, 'checkout');
    mkdirSync(projectDir, { recursive: true });
    cpSync(join(__dirname, '..', '..', 'policies'), join(projectDir, 'policies'), { recursive: true });
    await pushSynthetic(base, [...tags('ci/app/review', ['feature-y']), ...tags('ci/app/review', ['feature-y-pinned'], () => 'ci/app/review:feature-y')]);
    const ci = { CI_SERVER_URL: gitlab.url, CI_PROJECT_ID: '1', CI_PROJECT_DIR: projectDir, CI_REGISTRY_IMAGE: `${registry.address}/ci/app`, CI_COMMIT_REF_SLUG: 'feature-y', GITLAB_TOKEN: TOKEN };

    const stopped = await runJob('stop_review', projectDir, ci);
    expect(stopped).toMatchObject({ code: 0 });
    expect(await allTags()).not.toContain('ci/app/review:feature-y');
    expect(await allTags()).toContain('ci/app/review:feature-y-pinned');

    const before = await allTags();
    const preview = await runJob('registry_cleanup_preview', projectDir, ci);
    expect(preview.code).toBe(0);
    expect(preview.stdout).toMatch(/nothing to delete/);
    const cleanup = await runJob('registry_cleanup', projectDir, ci);
    expect(cleanup.code).toBe(0);
    expect(cleanup.stdout).toMatch(/0 tags deleted/);
    expect(await allTags()).toEqual(before);
  }, 120_000);
});

describe('GitLab: bad input and credentials', () => {
  it('refuses before any request: no token, both --project and --group, a bad reference (exit 2)', async () => {
    const statePath = join(dir, 'bad.db');
    const mark = gitlab.requests.length;
    const noToken = await scoped(statePath, ['--project', '1'], ['sync'], {});
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toMatch(/GITLAB_TOKEN/);
    const both = await scoped(statePath, ['--project', '1', '--group', 'ci'], ['sync']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/gitlab-group.*not both/);
    const badRef = await scoped(statePath, ['--project', '1'], ['delete-tag', 'ci/app/review']);
    expect(badRef.code).toBe(2);
    expect(badRef.stderr).toMatch(/names no tag/);
    const greedy = await scoped(statePath, ['--project', '1', '--gitlab-concurrency', '65'], ['sync']);
    expect(greedy.code).toBe(2);
    expect(greedy.stderr).toMatch(/gitlab-concurrency.*at most 64/);
    expect(gitlab.requests.length).toBe(mark);
  });

  it('a wrong token: a clear error naming where the token came from, nothing recorded', async () => {
    const statePath = join(dir, 'wrong.db');
    const wrong = await scoped(statePath, ['--project', '1'], ['sync'], { GITLAB_TOKEN: 'glpat-wrong' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/HTTP 401.*\$GITLAB_TOKEN/);
    // Never synced: plan refuses rather than show an empty project.
    const plan = await scoped(statePath, ['--project', '1'], ['plan']);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toMatch(/never synced/);
  });
});

describe('the fake GitLab is faithful where the client depends on it', () => {
  const api = (path: string, init: RequestInit = {}, token: string | null = TOKEN) =>
    fetch(`${gitlab.url}/api/v4${path}`, { ...init, headers: token === null ? {} : { 'PRIVATE-TOKEN': token } });

  it('hides projects from a missing token (404), refuses a wrong one (401), 404s a missing tag', async () => {
    expect((await api('/projects/1/registry/repositories', {}, null)).status).toBe(404);
    expect((await api('/projects/1/registry/repositories', {}, 'nope')).status).toBe(401);
    expect((await api(`/projects/1/registry/repositories/${gitlab.repositoryId('ci/app')}/tags/no-such-tag`)).status).toBe(404);
  });

  it('bulk delete: 400 without name_regex_delete, 202 then works later, 400 within the hour, never latest', async () => {
    await pushSynthetic(base, tags('ci/tools/builder', ['latest', 'tmp-1', 'tmp-2']));
    const path = `/projects/2/registry/repositories/${gitlab.repositoryId('ci/tools/builder')}/tags`;
    expect((await api(path, { method: 'DELETE' })).status).toBe(400);
    expect((await api(`${path}?name_regex_delete=${encodeURIComponent('.*')}&name_regex_keep=${encodeURIComponent('b.*')}`, { method: 'DELETE' })).status).toBe(202);
    await waitFor('the bulk delete to finish', async () => ((await allTags()).includes('ci/tools/builder:tmp-1') || (await allTags()).includes('ci/tools/builder:tmp-2') ? undefined : true));
    const left = (await allTags()).filter((t) => t.startsWith('ci/tools/builder:'));
    expect(left).toContain('ci/tools/builder:latest');
    expect(left).toContain('ci/tools/builder:stable');
    expect((await api(`${path}?name_regex_delete=.*`, { method: 'DELETE' })).status).toBe(400);
  });
});
