// HTTP client for GitLab's container registry API (/api/v4): repositories of a project or group,
// tags, tag details, single tag deletes. Offset paging by `X-Next-Page` (else `Link`); 429 and 503
// waited out as `Retry-After` says; a bounded number of requests in flight.
import { z } from 'zod';
import { errorText } from '../errors';
import { USER_AGENT } from '../registry/client';
import { collectPages } from '../registry/pages';
import type { GitlabToken } from './token';

/** GitLab answered with an error the caller did not expect, or could not be reached. */
export class GitlabError extends Error {
  constructor(
    readonly operation: string,
    readonly status: number | null,
    detail: string,
  ) {
    super(`GitLab ${operation} failed${status === null ? '' : ` with HTTP ${status}`}: ${detail}`);
    this.name = 'GitlabError';
  }
}

/** 401: the token is missing, wrong, revoked or expired. Nothing further can succeed. */
export class GitlabAuthError extends GitlabError {}

export const GitlabRepository = z.object({
  id: z.number().int(),
  /** Full path, e.g. `group/project/image`: the registry's repository name. */
  path: z.string().min(1),
  project_id: z.number().int(),
  location: z.string().optional(),
});
export type GitlabRepository = z.infer<typeof GitlabRepository>;

const TagName = z.object({ name: z.string().min(1) });

export const GitlabTagDetails = z.object({
  name: z.string(),
  digest: z.string().min(1),
  /** The image manifest's time (its config's `created`), not the push: reproducible builds say 1970. */
  created_at: z.string().nullable().optional(),
  /** The image's bytes as GitLab sums them: its layers, shared with other images or not. */
  total_size: z.number().nonnegative().nullable().optional(),
  media_type: z.string().nullable().optional(),
});
export type GitlabTagDetails = z.infer<typeof GitlabTagDetails>;

export type TagDeleteResult = 'deleted' | 'gone' | 'protected';

export interface GitlabScope {
  kind: 'project' | 'group';
  /** The numeric ID or the full path, as the operator gave it. */
  id: string;
}

export interface GitlabClient {
  readonly url: string;
  /** Every container repository of the scope, following pages. */
  repositories(scope: GitlabScope): Promise<GitlabRepository[]>;
  /** Every tag name of a repository, following pages. */
  tags(repository: GitlabRepository): Promise<string[]>;
  /** A tag's digest and size; null when the tag does not exist (any more). */
  tagDetails(repository: GitlabRepository, tag: string): Promise<GitlabTagDetails | null>;
  /** Deletes one tag (GitLab removes only that tag, not the other tags on its digest). */
  deleteTag(repository: GitlabRepository, tag: string): Promise<TagDeleteResult>;
}

export interface GitlabClientOptions {
  timeoutMs?: number;
  /** Requests in flight at once, over all callers. */
  concurrency?: number;
  perPage?: number;
  /** Longest `Retry-After` honoured, and how many times one request is retried. */
  maxRetryAfterMs?: number;
  maxRetries?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** The next page's URL: `X-Next-Page` (offset paging) when given, else `Link: <..>; rel="next"`. */
export function nextGitlabPage(current: string, headers: { get(name: string): string | null }): string | null {
  const next = headers.get('x-next-page');
  if (next !== null && next.trim() !== '') {
    const url = new URL(current);
    url.searchParams.set('page', next.trim());
    return url.toString();
  }
  for (const part of (headers.get('link') ?? '').split(',')) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (match) return new URL(match[1] as string, current).toString();
  }
  return null;
}

/** Milliseconds a `Retry-After` asks for (seconds or an HTTP date); 1 s when absent or unreadable. */
export function retryAfterMs(value: string | null, nowMs: number): number {
  if (value === null) return 1000;
  const seconds = Number(value.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? 1000 : Math.max(0, at - nowMs);
}

/** A counting semaphore: at most `limit` holders at once. */
function limiter(limit: number): <T>(work: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (work) => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active += 1;
    try {
      return await work();
    } finally {
      active -= 1;
      waiting.shift()?.();
    }
  };
}

