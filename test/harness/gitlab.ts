// A faithful fake of GitLab's container registry API (/api/v4) whose tags live in a real
// docker-registry: listing reads the registry, deletes really remove manifests. GitLab itself cannot
// be installed here. Faithful where our client depends on it:
// - a missing token answers 404 (GitLab hides private projects), a wrong or expired one 401;
// - offset paging: per_page (default 20, max 100), X-Page, X-Next-Page ('' on the last), X-Total, Link;
// - a tag list gives names only; details carry digest, created_at (the image config's time) and total_size;
// - a single tag delete removes only that tag, the way GitLab does on a third-party registry: push
//   an empty manifest under the tag, then delete that manifest's digest; 403 for a protected tag;
// - the bulk delete answers 202 and works later, at most once an hour per repository, never `latest`.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from './registry';
import { uploadBlob } from './registry-push';

const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');
const EMPTY_CONFIG = Buffer.from('{}');
const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export interface FakeProjectSpec {
  id: number;
  /** Full path, e.g. `mesa/mesa`: also the registry repository of its root image. */
  path: string;
  /** Its group's path (the group's ID is derived); none: a personal project. */
  group?: string;
  /** Image names under the project: '' is the root repository (`path`), 'ci' is `path/ci`. */
  repositories: string[];
  /** Tags matching any of these patterns are protected: deleting one answers 403. */
  protectedTags?: RegExp[];
}

export interface FakeRequest {
  method: string;
  path: string;
  status: number;
  atMs: number;
}

export interface FakeGitlab {
  url: string;
  /** Every request answered, in order. */
  requests: FakeRequest[];
  /** The most API requests it had in flight at once. */
  /** The most requests it served at once since it started, or since the last `resetMaxInFlight`. */
  maxInFlight(): number;
  resetMaxInFlight(): void;
  /** The next `count` API requests answer 429 with `Retry-After: seconds`. */
  throttle(count: number, seconds: number): void;
  /** The token stops working once `deletes` more single tag deletes have been answered. */
  expireAfterDeletes(token: string, deletes: number): void;
  /** Repository ID of a path, as the API gives it. */
  repositoryId(path: string): number;
  stop(): Promise<void>;
}

interface Repo {
  id: number;
  project: FakeProjectSpec;
  path: string;
  name: string;
  lease: number | null;
  /** Deletes in one repository one at a time: two empty-manifest dances must not interleave. */
  queue: Promise<unknown>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, string>,
  ) {
    super(JSON.stringify(body));
  }
}

