// The GitLab client's pure parts: paging, Retry-After, references; and its retry loop against a
// stub fetch (the integration tests run it against the fake GitLab over HTTP).
import { createGitlabClient, nextGitlabPage, retryAfterMs } from '../../agent/gitlab/client';
import { loadGitlabToken } from '../../agent/gitlab/token';
import { parseTagRef } from '../../agent/core/tag-ref';

const headers = (h: Record<string, string>) => new Headers(h);

describe('nextGitlabPage', () => {
  it('prefers X-Next-Page, keeping the other parameters', () => {
    expect(nextGitlabPage('https://gl.example/api/v4/projects/1/registry/repositories?per_page=100&page=1', headers({ 'x-next-page': '2', link: '<https://other/x>; rel="next"' }))).toBe(
      'https://gl.example/api/v4/projects/1/registry/repositories?per_page=100&page=2',
    );
  });
  it("stops at an empty X-Next-Page (the last page) even with a Link that has no next", () => {
    expect(nextGitlabPage('https://gl.example/a?page=3', headers({ 'x-next-page': '', link: '<https://gl.example/a?page=1>; rel="first"' }))).toBeNull();
  });
  it('follows Link when X-Next-Page is absent (keyset paging)', () => {
    expect(nextGitlabPage('https://gl.example/a?page=1', headers({ link: '<https://gl.example/a?page=1>; rel="first", <https://gl.example/a?cursor=xyz>; rel="next"' }))).toBe('https://gl.example/a?cursor=xyz');
  });
});

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates; 1 s when absent or unreadable', () => {
    expect(retryAfterMs('7', 0)).toBe(7000);
    expect(retryAfterMs(new Date(60_000).toUTCString(), 0)).toBe(60_000);
    expect(retryAfterMs(null, 0)).toBe(1000);
    expect(retryAfterMs('soon', 0)).toBe(1000);
  });
});

describe('the client', () => {
  const realFetch = globalThis.fetch;
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  it('waits out 429 as Retry-After says, sends the token header, never more than `concurrency` at once', async () => {
    const slept: number[] = [];
    let inFlight = 0;
    let most = 0;
    let calls = 0;
    globalThis.fetch = (async (_url: string, init: RequestInit) => {
      calls += 1;
      const call = calls;
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight -= 1;
      expect((init.headers as Record<string, string>)['JOB-TOKEN']).toBe('job-secret');
      if (call === 1) return new Response('', { status: 429, headers: { 'Retry-After': '3' } });
      return new Response(JSON.stringify({ name: 't', digest: 'sha256:ab', total_size: 5 }), { status: 200 });
    }) as typeof fetch;
    const client = createGitlabClient('https://gl.example', { header: 'JOB-TOKEN', value: 'job-secret', source: '$CI_JOB_TOKEN' }, { concurrency: 2, sleep: async (ms) => void slept.push(ms) });
    const repo = { id: 1, path: 'g/p', project_id: 9 };
    const got = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((t) => client.tagDetails(repo, t)));
    expect(got.every((d) => d?.digest === 'sha256:ab')).toBe(true);
    expect(slept).toEqual([3000]);
    expect(most).toBe(2);
  });

  it('says where a refused token came from, and never prints it', async () => {
    globalThis.fetch = (async () => new Response('{"message":"401 Unauthorized"}', { status: 401 })) as typeof fetch;
    const client = createGitlabClient('https://gl.example', { header: 'PRIVATE-TOKEN', value: 'glpat-secret', source: '$GITLAB_TOKEN' });
    const error = await client.repositories({ kind: 'project', id: 'g/p' }).catch((e: Error) => e);
    expect(String(error)).toMatch(/HTTP 401.*\$GITLAB_TOKEN/);
    expect(String(error)).not.toMatch(/glpat-secret/);
  });
});

describe('loadGitlabToken', () => {
  it('GITLAB_TOKEN as PRIVATE-TOKEN, else CI_JOB_TOKEN as JOB-TOKEN, else a config error naming both', () => {
    expect(loadGitlabToken({ GITLAB_TOKEN: 'a', CI_JOB_TOKEN: 'b' })).toMatchObject({ header: 'PRIVATE-TOKEN', value: 'a' });
    expect(loadGitlabToken({ CI_JOB_TOKEN: 'b' })).toMatchObject({ header: 'JOB-TOKEN', value: 'b' });
    expect(() => loadGitlabToken({})).toThrow(/GITLAB_TOKEN.*CI_JOB_TOKEN/);
  });
});

describe('parseTagRef', () => {
  it('takes the tag after the last colon past the last slash, and drops a registry host', () => {
    expect(parseTagRef('group/app:mr-12')).toEqual({ repository: 'group/app', tag: 'mr-12' });
    expect(parseTagRef('registry.example.com:5050/group/app/review:feature-x')).toEqual({ repository: 'group/app/review', tag: 'feature-x' });
    expect(parseTagRef('localhost/app:v1')).toEqual({ repository: 'app', tag: 'v1' });
    expect(parseTagRef('app:v1')).toEqual({ repository: 'app', tag: 'v1' });
  });
  it('refuses a reference without a tag, a bad tag, or a bad path', () => {
    expect(parseTagRef('registry.example.com:5050/group/app')).toMatch(/names no tag/);
    expect(parseTagRef('group/app:-x')).toMatch(/not a valid tag/);
    expect(parseTagRef('Group/App:v1')).toMatch(/not a valid repository path/);
  });
});
