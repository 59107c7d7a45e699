// Pushes images with a chosen creation time straight to the local registry (Docker's registry API:
// blob uploads, then a schema 2 manifest). Builders stamp "now"; rules like Age(3) need old images.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { registryAddress } from './images';
import { runOk } from './proc';
import { makeTestDir } from './tmp';

export interface CraftedImage {
  ref: string;
  /** Known before any pull: the digest of the config we wrote. */
  id: string;
}

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function layerTar(bytes: number): Promise<Buffer> {
  const dir = makeTestDir('layer');
  try {
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', randomBytes(6).toString('hex')), randomBytes(bytes));
    await runOk('tar', ['-C', dir, '--owner=0', '--group=0', '--numeric-owner', '-cf', join(dir, 'layer.tar'), 'data']);
    return readFileSync(join(dir, 'layer.tar'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function expectStatus(response: Response, status: number, what: string): Promise<Response> {
  if (response.status !== status) throw new Error(`registry ${what}: HTTP ${response.status} ${await response.text()}`);
  return response;
}

async function pushBlob(base: string, name: string, blob: Buffer): Promise<string> {
  const digest = sha256(blob);
  const started = await expectStatus(await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST' }), 202, 'upload start');
  const location = new URL(started.headers.get('location') as string, base);
  location.searchParams.set('digest', digest);
  await expectStatus(await fetch(location, { method: 'PUT', body: blob, headers: { 'content-type': 'application/octet-stream' } }), 201, 'upload');
  return digest;
}

/** Pushes `name:tag` with one random layer, created at `createdMs`, with the given labels. */
export async function pushCraftedImage(spec: { name: string; tag: string; createdMs: number; layerBytes: number; labels?: Record<string, string> }): Promise<CraftedImage> {
  const base = `http://${registryAddress()}`;
  const tar = await layerTar(spec.layerBytes);
  const gz = gzipSync(tar);
  const layerDigest = await pushBlob(base, spec.name, gz);
  const created = new Date(spec.createdMs).toISOString();
  const config = Buffer.from(
    JSON.stringify({
      architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
      os: 'linux',
      created,
      config: { Cmd: ['/bin/true'], Labels: spec.labels ?? {} },
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
      history: [{ created, created_by: 'image-evictor test harness' }],
    }),
  );
  const configDigest = await pushBlob(base, spec.name, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: configDigest },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: gz.length, digest: layerDigest }],
  };
  await expectStatus(
    await fetch(`${base}/v2/${spec.name}/manifests/${spec.tag}`, {
      method: 'PUT',
      body: JSON.stringify(manifest),
      headers: { 'content-type': manifest.mediaType },
    }),
    201,
    'manifest',
  );
  return { ref: `${registryAddress()}/${spec.name}:${spec.tag}`, id: configDigest };
}
