// HTTP client for a Distribution (Docker Registry HTTP API V2) registry: catalog and tag paging,
// manifest digests and bodies, manifest deletes. Works around registry 2.8's quirks (relative
// `Link`, unsorted tag lists, `"tags": null`, digests that depend on `Accept`).
import { z } from 'zod';
import { MANIFEST_TYPES, ManifestBody } from '../core/registry';
import { errorText } from '../errors';
import { packageVersion } from '../paths';
import type { RegistryAuth } from './auth';
import { collectPages } from './pages';

/** Our requests' user agent: the listener ignores it, so a crawl never counts as demand. */
export const USER_AGENT = `image-evictor/${packageVersion()}`;

/** The registry answered with an error the caller did not expect, or could not be reached. */
export class RegistryError extends Error {
  constructor(
    readonly operation: string,
    readonly status: number | null,
    readonly code: string | null,
    detail: string,
  ) {
    super(`registry ${operation} failed${status === null ? '' : ` with HTTP ${status}`}${code === null ? '' : ` ${code}`}: ${detail}`);
    this.name = 'RegistryError';
  }
}

/** Deletes are refused by the registry's configuration: delete disabled, or a pull-through cache (405 UNSUPPORTED). */
export class DeleteUnsupportedError extends RegistryError {}

export interface ManifestHead {
  digest: string;
  mediaType: string;
}

export interface ManifestGet extends ManifestHead {
  body: ManifestBody;
}

export interface RegistryClient {
  /** The base URL, as given (no trailing slash). */
  readonly url: string;
  /** Checks the endpoint and the credentials (GET /v2/). */
  ping(): Promise<void>;
  /** Every repository, following the catalog's pages. */
  catalog(): Promise<string[]>;
  /** Every tag of a repository, sorted (2.8 lists them unsorted); empty when it has none. */
  tags(repository: string): Promise<string[]>;
  /** The digest and type a tag or digest names now; null when it does not exist. */
  headManifest(repository: string, reference: string): Promise<ManifestHead | null>;
  getManifest(repository: string, reference: string): Promise<ManifestGet | null>;
  /** Whether a blob of the repository answers (a kept image's layer after garbage collection). */
  blobExists(repository: string, digest: string): Promise<boolean>;
  /** Deletes a manifest by digest (every tag on it goes too): 'deleted', or 'gone' when it was not there. */
  deleteManifest(repository: string, digest: string): Promise<'deleted' | 'gone'>;
}

const PAGE_SIZE = 1000;
const CatalogPage = z.object({ repositories: z.array(z.string()).nullable().optional() });
const TagsPage = z.object({ tags: z.array(z.string()).nullable().optional() });
const ErrorBody = z.object({ errors: z.array(z.object({ code: z.string(), message: z.string().optional() })) });

/** The `rel="next"` target of a `Link` header, resolved against the registry (2.8 sends it relative). */
export function nextPageUrl(link: string | null, base: string): string | null {
  if (link === null) return null;
  for (const part of link.split(',')) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (match) return new URL(match[1] as string, base).toString();
  }
  return null;
}

async function errorOf(operation: string, response: Response): Promise<RegistryError> {
  const text = await response.text().catch(() => '');
  let code: string | null = null;
  let detail = text.slice(0, 300) || response.statusText;
  try {
    const parsed = ErrorBody.safeParse(JSON.parse(text));
    if (parsed.success && parsed.data.errors[0]) {
      code = parsed.data.errors[0].code;
      detail = parsed.data.errors[0].message ?? code;
    }
  } catch {
    // Not JSON: the text is the detail.
  }
  const Kind = operation.startsWith('delete') && response.status === 405 ? DeleteUnsupportedError : RegistryError;
  return new Kind(operation, response.status, code, detail);
}

export function createRegistryClient(url: string, auth: RegistryAuth | null, options: { timeoutMs?: number; pageSize?: number } = {}): RegistryClient {
  const base = url.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    'User-Agent': USER_AGENT,
    ...(auth === null ? {} : { Authorization: auth.header }),
    ...extra,
  });

  async function request(operation: string, target: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    try {
      return await fetch(target.startsWith('http') ? target : `${base}${target}`, {
        method: init.method ?? 'GET',
        headers: headers(init.headers),
        redirect: 'follow',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      throw new RegistryError(operation, null, null, `${base}: ${errorText(cause ?? error)}`);
    }
  }

  /** Follows `Link` pages from `first`, collecting what `pick` reads from each; a missing repository's tags are none. */
  const pages = <T>(operation: string, first: string, pick: (body: unknown) => T[]): Promise<T[]> =>
    collectPages(first, async (url) => {
      const response = await request(operation, url);
      if (response.status === 404 && operation.startsWith('tags')) return { items: [], next: null };
      if (!response.ok) throw await errorOf(operation, response);
      return { items: pick(await response.json()), next: nextPageUrl(response.headers.get('link'), `${base}/`) };
    });

  const path = (repository: string) => repository.split('/').map(encodeURIComponent).join('/');
  const accept = { Accept: MANIFEST_TYPES.join(', ') };

  return {
    url: base,
    ping: async () => {
      const response = await request('ping', '/v2/');
      if (!response.ok) throw await errorOf('ping', response);
    },
    catalog: () => pages('catalog', `/v2/_catalog?n=${pageSize}`, (body) => CatalogPage.parse(body).repositories ?? []),
    tags: async (repository) =>
      (await pages(`tags of ${repository}`, `/v2/${path(repository)}/tags/list?n=${pageSize}`, (body) => TagsPage.parse(body).tags ?? [])).sort(),
    headManifest: async (repository, reference) => {
      const response = await request(`head ${repository}:${reference}`, `/v2/${path(repository)}/manifests/${encodeURIComponent(reference)}`, { method: 'HEAD', headers: accept });
      if (response.status === 404) return null;
      if (!response.ok) throw await errorOf(`head ${repository}:${reference}`, response);
      const digest = response.headers.get('docker-content-digest');
      if (digest === null) throw new RegistryError(`head ${repository}:${reference}`, response.status, null, 'no Docker-Content-Digest header');
      return { digest, mediaType: (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '' };
    },
    getManifest: async (repository, reference) => {
      const operation = `get ${repository}:${reference}`;
      const response = await request(operation, `/v2/${path(repository)}/manifests/${encodeURIComponent(reference)}`, { headers: accept });
      if (response.status === 404) return null;
      if (!response.ok) throw await errorOf(operation, response);
      const body = ManifestBody.parse(await response.json());
      const digest = response.headers.get('docker-content-digest') ?? reference;
      const mediaType = body.mediaType ?? (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
      return { digest, mediaType, body };
    },
    blobExists: async (repository, digest) => {
      const operation = `head blob ${repository}@${digest}`;
      const response = await request(operation, `/v2/${path(repository)}/blobs/${digest}`, { method: 'HEAD' });
      if (response.status === 404) return false;
      if (!response.ok) throw await errorOf(operation, response);
      return true;
    },
    deleteManifest: async (repository, digest) => {
      const operation = `delete ${repository}@${digest}`;
      const response = await request(operation, `/v2/${path(repository)}/manifests/${digest}`, { method: 'DELETE' });
      if (response.status === 404) return 'gone';
      if (response.status !== 202 && !response.ok) throw await errorOf(operation, response);
      return 'deleted';
    },
  };
}