export function createGitlabClient(url: string, token: GitlabToken, options: GitlabClientOptions = {}): GitlabClient {
  const base = url.replace(/\/+$/, '');
  const api = `${base}/api/v4`;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const perPage = options.perPage ?? 100;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 120_000;
  const maxRetries = options.maxRetries ?? 5;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const slot = limiter(options.concurrency ?? 8);

  async function once(operation: string, target: string, method: string): Promise<Response> {
    try {
      return await fetch(target, { method, headers: { 'User-Agent': USER_AGENT, [token.header]: token.value, Accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      throw new GitlabError(operation, null, `${base}: ${errorText(cause ?? error)}`);
    }
  }

  /** One request; 429/503 retried after `Retry-After` (the slot is given back while waiting). */
  async function request(operation: string, target: string, method = 'GET'): Promise<Response> {
    for (let attempt = 0; ; attempt += 1) {
      const response = await slot(() => once(operation, target, method));
      if ((response.status !== 429 && response.status !== 503) || attempt >= maxRetries) return response;
      const waitMs = retryAfterMs(response.headers.get('retry-after'), Date.now());
      await response.body?.cancel();
      if (waitMs > maxRetryAfterMs) return response;
      await sleep(waitMs);
    }
  }

  async function failure(operation: string, response: Response): Promise<GitlabError> {
    const text = (await response.text().catch(() => '')).slice(0, 300);
    if (response.status === 401) return new GitlabAuthError(operation, 401, `the token (${token.source}) is missing, wrong, revoked or expired${text ? `: ${text}` : ''}`);
    // GitLab hides what a token may not see behind 404, as if it did not exist.
    if (response.status === 404) return new GitlabError(operation, 404, `not found, or not visible to the token (${token.source})${text ? `: ${text}` : ''}`);
    return new GitlabError(operation, response.status, text || response.statusText);
  }

  const pages = <T>(operation: string, first: string, item: z.ZodType<T>): Promise<T[]> =>
    collectPages(first, async (url) => {
      const response = await request(operation, url);
      if (!response.ok) throw await failure(operation, response);
      const body = z.array(item).safeParse(await response.json());
      if (!body.success) throw new GitlabError(operation, response.status, `unexpected answer: ${body.error.issues[0]?.message ?? 'invalid'}`);
      return { items: body.data, next: nextGitlabPage(url, response.headers) };
    });

  const tagUrl = (repository: GitlabRepository, tag: string) => `${api}/projects/${repository.project_id}/registry/repositories/${repository.id}/tags/${encodeURIComponent(tag)}`;

  return {
    url: base,
    repositories: (scope) =>
      pages(`list repositories of ${scope.kind} ${scope.id}`, `${api}/${scope.kind}s/${encodeURIComponent(scope.id)}/registry/repositories?per_page=${perPage}&page=1`, GitlabRepository),
    tags: async (repository) =>
      (await pages(`list tags of ${repository.path}`, `${api}/projects/${repository.project_id}/registry/repositories/${repository.id}/tags?per_page=${perPage}&page=1`, TagName)).map((t) => t.name).sort(),
    tagDetails: async (repository, tag) => {
      const operation = `read tag ${repository.path}:${tag}`;
      const response = await request(operation, tagUrl(repository, tag));
      if (response.status === 404) {
        await response.body?.cancel();
        return null;
      }
      if (!response.ok) throw await failure(operation, response);
      const body = GitlabTagDetails.safeParse(await response.json());
      if (!body.success) throw new GitlabError(operation, response.status, `unexpected answer: ${body.error.issues[0]?.message ?? 'invalid'}`);
      return body.data;
    },
    deleteTag: async (repository, tag) => {
      const operation = `delete tag ${repository.path}:${tag}`;
      const response = await request(operation, tagUrl(repository, tag), 'DELETE');
      if (response.status === 404 || response.status === 403) {
        await response.body?.cancel();
        return response.status === 404 ? 'gone' : 'protected';
      }
      if (!response.ok) throw await failure(operation, response);
      await response.body?.cancel();
      return 'deleted';
    },
  };
}
