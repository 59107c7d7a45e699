// The registry side's speed on a real docker-registry: `registry sync` over 10,000 tags, and how
// many notification events per second `registry listen` records.
import { createHash, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { mapLimit } from '../agent/registry/sync';
import { cli, startService } from '../test/harness/cli';
import { startFakeGitlab } from '../test/harness/gitlab';
import { freePort, startRegistry, type Registry } from '../test/harness/registry';
import { pushSynthetic } from '../test/harness/registry-push';
import { makeTestDir } from '../test/harness/tmp';
import type { Table } from './report';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface RegistryFigures {
  tags: number;
  syncMs: number;
  /** GitLab: tags and repositories planned through the fake GitLab API, sync + plan as new processes. */
  gitlabTags: number;
  gitlabRepositories: number;
  gitlabPlanMs: number;
  /** Of which the plan alone (reading the state, no request). */
  gitlabPlanOnlyMs: number;
  gitlabMaxInFlight: number;
  /** The same with `--gitlab-concurrency` raised: what a self-managed GitLab's own operator may choose. */
  gitlabWide: { concurrency: number; planMs: number; planOnlyMs: number; maxInFlight: number };
  listenEvents: number;
  listenEventsPerSecond: number;
}

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function ok(response: Promise<Response>, what: string): Promise<Response> {
  const r = await response;
  if (!r.ok) throw new Error(`${what}: HTTP ${r.status} ${await r.text()}`);
  return r;
}

/** Pushes `tags` distinct manifests over `repositories`, by the HTTP API. */
async function pushTags(base: string, repositories: number, tags: number): Promise<void> {
  const perRepo = Math.ceil(tags / repositories);
  await pushSynthetic(base, Array.from({ length: tags }, (_, i) => ({ repository: `bench/repo-${Math.floor(i / perRepo)}`, tag: `v${i % perRepo}`, image: String(i) })));
}

/** Posts `envelopes` envelopes of `perEnvelope` pull events each, 4 at a time; returns events per second. */
async function floodListener(address: string, token: string, envelopes: number, perEnvelope: number): Promise<number> {
  const digest = sha256('x');
  const started = performance.now();
  await mapLimit(Array.from({ length: envelopes }, (_, i) => i), 4, async () => {
    const events = Array.from({ length: perEnvelope }, () => ({
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action: 'pull',
      target: { mediaType: MANIFEST, digest, repository: 'bench/flood', tag: 'v1', size: 500 },
      request: { method: 'GET', useragent: 'docker/24.0' },
    }));
    const body = JSON.stringify({ events });
    await (await ok(fetch(`http://${address}/events`, { method: 'POST', body, headers: { 'Content-Type': 'application/vnd.docker.distribution.events.v1+json', Authorization: `Bearer ${token}` } }), 'post')).text();
  });
  return (envelopes * perEnvelope) / ((performance.now() - started) / 1000);
}

/** A raised `gitlab-concurrency`, as the operator of a self-managed GitLab may set it. */
const GITLAB_WIDE = 32;

/** `registry sync` then `plan` of a GitLab group whose projects are the first `repositories` pushed. */
async function gitlabPlan(registry: Registry, dir: string, repositories: number, concurrency: number | null, log: (line: string) => void): Promise<Pick<RegistryFigures, 'gitlabTags' | 'gitlabRepositories' | 'gitlabPlanMs' | 'gitlabPlanOnlyMs' | 'gitlabMaxInFlight'>> {
  const token = `glpat-bench-${randomUUID()}`;
  const fake = await startFakeGitlab({ registry, tokens: [token], projects: Array.from({ length: repositories }, (_, i) => ({ id: i + 1, path: `bench/repo-${i}`, group: 'bench', repositories: [''] })) });
  try {
    const statePath = join(dir, `gitlab-${concurrency ?? 'default'}.db`);
    const rules = join(dir, 'gitlab.conf');
    writeFileSync(rules, 'Tag("v1*") : Delete\n');
    const gl = (args: string[]) => cli(['--state', statePath, '--min-age', '0s', 'registry', '--gitlab', fake.url, '--group', 'bench', ...(concurrency === null ? [] : ['--gitlab-concurrency', String(concurrency)]), ...args], { GITLAB_TOKEN: token });
    log(`registry: GitLab sync + plan of ${repositories} repositories through the fake API, ${concurrency ?? 'default'} in flight`);
    const started = performance.now();
    const synced = await gl(['sync', '--json']);
    if (synced.code !== 0) throw new Error(`GitLab sync failed: ${synced.stderr}`);
    const planStarted = performance.now();
    const planned = await gl(['plan', '--rules', rules, '--json']);
    if (planned.code !== 0) throw new Error(`GitLab plan failed: ${planned.stderr}`);
    const elapsed = performance.now() - started;
    const planOnly = performance.now() - planStarted;
    const seen = JSON.parse(synced.stdout) as { tags: number; repositories: number };
    return { gitlabTags: seen.tags, gitlabRepositories: seen.repositories, gitlabPlanMs: elapsed, gitlabPlanOnlyMs: planOnly, gitlabMaxInFlight: fake.maxInFlight() };
  } finally {
    await fake.stop();
  }
}

export async function runRegistryBench(quick: boolean, log: (line: string) => void): Promise<{ figures: RegistryFigures; table: Table }> {
  const dir = makeTestDir('bench-registry');
  const registry = await startRegistry();
  try {
    const base = `http://${registry.address}`;
    const tags = quick ? 2000 : 10_000;
    log(`registry: pushing ${tags} tags (distinct manifests) over ${tags / 100} repositories`);
    await pushTags(base, tags / 100, tags);
    const statePath = join(dir, 'state.db');
    log('registry: registry sync as a new process');
    const started = performance.now();
    const synced = await cli(['--state', statePath, 'registry', '--registry', base, 'sync', '--json']);
    const syncMs = performance.now() - started;
    if (synced.code !== 0) throw new Error(`registry sync failed: ${synced.stderr}`);
    const seen = (JSON.parse(synced.stdout) as { tags: number }).tags;
    if (seen !== tags) throw new Error(`registry sync saw ${seen} tags, ${tags} pushed`);

    log('registry: registry listen under a flood of notification envelopes');
    const token = `bench-listener-token-${randomUUID()}`;
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, token, { mode: 0o600 });
    const address = `127.0.0.1:${await freePort()}`;
    const listener = startService(['--state', join(dir, 'listen.db'), 'registry', '--registry', base, 'listen', '--listen', address, '--token-file', tokenFile]);
    let perSecond = 0;
    const envelopes = quick ? 100 : 400;
    const perEnvelope = 50;
    try {
      await listener.waitForLog('registry_listening');
      // The first pull creates the manifest row; warm up before the clock starts.
      await floodListener(address, token, 10, perEnvelope);
      perSecond = await floodListener(address, token, envelopes, perEnvelope);
    } finally {
      await listener.stop();
    }
    const gitlab = await gitlabPlan(registry, dir, tags / 100 / 2, null, log);
    const wide = await gitlabPlan(registry, dir, tags / 100 / 2, GITLAB_WIDE, log);
    const gitlabWide = { concurrency: GITLAB_WIDE, planMs: wide.gitlabPlanMs, planOnlyMs: wide.gitlabPlanOnlyMs, maxInFlight: wide.gitlabMaxInFlight };
    const figures = { tags, syncMs, listenEvents: envelopes * perEnvelope, listenEventsPerSecond: perSecond, ...gitlab, gitlabWide };
    return {
      figures,
      table: {
        title: 'Registry side on docker-registry 2.8.2 (loopback)',
        header: ['measure', 'result'],
        rows: [
          [`registry sync as a new process, ${tags} tags (distinct manifests) in ${tags / 100} repositories`, `${(syncMs / 1000).toFixed(1)} s`],
          [`registry listen: ${figures.listenEvents} pull events in envelopes of ${perEnvelope}, 4 posts at a time`, `${Math.round(perSecond)} events/s`],
          [`GitLab (fake API over this registry): sync + plan of ${gitlab.gitlabTags} tags in ${gitlab.gitlabRepositories} repositories of one group, as new processes`, `${(gitlab.gitlabPlanMs / 1000).toFixed(1)} s (plan ${(gitlab.gitlabPlanOnlyMs / 1000).toFixed(1)} s), at most ${gitlab.gitlabMaxInFlight} requests in flight (the default)`],
          [`The same with --gitlab-concurrency ${GITLAB_WIDE}`, `${(gitlabWide.planMs / 1000).toFixed(1)} s (plan ${(gitlabWide.planOnlyMs / 1000).toFixed(1)} s), at most ${gitlabWide.maxInFlight} requests in flight`],
        ],
        note: 'The GitLab sync asks one tag-details request per tag (GitLab lists tags by name only); the fake answers each by two reads of the real registry (manifest, then config for created_at), as GitLab does. Sync reads every tag\'s manifest (GET by tag, 16 at a time, 4 repositories at a time) and writes each repository in one transaction. Each listened event is one SQLite transaction (de-duplicated by ID).',
      },
    };
  } finally {
    await registry.stop();
  }
}
