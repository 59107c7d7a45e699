// The registry side on a real Distribution registry (Debian's docker-registry 2.8): `registry
// listen` receives its notifications as it sends them, `registry sync` crawls what they missed,
// `registry status` shows both. Pushes and pulls are made by a real dockerd (the builder engine).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createRegistryClient } from '../../agent/registry/client';
import { cli, startAgent, startService, type AgentProcess } from '../harness/cli';
import { startEngine } from '../harness/engine';
import { builderCli, buildImage, type BuiltImage } from '../harness/images';
import { waitFor } from '../harness/proc';
import { freePort, startRegistry, type Registry } from '../harness/registry';
import { makeTestDir } from '../harness/tmp';

const MiB = 2 ** 20;
const TOKEN = 'listener-token-0123456789abcdef';
// What registry 2.8 sends (the listener takes v2 as well).
const EVENTS_TYPE = 'application/vnd.docker.distribution.events.v1+json';

interface ManifestRow {
  repository: string;
  digest: string;
  media_type: string;
  size_bytes: number;
  pulls: number;
  heads: number;
  last_pull_ms: number | null;
  deleted_ms: number | null;
  line: string | null;
}

let dir: string;
let statePath: string;
let listenAddress: string;
let listener: AgentProcess;
let registry: Registry;
let registryUrl: string;
let app: BuiltImage;
let tool: BuiltImage;

function rows(sql: string, ...params: unknown[]): ManifestRow[] {
  return rowsOf(statePath, sql, ...params);
}

function rowsOf(path: string, sql: string, ...params: unknown[]): ManifestRow[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as ManifestRow[];
  } finally {
    db.close();
  }
}

function manifestOf(repository: string, digest: string): ManifestRow | undefined {
  return rows('SELECT * FROM registry_manifests WHERE repository = ? AND digest = ?', repository, digest)[0];
}

const digestOf = (image: BuiltImage) => image.digestRef.split('@')[1] as string;
const repositoryOf = (image: BuiltImage) => (image.ref.split('/').slice(1).join('/').split(':')[0] as string);

function post(body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`http://${listenAddress}/events`, { method: 'POST', body, headers: { 'Content-Type': EVENTS_TYPE, ...headers } });
}

beforeAll(async () => {
  dir = makeTestDir('registry-side');
  statePath = join(dir, 'state.db');
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  listenAddress = `127.0.0.1:${await freePort()}`;
  registry = await startRegistry({ notify: { url: `http://${listenAddress}/events`, token: TOKEN } });
  registryUrl = `http://${registry.address}`;
  listener = startService(['--state', statePath, '--log-level', 'debug', 'registry', '--registry', registryUrl, 'listen', '--listen', listenAddress, '--token-file', tokenFile]);
  await listener.waitForLog('registry_listening');
  app = await buildImage({ name: 'team/app', tag: 'v1', layerBytes: [2 * MiB], registry: registry.address });
  tool = await buildImage({ name: 'team/tool', tag: '1.0', layerBytes: [MiB], registry: registry.address });
}, 300_000);

afterAll(async () => {
  await listener?.stop();
  await registry?.stop();
});

