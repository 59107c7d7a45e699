// Several engines on one host: two agents started exactly as systemd/image-evictor@.service starts
// an instance (its ExecStart, with /etc and /var/lib moved into the test's directory), each on its
// own real dockerd and loop-mounted disk. Each evicts only on its own disk; a missing instance
// config fails with its path.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { measureDisk } from '../../agent/disk/disk';
import { CLI, startService, type AgentProcess } from '../harness/cli';
import { DOCKER_CLI, dockerEnv, startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { run } from '../harness/proc';
import { makeTestDir } from '../harness/tmp';

const MiB = 2 ** 20;
const ROOT = join(__dirname, '..', '..');

/** The template's ExecStart for instance `name`, its paths under `dir`, as argv after the program. */
function instanceArgs(name: string, dir: string): string[] {
  const unit = readFileSync(join(ROOT, 'systemd', 'image-evictor@.service'), 'utf8');
  const execStart = (/^ExecStart=(.*)$/m.exec(unit) as RegExpExecArray)[1] as string;
  const [program, ...args] = execStart
    .replaceAll('%i', name)
    .replaceAll('/etc/image-evictor', join(dir, 'etc'))
    .replaceAll('/var/lib/image-evictor', join(dir, 'var'))
    .split(' ');
  expect(program).toBe('/usr/local/bin/image-evictor');
  return args;
}

async function freeBytes(engine: Engine): Promise<number> {
  return (await measureDisk(engine.dataRoot)).freeBytes;
}

async function present(engine: Engine, image: BuiltImage): Promise<boolean> {
  return (await run(DOCKER_CLI, ['image', 'inspect', image.id], { env: dockerEnv(engine.host, engine.workDir) })).code === 0;
}

function evictedIds(statePath: string): string[] {
  const db = new BetterSqlite3(statePath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT image_id FROM evictions WHERE dry_run = 0").all() as Array<{ image_id: string }>).map((r) => r.image_id);
  } finally {
    db.close();
  }
}

let dir: string;
let engines: Engine[] = [];
const images: BuiltImage[] = [];

beforeAll(async () => {
  dir = makeTestDir('fleet');
  engines = [await startEngine({ diskBytes: 600 * MiB, label: 'fleet-a' }), await startEngine({ diskBytes: 600 * MiB, label: 'fleet-b' })];
  for (const name of ['f1', 'f2', 'f3']) images.push(await buildImage({ name: `fleet/${name}`, layerBytes: [32 * MiB] }));
  // Both engines hold the same images, pulled in the same order: only the disks' thresholds differ.
  for (const engine of engines) for (const image of images) await engine.docker(['pull', image.ref]);
}, 300_000);

afterAll(async () => {
  for (const engine of engines) await engine.stop();
});

describe('image-evictor@.service: one agent per engine', () => {
  it('each evicts only on its own disk', async () => {
    const [a, b] = engines as [Engine, Engine];
    // a: low 40 MiB above its free space now (one or two images must go); b: far below (none).
    const freeA = await freeBytes(a);
    const configs = {
      a: [`docker-host: ${a.host}`, `path: ${a.dataRoot}`, 'interval: 1s', 'min-age: 0s', `low-free: ${freeA + 40 * MiB}B`, `target-free: ${freeA + 50 * MiB}B`, ''],
      b: [`docker-host: ${b.host}`, `path: ${b.dataRoot}`, 'interval: 1s', 'min-age: 0s', 'low-free: 1%', 'target-free: 2%', ''],
    };
    mkdirSync(join(dir, 'etc'), { recursive: true });
    for (const [name, lines] of Object.entries(configs)) {
      writeFileSync(join(dir, 'etc', `runner-${name}.yaml`), lines.join('\n'));
      mkdirSync(join(dir, 'var', `runner-${name}`), { recursive: true });
    }
    const agents: AgentProcess[] = ['a', 'b'].map((name) => startService(instanceArgs(`runner-${name}`, dir)));
    try {
      const [agentA, agentB] = agents as [AgentProcess, AgentProcess];
      await agentA.waitForLog('eviction_run', (line) => Number(line.freeBytes) >= freeA + 40 * MiB);
      // b checks twice more after that, and never finds pressure.
      const mark = agentB.logs.length;
      await agentB.waitForLogAfter(mark, 'reconcile');
      await agentB.waitForLogAfter(agentB.logs.length, 'reconcile');
      expect(agentB.logs.filter((l) => l.message === 'pressure' || l.message === 'eviction_run')).toEqual([]);
      const stateA = join(dir, 'var', 'runner-a', 'state.db');
      const stateB = join(dir, 'var', 'runner-b', 'state.db');
      const gone = evictedIds(stateA);
      expect(gone.length).toBeGreaterThan(0);
      expect(evictedIds(stateB)).toEqual([]);
      for (const image of images) {
        expect(await present(a, image)).toBe(!gone.includes(image.id));
        // The same images on b, untouched.
        expect(await present(b, image)).toBe(true);
      }
    } finally {
      for (const agent of agents) await agent.stop();
    }
  }, 180_000);

  it("an instance whose config is missing exits 2 naming the file (what the journal shows)", async () => {
    const ran = await run(process.execPath, [CLI, ...instanceArgs('runner-missing', dir)]);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain(join(dir, 'etc', 'runner-missing.yaml'));
    expect(ran.stderr).toMatch(/does not exist/);
  });
});
