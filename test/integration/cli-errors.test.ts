// Bad input at the command line, run as real processes: config errors name their source and exit 2
// before anything touches Docker; an unreachable daemon is reported, not hidden.
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { cli } from '../harness/cli';
import { makeTestDir } from '../harness/tmp';

let dir: string;
let fakeDocker: Server;
let connections = 0;
let fakeHost: string;

beforeAll(async () => {
  dir = makeTestDir('cli');
  // A socket that only counts connections: any config error must exit before reaching it.
  fakeDocker = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  const socketPath = join(dir, 'fake-docker.sock');
  await new Promise<void>((resolve) => fakeDocker.listen(socketPath, resolve));
  fakeHost = `unix://${socketPath}`;
});

afterAll(async () => {
  await new Promise((resolve) => fakeDocker.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  connections = 0;
});

function configFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('configuration errors exit 2 before touching Docker', () => {
  test.each([
    {
      name: 'unknown key in the config file, with its line',
      args: () => ['--config', configFile('unknown.yaml', 'state: /tmp/x.db\nintervall: 5m\n')],
      env: {},
      expected: /unknown\.yaml:2: key 'intervall': unknown key/,
    },
    {
      name: 'bad size in the config file',
      args: () => ['--config', configFile('size.yaml', 'low-free: 12XB\n')],
      env: {},
      expected: /size\.yaml:1: key 'low-free': unknown size unit 'XB'/,
    },
    {
      name: 'YAML syntax error, with its line',
      args: () => ['--config', configFile('broken.yaml', 'state: /tmp/x.db\ninterval: [5m\n')],
      env: {},
      expected: /broken\.yaml:\d+: YAML syntax error/,
    },
    {
      name: 'bad duration in an environment variable',
      args: () => [],
      env: { IMAGE_EVICTOR_INTERVAL: 'soon' },
      expected: /environment: key 'interval': invalid duration 'soon'/,
    },
    {
      name: 'unknown IMAGE_EVICTOR_ variable',
      args: () => [],
      env: { IMAGE_EVICTOR_INTERVALL: '5m' },
      expected: /environment variable IMAGE_EVICTOR_INTERVALL: unknown setting/,
    },
    {
      name: 'bare number as a duration flag',
      args: () => ['--interval', '300'],
      env: {},
      expected: /command line: key 'interval': invalid duration '300'/,
    },
    {
      name: 'target not above low',
      args: () => ['--config', configFile('thresholds.yaml', 'low-free: 30%\ntarget-free: 20%\n')],
      env: {},
      expected: /key 'target-free': must be above 'low-free'/,
    },
    {
      name: 'missing config file',
      args: () => ['--config', join(dir, 'nope.yaml')],
      env: {},
      expected: /nope\.yaml: config file does not exist/,
    },
  ])('$name', async ({ args, env, expected }) => {
    const result = await cli([...args(), '--docker-host', fakeHost, '--state', join(dir, 'state.db'), 'status'], env);
    expect(result.stderr).toMatch(/^image-evictor: config error: /);
    expect(result.stderr).toMatch(expected);
    expect(result.code).toBe(2);
    expect(connections).toBe(0);
  });
});

describe('status with an unreachable Docker socket', () => {
  test('names the socket, still prints stored state, exits 1', async () => {
    const host = `unix://${join(dir, 'no-such-docker.sock')}`;
    const result = await cli(['--docker-host', host, '--state', join(dir, 'unreachable.db'), 'status', '--json']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach Docker at ${host}`);
    const report = JSON.parse(result.stdout) as { docker: { reachable: boolean }; images: unknown[] };
    expect(report.docker.reachable).toBe(false);
    expect(report.images).toEqual([]);
  });
});
