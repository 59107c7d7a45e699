import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../agent/config/load';
import { CONFIG_KEYS, DEFAULTS } from '../../agent/config/schema';
import { ConfigError } from '../../agent/errors';
import { fileTestDir } from '../harness/tmp';

const dir = fileTestDir('config-unit');
let fileCount = 0;
function file(text: string): string {
  const path = join(dir, `config-${(fileCount += 1)}.yaml`);
  writeFileSync(path, text);
  return path;
}

function errorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig layering', () => {
  it('the example file, every key uncommented, names every key and loads', () => {
    const example = readFileSync(join(__dirname, '..', '..', 'policies', 'config.example.yaml'), 'utf8');
    const uncommented = example
      .replace(/^# ([a-z-]+:)/gm, '$1')
      .replace(/^#( {3}- )/gm, '$1')
      .replace(/^policy: .*$/m, `policy: ${join(__dirname, '..', '..', 'policies', 'ci-runner.yaml')}`);
    const keys = [...uncommented.matchAll(/^([a-z-]+):/gm)].map((m) => m[1]);
    expect([...keys].sort()).toEqual([...CONFIG_KEYS].sort());
    const loaded = loadConfig({ configFile: file(uncommented), env: {}, flags: {} });
    expect(loaded.evictionOrder).toBe('auto');
    expect(loaded.historyMs).toBe(30 * 86_400_000);
    expect(loaded.protect).toEqual(['registry.freedesktop.org/mesa/**', 'registry.freedesktop.org/gstreamer/**', '**/gstreamer*']);
  });

  it('the ephemeral-VM example loads: state on local disk, 1-minute checks, short min-age and history', () => {
    const loaded = loadConfig({ configFile: join(__dirname, '..', '..', 'policies', 'ephemeral-vm.yaml'), env: {}, flags: {} });
    expect(loaded).toMatchObject({ statePath: '/var/lib/image-evictor/state.db', intervalMs: 60_000, minAgeMs: 5 * 60_000, historyMs: 2 * 86_400_000, lowFree: { kind: 'ratio', ratio: 0.15 } });
  });

  it("warns when the config file sets a threshold its policy file overrides, naming both; not when they agree", () => {
    const policy = join(dir, 'thresholds.yaml');
    writeFileSync(policy, 'min-age: 15m\nlow-free: 10%\nrules: []\n');
    const warnings: string[] = [];
    const config = file(`policy: ${policy}\nmin-age: 5m\nlow-free: 10%\n`);
    const loaded = loadConfig({ configFile: config, env: {}, flags: {}, warn: (m) => warnings.push(m) });
    expect(loaded.minAgeMs).toBe(15 * 60_000);
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^${config}: 'min-age' is overridden by the policy file ${policy}`))]);
  });

  it('uses defaults when nothing is given', () => {
    // An explicit empty file keeps the machine's /etc/image-evictor/config.yaml out of the test.
    expect(loadConfig({ configFile: file(''), env: {}, flags: {} })).toEqual(DEFAULTS);
  });

  it('takes DOCKER_HOST as the default Docker host', () => {
    expect(loadConfig({ configFile: file(''), env: { DOCKER_HOST: 'tcp://127.0.0.1:2375' }, flags: {} }).dockerHost).toBe('tcp://127.0.0.1:2375');
  });

  it('orders defaults < file < env < flags', () => {
    const config = file('interval: 1m\nstate: /from/file.db\nlog-level: debug\nlow-free: 10GiB\ntarget-free: 20GiB\n');
    const env = { IMAGE_EVICTOR_STATE: '/from/env.db', IMAGE_EVICTOR_LOG_LEVEL: 'warn', DOCKER_HOST: 'unix:///from/docker-host.sock' };
    const loaded = loadConfig({ configFile: config, env, flags: { 'log-level': 'error' } });
    expect(loaded.intervalMs).toBe(60_000);
    expect(loaded.statePath).toBe('/from/env.db');
    expect(loaded.logLevel).toBe('error');
    expect(loaded.dockerHost).toBe('unix:///from/docker-host.sock');
    expect(loaded.lowFree).toEqual({ kind: 'bytes', bytes: 10 * 2 ** 30 });
    expect(loaded.minAgeMs).toBe(DEFAULTS.minAgeMs);
  });

  it('reads IMAGE_EVICTOR_CONFIG as the config file', () => {
    expect(loadConfig({ env: { IMAGE_EVICTOR_CONFIG: file('interval: 2m\n') }, flags: {} }).intervalMs).toBe(120_000);
  });

  it('accepts lists as YAML sequences and as comma-separated text', () => {
    expect(loadConfig({ configFile: file('protect:\n  - "registry.freedesktop.org/mesa/**"\n'), env: {}, flags: {} }).protect).toEqual([
      'registry.freedesktop.org/mesa/**',
    ]);
    expect(loadConfig({ configFile: file(''), env: { IMAGE_EVICTOR_PROTECT: 'a/**, b:*' }, flags: {} }).protect).toEqual(['a/**', 'b:*']);
  });
});

describe('loadConfig errors name the source, line and key', () => {
  it.each([
    ['unknown key', 'state: /x.db\nintervall: 5m\n', 2, 'intervall', /unknown key/],
    ['bad size', 'low-free: 12XB\n', 1, 'low-free', /unknown size unit/],
    ['bad duration', '\n\ninterval: soon\n', 3, 'interval', /invalid duration 'soon'/],
    ['bare number duration', 'interval: 300\n', 1, 'interval', /invalid duration '300'/],
    ['bad enum', 'log-level: loud\n', 1, 'log-level', /./],
    ['inodes not a percentage', 'low-free-inodes: 5GB\n', 1, 'low-free-inodes', /must be a percentage/],
  ])('%s', (_name, text, line, key, reason) => {
    const path = file(text);
    const error = errorOf(() => loadConfig({ configFile: path, env: {}, flags: {} }));
    expect(error.source).toBe(path);
    expect(error.line).toBe(line);
    expect(error.key).toBe(key);
    expect(error.reason).toMatch(reason);
    expect(error.message).toBe(`${path}:${line}: key '${key}': ${error.reason}`);
  });

  it('reports YAML syntax errors with a line', () => {
    const path = file('state: /x.db\ninterval: [5m\n');
    const error = errorOf(() => loadConfig({ configFile: path, env: {}, flags: {} }));
    expect(error.reason).toMatch(/YAML syntax error/);
    expect(error.line).toBeGreaterThanOrEqual(2);
  });

  it('refuses a top level that is not a mapping', () => {
    expect(errorOf(() => loadConfig({ configFile: file('- a\n- b\n'), env: {}, flags: {} })).reason).toMatch(/mapping/);
  });

  it('names an unknown environment variable', () => {
    const error = errorOf(() => loadConfig({ configFile: file(''), env: { IMAGE_EVICTOR_LOWFREE: '5%' }, flags: {} }));
    expect(error.source).toBe('environment variable IMAGE_EVICTOR_LOWFREE');
  });

  it('names a bad flag value', () => {
    const error = errorOf(() => loadConfig({ configFile: file(''), env: {}, flags: { interval: '5 minutes' } }));
    expect(error.source).toBe('command line');
    expect(error.key).toBe('interval');
  });

  it.each([
    ['low-free: 30%\ntarget-free: 20%\n', 'target-free'],
    ['low-free: 10GB\ntarget-free: 10GB\n', 'target-free'],
    ['low-free-inodes: 20%\ntarget-free-inodes: 10%\n', 'target-free-inodes'],
    ['registry-low-free: 15%\nregistry-target-free: 15%\n', 'registry-target-free'],
  ])('refuses target not above low: %j', (text, key) => {
    expect(errorOf(() => loadConfig({ configFile: file(text), env: {}, flags: {} })).key).toBe(key);
  });

  it('leaves bytes-versus-percent thresholds to the agent, which knows the disk', () => {
    expect(() => loadConfig({ configFile: file('low-free: 20%\ntarget-free: 5GB\n'), env: {}, flags: {} })).not.toThrow();
  });
});

describe('YAML aliases', () => {
  it('an alias to an anchor defined nowhere is a located config error, not a crash (found by fast-check)', () => {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'interval: 5m\nprotect: *nowhere\n');
    expect(() => loadConfig({ configFile: file, env: {}, flags: {} })).toThrow(/c\.yaml:2: YAML error: Unresolved alias/);
  });
});
