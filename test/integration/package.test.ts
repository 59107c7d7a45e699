// The Debian package, built by `npm run package` and installed on this machine with dpkg, as a
// fleet host would: the installed command runs against a real engine, removal keeps config and
// state, purge leaves nothing outside the documented paths, and an old Node.js is refused in
// postinst. It changes the machine (dpkg -i), so it refuses to run over an install it did not make.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startService } from '../harness/cli';
import { startEngine, type Engine } from '../harness/engine';
import { run } from '../harness/proc';
import { fileTestDir } from '../harness/tmp';

const ROOT = join(__dirname, '..', '..');
const dir = fileTestDir('package');
const MiB = 2 ** 20;
let deb = '';
let engine: Engine;

const installed = async () => (await run('dpkg-query', ['-W', '-f', '${Status}', 'image-evictor'])).stdout;

beforeAll(async () => {
  // Never over an operator's install: dpkg would take over its config and purge would delete it.
  for (const path of ['/etc/image-evictor', '/usr/lib/image-evictor', '/var/lib/image-evictor']) {
    if (existsSync(path)) throw new Error(`test/integration/package.test.ts installs the package on this machine and ${path} exists already: remove it (or run the tests on a fresh machine)`);
  }
  const built = await run('npm', ['run', '--silent', 'package', '--', '--out', dir, '--no-build'], { cwd: ROOT });
  if (built.code !== 0) throw new Error(`npm run package failed: ${built.stderr}`);
  deb = built.stdout.trim().split('\n').pop() as string;
  engine = await startEngine({ diskBytes: 200 * MiB, label: 'package' });
}, 300_000);

afterAll(async () => {
  // Whatever a failed test left installed goes.
  if ((await installed()).includes('install')) await run('dpkg', ['-P', 'image-evictor']);
  await engine?.stop();
});

describe('the Debian package', () => {
  it('is named for its version and architecture, depends on nodejs >= 20, keeps its config and registry rules as conffiles', async () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const arch = (await run('dpkg', ['--print-architecture'])).stdout.trim();
    expect(deb).toBe(join(dir, `image-evictor_${version}_${arch}.deb`));
    const info = await run('dpkg-deb', ['-I', deb]);
    expect(info.stdout).toMatch(/Depends: nodejs \(>= 20\)/);
    expect((await run('dpkg-deb', ['-I', deb, 'conffiles'])).stdout.trim().split('\n')).toEqual(['/etc/image-evictor/config.yaml', '/etc/image-evictor/registry-rules.conf']);
    const files = (await run('dpkg-deb', ['-c', deb])).stdout;
    // The compiled SQLite binding travels in the package: no compiler or npm on the host.
    expect(files).toMatch(/\.\/usr\/lib\/image-evictor\/node_modules\/better-sqlite3\/build\/Release\/better_sqlite3\.node/);
    expect(files).not.toMatch(/node_modules\/(jest|typescript|ts-jest)\//);
  });

  it('installs, runs against a real engine, is removed keeping config and state, and purged leaving nothing', async () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const paths = (await run('dpkg-deb', ['-c', deb])).stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => (/ \.(\/\S*)/.exec(l) as RegExpExecArray)[1] as string)
      .map((p) => p.replace(/\/$/, ''))
      .filter((p) => p !== '');
    const ours = paths.filter((p) => /image-evictor/.test(p));

    const install = await run('dpkg', ['-i', deb]);
    expect(install.stderr).toBe('');
    expect(install.code).toBe(0);
    expect(await installed()).toBe('install ok installed');
    expect((await run('/usr/bin/image-evictor', ['--version'])).stdout.trim()).toBe(version);
    const status = await run('/usr/bin/image-evictor', ['--docker-host', engine.host, '--state', join(dir, 'status.db'), 'status', '--json']);
    expect(status.code).toBe(0);
    expect((JSON.parse(status.stdout) as { disk: { path: string } }).disk.path).toBe(engine.dataRoot);
    // The nightly registry unit's rule file is there, and the installed binary reads it.
    const rules = await run('/usr/bin/image-evictor', ['policy', 'check', '/etc/image-evictor/registry-rules.conf']);
    expect([rules.code, rules.stdout.split('\n')[0]]).toEqual([0, '/etc/image-evictor/registry-rules.conf: 3 rule(s), valid']);
    expect(readFileSync('/lib/systemd/system/image-evictor-registry-gc.service', 'utf8')).toContain('--rules /etc/image-evictor/registry-rules.conf');
    // The agent from the package, with the package's config and its default state path.
    mkdirSync('/var/lib/image-evictor', { recursive: true });
    const agent = startService(['--docker-host', engine.host, 'run'], {}, '/usr/bin/image-evictor');
    await agent.waitForLog('agent_started');
    expect(await agent.stop()).toBe(0);
    expect(existsSync('/var/lib/image-evictor/state.db')).toBe(true);

    expect((await run('dpkg', ['-r', 'image-evictor'])).code).toBe(0);
    expect(existsSync('/usr/bin/image-evictor')).toBe(false);
    expect(existsSync('/usr/lib/image-evictor')).toBe(false);
    expect(existsSync('/lib/systemd/system/image-evictor.service')).toBe(false);
    // Removal keeps what the operator made: the config and the state.
    expect(existsSync('/etc/image-evictor/config.yaml')).toBe(true);
    expect(existsSync('/etc/image-evictor/registry-rules.conf')).toBe(true);
    expect(existsSync('/var/lib/image-evictor/state.db')).toBe(true);

    expect((await run('dpkg', ['-P', 'image-evictor'])).code).toBe(0);
    for (const path of [...ours, '/etc/image-evictor', '/var/lib/image-evictor']) expect([path, existsSync(path)]).toEqual([path, false]);
    expect(await installed()).toBe('');
  }, 300_000);

  it('refuses a Node.js below 20 in postinst, naming it: nothing enabled, the package left unconfigured', async () => {
    const fake = join(dir, 'old-node');
    mkdirSync(fake, { recursive: true });
    writeFileSync(join(fake, 'node'), '#!/bin/sh\necho 18.19.0\n', { mode: 0o755 });
    const install = await run('dpkg', ['-i', deb], { env: { ...process.env, PATH: `${fake}:${process.env.PATH ?? ''}` } });
    expect(install.code).not.toBe(0);
    expect(install.stderr).toMatch(/Node\.js 20 or newer is required \(found: 18\.19\.0/);
    expect(await installed()).toBe('install ok half-configured');
    expect(existsSync('/etc/systemd/system/multi-user.target.wants/image-evictor.service')).toBe(false);
    expect((await run('dpkg', ['-P', 'image-evictor'])).code).toBe(0);
    expect(existsSync('/usr/lib/image-evictor')).toBe(false);
  }, 120_000);
});
