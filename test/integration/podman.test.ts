// The agent on a real Podman service through its Docker-compatible API (podman 4.3, Debian 12):
// tracking (a pull event names its image by reference only; a created container is a use),
// status and plan, and eviction on the graph root's own small disk, least recently wanted first,
// never an image a container uses.
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { measureDisk } from '../../agent/disk/disk';
import { cli, startAgent } from '../harness/cli';
import { buildImage, registryAddress, type BuiltImage } from '../harness/images';
import { startPodman, type PodmanService } from '../harness/podman';
import { waitFor } from '../harness/proc';
import { fileTestDir } from '../harness/tmp';

const MiB = 2 ** 20;
const dir = fileTestDir('podman');
let podman: PodmanService;
const img: Record<string, BuiltImage> = {};

async function freeBytes(): Promise<number> {
  return (await measureDisk(podman.graphRoot)).freeBytes;
}

async function pull(image: BuiltImage): Promise<void> {
  const [name, tag] = image.ref.split(/:(?=[^:/]+$)/) as [string, string];
  const pulled = await podman.api('POST', `/images/create?fromImage=${encodeURIComponent(name)}&tag=${tag}`);
  expect(pulled.status).toBe(200);
}

async function present(image: BuiltImage): Promise<boolean> {
  return (await podman.api('GET', `/images/${image.id}/json`)).status === 200;
}

interface Row {
  id: string;
  last_pulled_ms: number | null;
  last_used_ms: number | null;
}

function rows(statePath: string): Map<string, Row> {
  const db = new BetterSqlite3(statePath, { readonly: true, fileMustExist: true });
  try {
    return new Map((db.prepare('SELECT id, last_pulled_ms, last_used_ms FROM images WHERE removed_ms IS NULL').all() as Row[]).map((r) => [r.id, r]));
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  podman = await startPodman({ diskBytes: 500 * MiB, label: 'podman', insecureRegistries: [registryAddress()] });
  for (const name of ['p1', 'p2', 'p3']) img[name] = await buildImage({ name: `podman/${name}`, layerBytes: [24 * MiB] });
}, 300_000);

afterAll(async () => {
  await podman?.stop();
});

describe('on a real Podman service', () => {
  const statePath = join(dir, 'state.db');

  it('tracks pulls (by reference) and a created container as a use; status and plan see them', async () => {
    // Debug logs name each event applied (docker_event).
    const agent = startAgent(['--docker-host', podman.host, '--state', statePath, '--interval', '1s', '--min-age', '0s', '--low-free', '1%', '--target-free', '2%', '--log-level', 'debug']);
    try {
      await agent.waitForLog('reconcile');
      for (const name of ['p1', 'p2', 'p3']) await pull(img[name] as BuiltImage);
      // Created, not started (starting may hit the sandbox's rlimits): its creation is a use already
      // (it counts in recency; the use count counts starts).
      // No network: setting one up would touch the host's CNI state outside the test's directory.
      const created = await podman.api('POST', '/containers/create?name=job-p2', { Image: (img.p2 as BuiltImage).ref, Cmd: ['/bin/busybox', 'true'], HostConfig: { NetworkMode: 'none' } });
      expect(created.status).toBe(201);
      const createdId = (JSON.parse(created.body) as { Id: string }).Id;
      // The events, not only a reconcile (which also sees the images and the container), recorded
      // them. Each event is waited for itself: Podman writes a pull's event up to half a second
      // late, after later events (seen: p3's pull after the container's creation), so the event
      // cursor passing the creation does not mean the pulls are in. Stopping the agent before a
      // late pull arrives would lose it (the next agent replays from the cursor on).
      const applied = (action: string, actor: (name: string) => boolean) => agent.logs.some((l) => l.message === 'docker_event' && l.action === action && actor(String(l.actor)));
      await waitFor('the three pulls and the creation applied from Podman\'s events', () =>
        ['p1', 'p2', 'p3'].every((n) => applied('pull', (actor) => actor.endsWith(`/podman/${n}:latest`))) && applied('create', (actor) => actor === createdId) ? true : undefined,
      );
      const r = rows(statePath);
      const all = ['p1', 'p2', 'p3'].map((n) => r.get((img[n] as BuiltImage).id));
      expect(all.every((x) => x?.last_pulled_ms != null) && all[1]?.last_used_ms != null).toBe(true);
      // None was left unexplained.
      expect(agent.logs.filter((l) => l.message === 'event_lookup_failed')).toEqual([]);
    } finally {
      await agent.stop();
    }
    const pulledAt = (n: string) => rows(statePath).get((img[n] as BuiltImage).id)?.last_pulled_ms as number;
    expect(pulledAt('p1')).toBeLessThanOrEqual(pulledAt('p2'));
    expect(pulledAt('p2')).toBeLessThanOrEqual(pulledAt('p3'));

    const status = await cli(['--docker-host', podman.host, '--state', statePath, 'status', '--json']);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as { disk: { path: string }; images: Array<{ id: string; containers: string[] }> };
    // The data root is Podman's graph root, from /info.
    expect(report.disk.path).toBe(podman.graphRoot);
    expect(report.images.find((i) => i.id === (img.p2 as BuiltImage).id)?.containers.length).toBe(1);

    const free = await freeBytes();
    const plan = await cli(['--docker-host', podman.host, '--state', statePath, '--min-age', '0s', '--low-free', `${free + 10 * MiB}B`, '--target-free', `${free + 20 * MiB}B`, 'plan', '--json']);
    expect(plan.code).toBe(0);
    const steps = (JSON.parse(plan.stdout) as { steps: Array<{ imageId: string }> }).steps.map((s) => s.imageId);
    // Least recently wanted first; p2 is a container's: never a step.
    expect(steps[0]).toBe((img.p1 as BuiltImage).id);
    expect(steps).not.toContain((img.p2 as BuiltImage).id);
  }, 300_000);

  it('evicts on the graph root\'s disk: the least recently pulled goes, the container\'s image stays', async () => {
    const free = await freeBytes();
    const agent = startAgent(['--docker-host', podman.host, '--state', statePath, '--interval', '1s', '--min-age', '0s', '--low-free', `${free + 10 * MiB}B`, '--target-free', `${free + 20 * MiB}B`]);
    try {
      await agent.waitForLog('eviction_run');
    } finally {
      await agent.stop();
    }
    expect(await present(img.p1 as BuiltImage)).toBe(false);
    expect(await present(img.p2 as BuiltImage)).toBe(true);
    expect(await present(img.p3 as BuiltImage)).toBe(true);
    expect(await freeBytes()).toBeGreaterThan(free + 10 * MiB);
  }, 300_000);
});