describe('registry listen', () => {
  it('records pushes from the notifications, with their tags', async () => {
    const pushed = await waitFor('the push of team/app:v1', () => manifestOf('team/app', digestOf(app)));
    expect(pushed.deleted_ms).toBeNull();
    expect(rows('SELECT * FROM registry_tags WHERE repository = ?', 'team/app')).toEqual([expect.objectContaining({ tag: 'v1', digest: digestOf(app) })]);
    // The tag line the pull model counts its newer versions in.
    expect(pushed.line).toBe('v#');
  });

  it('counts a docker pull, and a pull by digest, on the manifest its tags name; blob events are not recorded', async () => {
    await waitFor('the push of team/tool', () => manifestOf('team/tool', digestOf(tool)));
    await builderCli(['pull', tool.ref]);
    await waitFor('docker pull of team/tool', () => ((manifestOf('team/tool', digestOf(tool))?.pulls ?? 0) >= 1 ? true : undefined));
    // A runner pulling by digest asks for the manifest by digest: no tag in the event.
    const byDigest = await fetch(`${registryUrl}/v2/team/tool/manifests/${digestOf(tool)}`, {
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json', 'User-Agent': 'ci-runner/1' },
    });
    expect(byDigest.status).toBe(200);
    const pulled = await waitFor('the pull by digest', () => {
      const row = manifestOf('team/tool', digestOf(tool));
      return row !== undefined && row.pulls >= 2 ? row : undefined;
    });
    expect(pulled.pulls).toBe(2);
    expect(pulled.last_pull_ms).not.toBeNull();
    const status = await cli(['--state', statePath, 'registry', '--registry', registryUrl, 'status', '--json']);
    const images = (JSON.parse(status.stdout) as { images: Array<{ digest: string; tags: string[]; pulls: number }> }).images;
    expect(images.find((i) => i.digest === digestOf(tool))).toMatchObject({ tags: ['1.0'], pulls: 2 });
    // Only manifests: no row names a layer's digest.
    expect(rows('SELECT * FROM registry_manifests').every((r) => r.media_type.includes('manifest') || r.media_type.includes('index'))).toBe(true);
  });

  it('records HEAD apart from GET, and ignores scanners\' user agents', async () => {
    const url = `${registryUrl}/v2/team/app/manifests/v1`;
    const accept = 'application/vnd.docker.distribution.manifest.v2+json';
    expect((await fetch(url, { method: 'HEAD', headers: { Accept: accept, 'User-Agent': 'ci-runner/1' } })).status).toBe(200);
    expect((await fetch(url, { headers: { Accept: accept, 'User-Agent': 'Trivy/0.50' } })).status).toBe(200);
    const headed = await waitFor('a HEAD on team/app', () => {
      const row = manifestOf('team/app', digestOf(app));
      return row !== undefined && row.heads >= 1 ? row : undefined;
    });
    // The scanner's GET arrived (the listener says it ignored a user agent), and counted nothing.
    await listener.waitForLog('registry_events', (l) => Number(l.ignoredUserAgent) >= 1);
    expect(headed.heads).toBe(1);
    expect(manifestOf('team/app', digestOf(app))?.pulls).toBe(0);
  });

  it('refuses a wrong token (401), a malformed envelope (400) and a body over 1 MiB (413), recording nothing', async () => {
    const envelope = JSON.stringify({
      events: [{ id: 'forged-1', timestamp: new Date().toISOString(), action: 'push', target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: `sha256:${'a'.repeat(64)}`, repository: 'forged/repo', tag: 'x' } }],
    });
    expect((await post(envelope, { Authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await post(envelope, {})).status).toBe(401);
    expect((await post('{"events": [{"id": 3}]}', { Authorization: `Bearer ${TOKEN}` })).status).toBe(400);
    expect((await post('not json', { Authorization: `Bearer ${TOKEN}` })).status).toBe(400);
    const huge = await post(JSON.stringify({ events: [], pad: 'x'.repeat(1024 * 1024 + 1) }), { Authorization: `Bearer ${TOKEN}` }).catch((error: unknown) => error);
    // The listener answers 413 and closes; a client still sending may see the reset instead.
    if (huge instanceof Response) expect(huge.status).toBe(413);
    await listener.waitForLog('registry_listen_refused', (l) => l.status === 401);
    expect(rows('SELECT * FROM registry_manifests WHERE repository = ?', 'forged/repo')).toEqual([]);
    // The same event with the token is recorded once, however often it is delivered.
    expect((await post(envelope, { Authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    expect((await post(envelope, { Authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    expect(rows('SELECT * FROM registry_tags WHERE repository = ?', 'forged/repo')).toHaveLength(1);
    expect(rows("SELECT * FROM registry_events_seen WHERE id = 'forged-1'")).toHaveLength(1);
  });
});

describe('registry sync', () => {
  it('finds what notifications missed: tags, sizes from the manifests, an index and its children', async () => {
    // Pushed to a registry whose notifications go nowhere: only a crawl can learn of them.
    const quiet = await startRegistry();
    const quietState = join(dir, 'quiet.db');
    try {
      const base = await buildImage({ name: 'ci/base', tag: 'v1', layerBytes: [3 * MiB], registry: quiet.address });
      const child = await buildImage({ name: 'ci/base', tag: 'v2', layerBytes: [MiB], from: base.ref, registry: quiet.address });
      // An OCI index over both, pushed by hand: docker's CLI cannot push one to a plain registry here.
      const client = createRegistryClient(`http://${quiet.address}`, null);
      const heads = await Promise.all([base, child].map((i) => client.headManifest('ci/base', digestOf(i))));
      const index = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: heads.map((h, i) => ({ mediaType: h?.mediaType, digest: h?.digest, size: 1, platform: { architecture: i === 0 ? 'amd64' : 'arm64', os: 'linux' } })),
      });
      const put = await fetch(`http://${quiet.address}/v2/ci/base/manifests/multi`, { method: 'PUT', body: index, headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' } });
      expect(put.status).toBe(201);
      const indexDigest = put.headers.get('docker-content-digest') as string;

      const synced = await cli(['--state', quietState, 'registry', '--registry', `http://${quiet.address}`, 'sync', '--json']);
      expect(synced.code).toBe(0);
      expect(JSON.parse(synced.stdout)).toMatchObject({ repositories: 1, tags: 3, newManifests: 3 });

      const status = await cli(['--state', quietState, 'registry', '--registry', `http://${quiet.address}`, 'status', '--json']);
      expect(status.code).toBe(0);
      const images = (JSON.parse(status.stdout) as { images: Array<{ tags: string[]; digest: string; sizeBytes: number; parents: string[]; mediaType: string }> }).images;
      const byDigest = new Map(images.map((i) => [i.digest, i]));
      const v1 = byDigest.get(digestOf(base));
      const v2 = byDigest.get(digestOf(child));
      const multi = byDigest.get(indexDigest);
      // Random bytes do not compress: each image's blobs hold at least its layers.
      expect(v1?.sizeBytes).toBeGreaterThan(3 * MiB);
      expect(v2?.sizeBytes).toBeGreaterThan(4 * MiB);
      expect(multi).toMatchObject({ tags: ['multi'], mediaType: 'application/vnd.oci.image.index.v1+json', sizeBytes: (v1?.sizeBytes ?? 0) + (v2?.sizeBytes ?? 0) });
      expect(v1?.parents).toEqual([indexDigest]);
      expect(v1?.tags).toEqual(['v1']);

      // A tag deleted since (its manifest with it): the next crawl says so, and the state follows.
      expect((await fetch(`http://${quiet.address}/v2/ci/base/manifests/${digestOf(child)}`, { method: 'DELETE' })).status).toBe(202);
      const again = await cli(['--state', quietState, 'registry', '--registry', `http://${quiet.address}`, 'sync', '--json']);
      expect(JSON.parse(again.stdout)).toMatchObject({ tags: 2, newManifests: 0 });
      // Its tag gone, the manifest keeps the line it was found in.
      expect(rowsOf(quietState, 'SELECT * FROM registry_tags WHERE digest = ?', digestOf(child))).toEqual([]);
      expect(rowsOf(quietState, 'SELECT * FROM registry_manifests WHERE digest = ?', digestOf(child))).toEqual([expect.objectContaining({ line: 'v#' })]);
      expect(rowsOf(quietState, 'SELECT * FROM registry_manifests WHERE digest = ?', indexDigest)).toEqual([expect.objectContaining({ line: 'multi' })]);
      const text = await cli(['--state', quietState, 'registry', '--registry', `http://${quiet.address}`, 'status']);
      expect(text.stdout).toMatch(/REPOSITORY\s+TAGS\s+DIGEST/);
      expect(text.stdout).toContain('multi');
      expect(text.stdout).not.toMatch(/\bv2\b/);
    } finally {
      await quiet.stop();
    }
  }, 300_000);

  it('pages the catalog and tag lists by their Link headers (relative on 2.8), and sorts tags', async () => {
    for (const tag of ['c', 'a', 'b']) await builderCli(['tag', tool.ref, `${registry.address}/team/tool:${tag}`]);
    for (const tag of ['c', 'a', 'b']) await builderCli(['push', `${registry.address}/team/tool:${tag}`]);
    const client = createRegistryClient(registryUrl, null, { pageSize: 1 });
    expect(await client.tags('team/tool')).toEqual(['1.0', 'a', 'b', 'c']);
    expect((await client.catalog()).filter((r) => r.startsWith('team/'))).toEqual(['team/app', 'team/tool']);
    expect(await client.tags('no/such-repo')).toEqual([]);
  }, 120_000);

  it('a crawl by our own user agent never counts as a pull', async () => {
    const before = manifestOf(repositoryOf(tool), digestOf(tool));
    const synced = await cli(['--state', statePath, 'registry', '--registry', registryUrl, 'sync', '--json']);
    expect(synced.code).toBe(0);
    // Whatever the registry sends about the crawl has arrived once a marker pull after it has.
    await builderCli(['pull', app.ref]);
    await waitFor('the marker pull', () => ((manifestOf('team/app', digestOf(app))?.pulls ?? 0) >= 1 ? true : undefined));
    const after = manifestOf(repositoryOf(tool), digestOf(tool));
    // The crawl read every tag's manifest (GET, by our user agent): none of it counts.
    expect(after?.size_bytes).toBeGreaterThan(MiB);
    expect({ pulls: after?.pulls, heads: after?.heads }).toEqual({ pulls: before?.pulls, heads: before?.heads });
  }, 120_000);
});

describe('registry bad input', () => {
  it('no --registry, a URL with credentials, an unreadable auth file: one line, exit 2, no request made', async () => {
    const none = await cli(['--state', join(dir, 'x.db'), 'registry', 'sync']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/key 'registry': required/);
    const creds = await cli(['--state', join(dir, 'x.db'), 'registry', '--registry', 'http://user:pw@127.0.0.1:5000', 'sync']);
    expect(creds.code).toBe(2);
    expect(creds.stderr).toMatch(/without credentials/);
    const file = await cli(['--state', join(dir, 'x.db'), 'registry', '--registry', registryUrl, '--registry-auth-file', join(dir, 'missing'), 'sync']);
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/cannot read the registry credentials/);
    const status = await cli(['--state', join(dir, 'none.db'), 'registry', '--registry', registryUrl, 'status']);
    expect(status.code).toBe(2);
    expect(status.stderr).toMatch(/registry sync/);
    const storage = await cli(['--state', join(dir, 'x.db'), 'registry', '--registry', registryUrl, '--storage', join(dir, 'no-such-dir'), 'plan']);
    expect(storage.code).toBe(2);
    expect(storage.stderr).toMatch(/key 'registry-storage': .*no-such-dir is not a directory/);
    // The host's threshold given to a registry command would do nothing there: refused, naming the registry's.
    const hostThreshold = await cli(['--state', join(dir, 'x.db'), '--low-free', '20%', 'registry', '--registry', registryUrl, 'plan']);
    expect(hostThreshold.code).toBe(2);
    expect(hostThreshold.stderr).toMatch(/--low-free is the Docker host's threshold; the registry's storage takes --storage-low-free/);
    for (const r of [none, creds, file, status, storage, hostThreshold]) expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('registry-listen-in-run', () => {
  it('run receives the notifications itself: a push is recorded in the agent\'s state', async () => {
    const engine = await startEngine({ diskBytes: 256 * MiB, label: 'listen-in-run' });
    const agentState = join(dir, 'agent.db');
    const address = `127.0.0.1:${await freePort()}`;
    const own = await startRegistry({ notify: { url: `http://${address}/events` } });
    try {
      const agent = startAgent(['--docker-host', engine.host, '--state', agentState, '--path', engine.dataRoot], [], {
        IMAGE_EVICTOR_REGISTRY: `http://${own.address}`,
        IMAGE_EVICTOR_REGISTRY_LISTEN: address,
        IMAGE_EVICTOR_REGISTRY_LISTEN_IN_RUN: 'true',
      });
      await agent.waitForLog('registry_listening');
      const pushed = await buildImage({ name: 'in-run/app', tag: 'v1', layerBytes: [64 * 1024], registry: own.address });
      await waitFor('the push recorded by run', () => {
        try {
          const db = new Database(agentState, { readonly: true, fileMustExist: true });
          try {
            return db.prepare('SELECT 1 FROM registry_tags WHERE repository = ? AND digest = ?').get('in-run/app', digestOf(pushed)) === undefined ? undefined : true;
          } finally {
            db.close();
          }
        } catch {
          return undefined;
        }
      });
      expect(await agent.stop()).toBe(0);
    } finally {
      await own.stop();
      await engine.stop();
    }
  }, 300_000);
});
