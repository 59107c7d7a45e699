// What operators type and read, on a real engine and through the CLI: a protect pattern that
// protects nothing is named and a protected image names its pattern; sizes that cannot be meant
// are refused or warned; bad flags are one line naming the key; a missing state is never created;
// one-shots without history learn recent pulls from Docker; one agent per engine; help is whole.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cli, startAgent } from '../harness/cli';
import { startEngine, type Engine } from '../harness/engine';
import { pushCraftedImage } from '../harness/crafted';
import { buildImage, type BuiltImage } from '../harness/images';
import { makeTestDir } from '../harness/tmp';

const MiB = 2 ** 20;

let engine: Engine;
let dir: string;
let gstreamer: BuiltImage;

interface StatusJson {
  unmatchedProtections: string[];
  images: Array<{ id: string; class: string; rule: string | null }>;
}

function ie(args: string[]) {
  return cli(['--docker-host', engine.host, '--state', join(dir, 'state.db'), '--min-age', '0s', ...args]);
}

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 600 * MiB, label: 'operator' });
  dir = makeTestDir('operator');
  // A CI base image on a registry host, one path level deep: 127.0.0.1:PORT/ci/gstreamer-base:v1.
  gstreamer = await buildImage({ name: 'ci/gstreamer-base', tag: 'v1', layerBytes: [MiB] });
  await engine.docker(['pull', '-q', gstreamer.ref]);
});