export async function startFakeGitlab(options: { registry: Registry; projects: FakeProjectSpec[]; tokens: string[] }): Promise<FakeGitlab> {
  const registry = `http://${options.registry.address}`;
  const tokens = new Set(options.tokens);
  const expiry = new Map<string, number>();
  let throttled = { count: 0, seconds: 0 };
  const requests: FakeRequest[] = [];
  const repos: Repo[] = [];
  const groups = new Map<string, number>();
  for (const project of options.projects) {
    if (project.group !== undefined && !groups.has(project.group)) groups.set(project.group, 1000 + groups.size);
    for (const name of project.repositories) {
      repos.push({ id: 100 + repos.length, project, name, path: name === '' ? project.path : `${project.path}/${name}`, lease: null, queue: Promise.resolve() });
    }
  }
  let base = '';

  // GitLab reads the registry as `GitLab/<version>`: its tag details are manifest GETs the
  // registry notifies as pulls, which the listener must not count as demand.
  const reg = async (path: string, init: RequestInit = {}) => fetch(`${registry}${path}`, { ...init, headers: { 'User-Agent': 'GitLab/17.5.0', ...(init.headers as Record<string, string> | undefined) } });

  async function tagNames(repo: Repo): Promise<string[]> {
    const response = await reg(`/v2/${repo.path}/tags/list`);
    if (response.status === 404) return [];
    const body = (await response.json()) as { tags: string[] | null };
    // GitLab sorts by name; the registry does not.
    return (body.tags ?? []).sort();
  }

  async function details(repo: Repo, tag: string): Promise<Record<string, unknown> | null> {
    const response = await reg(`/v2/${repo.path}/manifests/${encodeURIComponent(tag)}`, { headers: { Accept: MANIFEST_TYPES } });
    if (response.status === 404) return null;
    const digest = response.headers.get('docker-content-digest') as string;
    const manifest = (await response.json()) as { config?: { digest: string; size: number }; layers?: Array<{ size: number }> };
    let createdAt: string | null = null;
    if (manifest.config !== undefined) {
      const config = await reg(`/v2/${repo.path}/blobs/${manifest.config.digest}`);
      if (config.ok) createdAt = ((await config.json()) as { created?: string }).created ?? null;
    }
    const location = `${options.registry.address}/${repo.path}:${tag}`;
    const totalSize = (manifest.layers ?? []).reduce((sum, l) => sum + l.size, 0) + (manifest.config?.size ?? 0);
    return { name: tag, path: `${repo.path}:${tag}`, location, revision: digest.slice(7), short_revision: digest.slice(7, 16), digest, created_at: createdAt, total_size: totalSize };
  }

  /** GitLab's delete on a registry without tag deletes: move the tag to an empty manifest, delete that. */
  async function untag(repo: Repo, tag: string): Promise<void> {
    await uploadBlob(registry, repo.path, EMPTY_CONFIG);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: EMPTY_CONFIG.length, digest: sha256(EMPTY_CONFIG) },
      layers: [],
    });
    const put = await reg(`/v2/${repo.path}/manifests/${encodeURIComponent(tag)}`, { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' } });
    if (!put.ok) throw new Error(`fake GitLab: re-pointing ${repo.path}:${tag} failed with ${put.status}: ${await put.text()}`);
    const del = await reg(`/v2/${repo.path}/manifests/${sha256(manifest)}`, { method: 'DELETE' });
    if (del.status !== 202) throw new Error(`fake GitLab: deleting the empty manifest of ${repo.path} failed with ${del.status}: ${await del.text()}`);
  }

  function serialized<T>(repo: Repo, work: () => Promise<T>): Promise<T> {
    const next = repo.queue.then(work, work);
    repo.queue = next.catch(() => undefined);
    return next;
  }

  function page<T>(url: URL, items: T[], res: ServerResponse): T[] {
    const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 20) || 20));
    const total = items.length;
    const pages = Math.max(1, Math.ceil(total / perPage));
    const current = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const at = (n: number) => {
      const u = new URL(url.toString(), base);
      u.searchParams.set('page', String(n));
      u.searchParams.set('per_page', String(perPage));
      return `${base}${u.pathname}${u.search}`;
    };
    const links = [...(current < pages ? [`<${at(current + 1)}>; rel="next"`] : []), ...(current > 1 ? [`<${at(current - 1)}>; rel="prev"`] : []), `<${at(1)}>; rel="first"`, `<${at(pages)}>; rel="last"`];
    res.setHeader('X-Page', String(current));
    res.setHeader('X-Per-Page', String(perPage));
    res.setHeader('X-Next-Page', current < pages ? String(current + 1) : '');
    res.setHeader('X-Prev-Page', current > 1 ? String(current - 1) : '');
    res.setHeader('X-Total', String(total));
    res.setHeader('X-Total-Pages', String(pages));
    res.setHeader('Link', links.join(', '));
    return items.slice((current - 1) * perPage, current * perPage);
  }

  const repoJson = (repo: Repo) => ({ id: repo.id, name: repo.name, path: repo.path, project_id: repo.project.id, location: `${options.registry.address}/${repo.path}`, created_at: '2026-01-01T00:00:00.000Z', cleanup_policy_started_at: null });

  function project(id: string): FakeProjectSpec {
    const found = options.projects.find((p) => String(p.id) === id || p.path === id);
    if (found === undefined) throw new HttpError(404, { message: '404 Project Not Found' });
    return found;
  }

  function repoOf(projectId: string, repositoryId: string): Repo {
    const p = project(projectId);
    const repo = repos.find((r) => r.project === p && String(r.id) === repositoryId);
    if (repo === undefined) throw new HttpError(404, { message: '404 Repository Not Found' });
    return repo;
  }

  async function bulkDelete(repo: Repo, url: URL): Promise<void> {
    const deleteRegex = new RegExp(`^(?:${url.searchParams.get('name_regex_delete') ?? url.searchParams.get('name_regex')})$`);
    const keepText = url.searchParams.get('name_regex_keep');
    const keepRegex = keepText === null ? null : new RegExp(`^(?:${keepText})$`);
    const keepN = Number(url.searchParams.get('keep_n') ?? 0);
    const all = await Promise.all((await tagNames(repo)).map(async (tag) => ({ tag, created: String((await details(repo, tag))?.created_at ?? '') })));
    const newestFirst = all.sort((a, b) => b.created.localeCompare(a.created));
    const doomed = newestFirst.slice(keepN).filter(({ tag }) => tag !== 'latest' && deleteRegex.test(tag) && !(keepRegex?.test(tag) ?? false));
    for (const { tag } of doomed) {
      if (repo.project.protectedTags?.some((p) => p.test(tag))) continue;
      await serialized(repo, () => untag(repo, tag));
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<unknown> {
    const token = (req.headers['private-token'] ?? req.headers['job-token']) as string | undefined;
    if (token === undefined) throw new HttpError(404, { message: '404 Project Not Found' });
    if (!tokens.has(token)) throw new HttpError(401, { message: '401 Unauthorized' });
    const parts = url.pathname.replace(/^\/api\/v4\//, '').split('/').map(decodeURIComponent);
    const method = req.method ?? 'GET';
    if (parts[0] === 'groups' && parts[2] === 'registry' && parts[3] === 'repositories' && parts.length === 4 && method === 'GET') {
      const group = [...groups].find(([path, id]) => path === parts[1] || String(id) === parts[1]);
      if (group === undefined) throw new HttpError(404, { message: '404 Group Not Found' });
      return page(url, repos.filter((r) => r.project.group === group[0]).map(repoJson), res);
    }
    if (parts[0] !== 'projects' || parts[2] !== 'registry' || parts[3] !== 'repositories') throw new HttpError(404, { error: '404 Not Found' });
    if (parts.length === 4 && method === 'GET') {
      const p = project(parts[1] as string);
      return page(url, repos.filter((r) => r.project === p).map(repoJson), res);
    }
    const repo = repoOf(parts[1] as string, parts[4] as string);
    if (parts[5] !== 'tags') throw new HttpError(404, { error: '404 Not Found' });
    if (parts.length === 6 && method === 'GET') return page(url, (await tagNames(repo)).map((name) => ({ name, path: `${repo.path}:${name}`, location: `${options.registry.address}/${repo.path}:${name}` })), res);
    if (parts.length === 6 && method === 'DELETE') {
      if (url.searchParams.get('name_regex_delete') === null && url.searchParams.get('name_regex') === null) throw new HttpError(400, { error: 'name_regex_delete is missing' });
      if (repo.lease !== null && Date.now() - repo.lease < 3_600_000) {
        throw new HttpError(400, { message: 'This request has already been made. You can run this at most once an hour for a given container repository' });
      }
      repo.lease = Date.now();
      setImmediate(() => void bulkDelete(repo, url).catch(() => undefined));
      res.statusCode = 202;
      return 202;
    }
    const tag = parts[6] as string;
    if (parts.length === 7 && method === 'GET') {
      const found = await details(repo, tag);
      if (found === null) throw new HttpError(404, { message: '404 Tag Not Found' });
      return found;
    }
    if (parts.length === 7 && method === 'DELETE') {
      const left = expiry.get(token);
      if (left !== undefined) {
        if (left <= 0) throw new HttpError(401, { message: '401 Unauthorized' });
        expiry.set(token, left - 1);
      }
      if (repo.project.protectedTags?.some((p) => p.test(tag))) throw new HttpError(403, { message: '403 Forbidden' });
      return serialized(repo, async () => {
        if ((await details(repo, tag)) === null) throw new HttpError(404, { message: '404 Tag Not Found' });
        await untag(repo, tag);
        return { message: 'Success' };
      });
    }
    throw new HttpError(405, { error: '405 Method Not Allowed' });
  }

  let inFlight = 0;
  let mostInFlight = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
    const done = (status: number, body: unknown) => {
      inFlight -= 1;
      res.statusCode = status;
      if (!res.hasHeader('Content-Type')) res.setHeader('Content-Type', 'application/json');
      res.end(status === 202 || body === undefined ? '' : JSON.stringify(body));
      requests.push({ method: req.method ?? 'GET', path: `${url.pathname}${url.search}`, status, atMs: Date.now() });
    };
    if (throttled.count > 0) {
      throttled = { count: throttled.count - 1, seconds: throttled.seconds };
      res.setHeader('Retry-After', String(throttled.seconds));
      done(429, { message: '429 Too Many Requests' });
      return;
    }
    route(req, res, url).then(
      (body) => done(res.statusCode === 202 ? 202 : 200, body),
      (error: unknown) => (error instanceof HttpError ? done(error.status, error.body) : done(500, { message: String(error) })),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    maxInFlight: () => mostInFlight,
    resetMaxInFlight: () => {
      mostInFlight = inFlight;
    },
    throttle: (count, seconds) => {
      throttled = { count, seconds };
    },
    expireAfterDeletes: (token, deletes) => {
      expiry.set(token, deletes);
    },
    repositoryId: (path) => {
      const repo = repos.find((r) => r.path === path);
      if (repo === undefined) throw new Error(`fake GitLab: no repository ${path}`);
      return repo.id;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
