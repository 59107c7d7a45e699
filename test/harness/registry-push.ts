// Pushes small synthetic images to a real registry by its HTTP API, no Docker needed: each image a
// config blob of its own and a layer its repository's images share. For tests and benches that need
// many tags fast; images Docker must run come from harness/images.ts instead.
import { createHash } from 'node:crypto';
import { mapLimit } from '../../agent/registry/sync';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export interface SyntheticTag {
  repository: string;
  tag: string;
  /** Tags with the same image name get the same manifest (digest). */
  image: string;
  /** The config's `created` (what GitLab shows as created_at). */
  created?: string;
}

async function ok(response: Promise<Response>, what: string): Promise<Response> {
  const r = await response;
  if (!r.ok) throw new Error(`${what}: HTTP ${r.status} ${await r.text()}`);
  return r;
}

/** Uploads one blob to a repository (monolithic: start, then PUT with its digest). */
export async function uploadBlob(base: string, repository: string, data: Buffer): Promise<void> {
  const started = await ok(fetch(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST' }), 'upload start');
  await started.text();
  const location = new URL(started.headers.get('location') as string, base);
  location.searchParams.set('digest', sha256(data));
  await (await ok(fetch(location, { method: 'PUT', body: data, headers: { 'Content-Type': 'application/octet-stream' } }), 'upload')).text();
}

/** Pushes every tag (`concurrency` at a time); returns each image's manifest digest, by image name. */
export async function pushSynthetic(base: string, tags: SyntheticTag[], concurrency = 16): Promise<Map<string, string>> {
  const layer = Buffer.from('a layer every image of a repository shares\n');
  // One upload per blob and repository: 2.8 garbles concurrent uploads of the same blob.
  const uploads = new Map<string, Promise<void>>();
  const once = (repository: string, data: Buffer) => {
    const key = `${repository}@${sha256(data)}`;
    if (!uploads.has(key)) uploads.set(key, uploadBlob(base, repository, data));
    return uploads.get(key) as Promise<void>;
  };
  const digests = new Map<string, string>();
  await mapLimit(tags, concurrency, async ({ repository, tag, image, created }) => {
    await once(repository, layer);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, image, ...(created === undefined ? {} : { created }) }));
    await once(repository, config);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
    });
    await (await ok(fetch(`${base}/v2/${repository}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'Content-Type': MANIFEST } }), 'manifest')).text();
    digests.set(image, sha256(manifest));
  });
  return digests;
}