afterAll(async () => {
  await engine?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('protection', () => {
  test("the old README example '*/gstreamer*:*' protects nothing, and status says so", async () => {
    const result = await ie(['--protect', '*/gstreamer*:*', 'status', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as StatusJson;
    expect(report.images.find((i) => i.id === gstreamer.id)?.class).toBe('candidate');
    expect(report.unmatchedProtections).toEqual(["protect '*/gstreamer*:*'"]);
    expect(result.stderr).toContain("image-evictor: warning: protect '*/gstreamer*:*' matches no image: it protects nothing");
  });

  test("the README's pattern '**/gstreamer*' protects it, and status names the pattern", async () => {
    const result = await ie(['--protect', '**/gstreamer*', 'status', '--json']);
    const report = JSON.parse(result.stdout) as StatusJson;
    expect(report.images.find((i) => i.id === gstreamer.id)).toMatchObject({ class: 'protected', rule: "protect '**/gstreamer*'" });
    expect(report.unmatchedProtections).toEqual([]);
    expect(result.stderr).not.toContain('matches no image');
  });

  test('plan and policy explain warn too; explain prints the pattern once', async () => {
    const plan = await ie(['--protect', '*/gstreamer*:*', 'plan']);
    expect(plan.stderr).toContain("protect '*/gstreamer*:*' matches no image");
    const policy = join(dir, 'none.yaml');
    writeFileSync(policy, 'rules: []\n');
    const explain = await ie(['--protect', '**/gstreamer*', 'policy', 'explain', policy]);
    expect(explain.stderr).not.toContain('matches no image');
    const row = explain.stdout.split('\n').find((l) => l.includes('gstreamer-base'));
    expect(row).toMatch(/protected\s+1\s+protect '\*\*\/gstreamer\*'$/);
  });

  test('the agent names the pattern at its first check', async () => {
    const agent = startAgent(['--docker-host', engine.host, '--state', join(dir, 'agent.db'), '--protect', '*/gstreamer*:*', '--low-free', '1%', '--target-free', '2%']);
    try {
      const warning = await agent.waitForLog('protect_matches_nothing');
      expect(warning.protections).toEqual(["protect '*/gstreamer*:*'"]);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
  });
});

describe('sizes that cannot be misread', () => {
  test.each([
    ['--low-free', '15'],
    ['--target-free', '0.5'],
  ])('%s %s (no unit) is refused with one line, exit 2', async (flag, value) => {
    const result = await ie([flag, value, 'status']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`'${flag.slice(2)}': size '${value}' has no unit: write ${value}% or ${value}GB`);
  });

  test('--low-free 10GB on a 600 MiB disk: run refuses to start, naming the disk size; status warns', async () => {
    const run = await ie(['--low-free', '10GB', '--target-free', '11GB', 'run']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/key 'low-free': 9\.31 GiB is more than the disk \(\d+(\.\d+)? MiB\): every image would go/);
    const status = await ie(['--low-free', '10GB', '--target-free', '11GB', 'status']);
    expect(status.code).toBe(0);
    expect(status.stderr).toMatch(/warning: low-free on .*: 9\.31 GiB is more than the disk/);
  });
});

describe('clean errors: one line naming the key, exit 2', () => {
  test.each([
    [['--interval', '0s', 'status'], "command line: key 'interval': must be more than 0, e.g. 5m"],
    [['run', '--metrics-listen', '99999'], "command line: key 'metrics-listen': the port must be from 1 to 65535, e.g. 9707"],
    [['--docker-host', 'ftp://x', 'status'], "command line: key 'docker-host': expected unix:///path/to/docker.sock, a socket path, or tcp://host:port"],
  ])('%j', async (args, message) => {
    const result = await ie(args);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([`image-evictor: config error: ${message}`]);
  });

  test('DOCKER_HOST without a scheme names the variable', async () => {
    const result = await cli(['--state', join(dir, 'state.db'), 'status'], { DOCKER_HOST: 'localhost:2375' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("environment variable DOCKER_HOST: 'localhost:2375': expected unix:///path/to/docker.sock");
  });

  test('a bare socket path is taken as unix://', async () => {
    const result = await cli(['--docker-host', engine.host.replace(/^unix:\/\//, ''), '--state', join(dir, 'state.db'), 'status', '--json']);
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { docker: { host: string } }).docker.host).toBe(engine.host);
  });

  test('a metrics port in use is named as such', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const result = await ie(['run', '--metrics-listen', `127.0.0.1:${port}`]);
      expect(result.code).toBe(2);
      expect(result.stderr.trim()).toBe(`image-evictor: config error: configuration: key 'metrics-listen': 127.0.0.1:${port} is already in use by another process`);
    } finally {
      server.close();
    }
  });

  test('a YAML policy saved as .conf gets a hint', async () => {
    const policy = join(dir, 'policy.conf');
    writeFileSync(policy, 'rules:\n  - match: True\n    action: Evict\n');
    const result = await ie(['policy', 'check', policy]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('(this looks like a YAML policy: only files named .yaml or .yml are read as YAML)');
  });
});

describe('state path', () => {
  test('one-shots on a missing state create nothing and say they judge by Docker alone', async () => {
    const missing = join(dir, 'no', 'such', 'dir', 'state.db');
    const status = await cli(['--docker-host', engine.host, '--state', missing, '--min-age', '0s', 'status', '--json']);
    expect(status.code).toBe(0);
    expect(status.stderr).toContain(`image-evictor: no state database at ${missing}: judging by Docker's data alone (nothing is created)`);
    expect((JSON.parse(status.stdout) as StatusJson).images.map((i) => i.id)).toContain(gstreamer.id);
    expect(existsSync(join(dir, 'no'))).toBe(false);
  });

  test('purge and gc refuse a missing state unless --docker-data-only', async () => {
    const missing = join(dir, 'typo.db');
    const purge = await cli(['--docker-host', engine.host, '--state', missing, '--low-free', '1%', '--target-free', '2%', 'purge']);
    expect(purge.code).toBe(2);
    expect(purge.stderr).toContain(`key 'state': state database ${missing} does not exist: without the agent's history, images pulled minutes ago look as old as their build. Check --state, or pass --docker-data-only`);
    const gc = await cli(['--docker-host', engine.host, '--state', missing, 'gc', '--rules', join(dir, 'none.yaml')]);
    expect(gc.code).toBe(2);
    expect(existsSync(missing)).toBe(false);
    // Told to, purge runs on Docker's data alone: the target is already met, nothing goes.
    const told = await cli(['--docker-host', engine.host, '--state', missing, '--low-free', '1%', '--target-free', '2%', 'purge', '--docker-data-only']);
    expect(told.code).toBe(0);
    expect(existsSync(missing)).toBe(false);
  });
});

describe('help', () => {
  test.each(['purge', 'plan', 'status', 'run', 'gc'])('%s --help lists the settings that apply to it', async (command) => {
    const result = await cli([command, '--help']);
    expect(result.code).toBe(0);
    for (const flag of ['--target-free', '--low-free', '--state', '--docker-host', '--protect', '--min-age']) expect(result.stdout).toContain(flag);
  });
});

describe('one-shots without history', () => {
  test("a fresh pull of an image built 10 days ago is young for status and plan, from Docker's buffered events", async () => {
    const old = await pushCraftedImage({ name: 'ci/built-long-ago', tag: '1', createdMs: Date.now() - 10 * 86_400_000, layerBytes: MiB });
    await engine.docker(['pull', '-q', old.ref]);
    const common = ['--docker-host', engine.host, '--state', join(dir, 'never-ran.db'), '--min-age', '1h'];
    const status = await cli([...common, 'status', '--json']);
    expect((JSON.parse(status.stdout) as StatusJson).images.find((i) => i.id === old.id)?.class).toBe('too-young');
    const plan = await cli([...common, '--low-free', '99%', '--target-free', '99.5%', 'plan', '--json']);
    const steps = (JSON.parse(plan.stdout) as { steps: Array<{ imageId: string }> }).steps.map((st) => st.imageId);
    expect(steps).not.toContain(old.id);
  });
});

describe('one agent per engine', () => {
  test('a second agent on the same engine refuses (exit 4), whatever its --state', async () => {
    const first = startAgent(['--docker-host', engine.host, '--state', join(dir, 'first.db'), '--low-free', '1%', '--target-free', '2%']);
    try {
      await first.waitForLog('agent_started');
      const id = (await engine.docker(['info', '--format', '{{.ID}} {{.DockerRootDir}}'])).trim();
      const second = await cli(['--docker-host', engine.host, '--state', join(dir, 'second.db'), '--low-free', '1%', '--target-free', '2%', 'run']);
      expect(second.code).toBe(4);
      expect(second.stderr).toMatch(/lock @image-evictor\/engine\/[0-9a-f]{32} \(engine (.+)\) is held by another image-evictor process/);
      expect(second.stderr).toContain(`(engine ${id})`);
    } finally {
      expect(await first.stop()).toBe(0);
    }
  });

  test('agents on two engines of one host both run, though the engines share an ID (one /etc/docker/key.json)', async () => {
    const other = await startEngine({ diskBytes: 256 * 2 ** 20, label: 'operator-other' });
    const first = startAgent(['--docker-host', engine.host, '--state', join(dir, 'engine-a.db'), '--low-free', '1%', '--target-free', '2%']);
    const second = startAgent(['--docker-host', other.host, '--state', join(dir, 'engine-b.db'), '--low-free', '1%', '--target-free', '2%']);
    try {
      // Docker 20.10 takes the ID from /etc/docker/key.json: here both engines report the same one.
      await first.waitForLog('agent_started');
      await second.waitForLog('agent_started');
    } finally {
      expect(await first.stop()).toBe(0);
      expect(await second.stop()).toBe(0);
      await other.stop();
    }
  });
});
