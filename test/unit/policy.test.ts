// Policy files (YAML and docker_gc), the example policies, container selection, and Delete/Keep
// in the planner.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../agent/config/load';
import { globToRegExp } from '../../agent/core/glob';
import { containersToRemove, containerVerdict, DEFAULT_CONTAINER_POLICY, type ContainerInfo } from '../../agent/core/containers';
import { plan, type PlannerImage } from '../../agent/core/planner';
import { ConfigError, RuleSyntaxError } from '../../agent/errors';
import { loadPolicy } from '../../agent/config/policy-file';
import { packageRoot } from '../../agent/paths';
import type { Rule } from '../../agent/core/rules';
import { fileTestDir } from '../harness/tmp';
import { DAY, HOUR, MINUTE, record, T0 } from './fixtures';

const dir = fileTestDir('policy');
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not throw');
}

describe('YAML policies', () => {
  it('reads rules, hygiene and thresholds; thresholds layer between config file and flags', () => {
    const policy = file(
      'p.yaml',
      ['low-free: 20%', 'target-free: 30%', 'rules:', '  - match: Dangling', '    action: Delete', '  - match: \'Repository("runner/helper")\'', '    action: Keep', 'containers:', '  remove-exited: true', '  grace: 30m', '  exclude-names: [keep-*]', 'build-cache:', '  prune-under-pressure: true', '  keep-storage: 2GiB', ''].join('\n'),
    );
    const loaded = loadPolicy(policy);
    expect(loaded.policy.rules.map((r) => [r.origin, r.action.kind])).toEqual([
      [`${policy}:4`, 'delete'],
      [`${policy}:6`, 'keep'],
    ]);
    expect(loaded.policy.containers).toEqual({ removeExited: true, graceMs: 30 * MINUTE, excludeNames: ['keep-*'], excludeImages: [], removeVolumes: false });
    expect(loaded.policy.buildCache).toEqual({ pruneUnderPressure: true, keepStorageBytes: 2 * 2 ** 30 });
    const config = loadConfig({ env: {}, flags: { policy, 'target-free': '40%' } });
    expect(config.lowFree).toEqual({ kind: 'ratio', ratio: 0.2 });
    expect(config.targetFree).toEqual({ kind: 'ratio', ratio: 0.4 });
    expect(config.policy.rules).toHaveLength(2);
    expect(config.policyPath).toBe(policy);
  });

  it.each([
    ['a YAML type error', 'rules: yes\n', ConfigError, /p\.yaml:1: key 'rules': /],
    ['an unknown key', 'containers:\n  remove-exitted: true\n', ConfigError, /p\.yaml:2: key 'containers\.remove-exitted': unknown key \(known here: remove-exited, grace/],
    ['a bad duration', 'containers:\n  grace: soon\n', ConfigError, /p\.yaml:2: key 'containers\.grace': invalid duration 'soon'/],
    ['a percentage keep-storage', 'build-cache:\n  keep-storage: 10%\n', ConfigError, /key 'build-cache\.keep-storage': must be a size/],
    ['YAML syntax', 'rules: [\n', ConfigError, /p\.yaml:\d+: YAML syntax error/],
    ['an empty file', '', ConfigError, /empty policy/],
    ['a bad match', 'rules:\n  - match: Dangling(\n    action: Delete\n', RuleSyntaxError, /p\.yaml:2:21: expected an argument/],
    ['a bad action', 'rules:\n  - match: True\n    action: "Erase"\n', RuleSyntaxError, /p\.yaml:3:14: unknown action 'Erase'/],
    ['a rule without action', 'rules:\n  - match: True\n', ConfigError, /key 'rules\.0\.action'/],
  ])('%s is a located error', (_name, text, type, message) => {
    const e = thrown(() => loadPolicy(file('p.yaml', text)));
    expect(e).toBeInstanceOf(type);
    expect(e.message).toMatch(message);
  });

  it('a missing policy file is a config error before anything else', () => {
    expect(thrown(() => loadConfig({ env: {}, flags: { policy: join(dir, 'nope.yaml') } })).message).toMatch(/nope\.yaml: policy file does not exist/);
  });
});

describe('the example policies load', () => {
  const examples = join(packageRoot(), 'policies');
  it('docker_gc.conf is docker_gc syntax, four rules', () => {
    expect(loadPolicy(join(examples, 'docker_gc.conf')).policy.rules.map((r) => r.action.kind)).toEqual(['delete', 'protect', 'preserve-recent', 'delete']);
  });
  it('ci-runner.yaml keeps the helper, protects the bases, preserves 3 per pipeline repository, removes containers', () => {
    const { policy } = loadPolicy(join(examples, 'ci-runner.yaml'));
    expect(policy.rules.map((r) => r.action)).toEqual(expect.arrayContaining([{ kind: 'keep' }, { kind: 'protect' }, { kind: 'preserve-recent', count: 3 }, { kind: 'delete' }]));
    expect(policy.containers.removeExited).toBe(true);
  });
  it('github-actions.yaml and buildkite.yaml load, with container hygiene and build-cache pruning on', () => {
    for (const name of ['github-actions.yaml', 'buildkite.yaml']) {
      const { policy, settings } = loadPolicy(join(examples, name));
      expect(policy.rules.length).toBeGreaterThanOrEqual(3);
      expect(policy.containers.removeExited).toBe(true);
      expect(policy.buildCache.pruneUnderPressure).toBe(true);
      expect(settings['min-age']).toBeGreaterThanOrEqual(20 * 60_000);
    }
  });
  it('gitlab-registry.yaml keeps releases and main, deletes stale review tags, preserves 10 per repository, then ages out', () => {
    const { policy } = loadPolicy(join(examples, 'gitlab-registry.yaml'));
    expect(policy.rules.map((r) => r.action)).toEqual([{ kind: 'keep' }, { kind: 'delete' }, { kind: 'preserve-recent', count: 10 }, { kind: 'delete' }]);
  });
  it('default.yaml has no surprises: dangling images go first, hygiene off', () => {
    const { policy } = loadPolicy(join(examples, 'default.yaml'));
    expect(policy.containers.removeExited).toBe(false);
    expect(policy.rules.length).toBeGreaterThan(0);
  });
});

describe('containers', () => {
  const NOW = T0;
  const c = (overrides: Partial<ContainerInfo>): ContainerInfo => ({ id: 'c1', name: 'job-1', image: 'ci/app:1', imageId: 'sha256:a', state: 'exited', createdMs: NOW - DAY, finishedMs: NOW - 2 * HOUR, labels: {}, ...overrides });
  const on = { ...DEFAULT_CONTAINER_POLICY, removeExited: true, graceMs: HOUR, excludeNames: ['keep-*'], excludeImages: ['*/helper:*'] };
  it.each([
    ['exited past grace', {}, 'remove'],
    ['dead past grace', { state: 'dead' }, 'remove'],
    ['exited within grace', { finishedMs: NOW - 30 * MINUTE }, 'too-recent'],
    ['no finish time: created time counts', { finishedMs: null, createdMs: NOW - 30 * MINUTE }, 'too-recent'],
    ['running', { state: 'running' }, 'not-stopped'],
    ['paused', { state: 'paused' }, 'not-stopped'],
    ['restarting', { state: 'restarting' }, 'not-stopped'],
    ['created, never started', { state: 'created' }, 'not-stopped'],
    ['excluded by name', { name: 'keep-cache' }, 'excluded-name'],
    ['excluded by image', { image: 'runner/helper:x86' }, 'excluded-image'],
    ['labelled keep', { labels: { 'image-evictor.keep': 'true' } }, 'keep-label'],
  ])('%s', (_name, overrides, verdict) => expect(containerVerdict(c(overrides), on, NOW)).toBe(verdict));

  it('nothing is removed unless the policy turns removal on', () => {
    expect(containersToRemove([c({})], DEFAULT_CONTAINER_POLICY, NOW)).toEqual([]);
    expect(containersToRemove([c({})], on, NOW).map((x) => x.id)).toEqual(['c1']);
  });
});

describe('Delete and Keep in the planner', () => {
  const GiB = 2 ** 30;
  const NOW = T0 + 10 * DAY;
  const img = (id: string, tags: string[], pulledAgo: number, containers = 0): PlannerImage => ({
    record: record(id, { repoTags: tags, lastPulledMs: NOW - pulledAgo, sizeBytes: GiB }),
    layers: null,
    containerCount: containers,
  });
  const images = [img('old', ['ci/old:1'], 9 * DAY), img('dang', [], 8 * DAY), img('helper', ['runner/helper:1'], 7 * DAY), img('used', [], 6 * DAY, 1), img('fresh', [], MINUTE)];
  // Read when the tests run: the file's directory exists from then (test/harness/tmp.ts).
  let rules: Rule[] = [];
  beforeAll(() => {
    rules = loadPolicy(file('r.conf', 'Repository("runner/helper") : Keep\nDangling : Delete\n')).policy.rules;
  });
  const input = (freeGiB: number, mode: 'auto' | 'purge' = 'auto', includeProtected = false) => ({
    nowMs: NOW,
    images,
    disk: { totalBytes: 100 * GiB, freeBytes: freeGiB * GiB, totalInodes: 1000, freeInodes: 900 },
    thresholds: { lowFree: { kind: 'ratio' as const, ratio: 0.15 }, targetFree: { kind: 'ratio' as const, ratio: 0.25 }, lowFreeInodesRatio: 0.05, targetFreeInodesRatio: 0.1 },
    minAgeMs: 10 * MINUTE,
    protect: [],
    rules,
    mode,
    includeProtected,
  });

  it('Delete images go at every check, without pressure; in-use and too-young ones stay', () => {
    const p = plan(input(50));
    expect(p.underPressure).toBe(false);
    expect(p.steps.map((s) => [s.imageId, s.mode, s.reason])).toEqual([['dang', 'hygiene', 'rule-delete']]);
    expect(p.ranking.find((r) => r.imageId === 'used')?.class).toBe('in-use');
    expect(p.ranking.find((r) => r.imageId === 'fresh')?.class).toBe('too-young');
  });

  it('Delete images come first under pressure too, then LRU; Keep images never, not even in an emergency purge', () => {
    expect(plan(input(1)).steps.map((s) => s.imageId)).toEqual(['dang', 'old']);
    const purge = plan(input(1, 'purge', true));
    expect(purge.steps.map((s) => s.imageId)).toEqual(['dang', 'old']);
    expect(purge.ranking.find((r) => r.imageId === 'helper')).toEqual({ imageId: 'helper', class: 'kept', rank: null, rule: `${join(dir, 'r.conf')}:1` });
  });

  it('protect patterns claim before the rules, and each protected image names its pattern', () => {
    const p = plan({ ...input(1), protect: ['ci/**'] });
    expect(p.ranking.find((r) => r.imageId === 'old')).toMatchObject({ class: 'protected', rule: "protect 'ci/**'" });
  });

  it('names every protect pattern and Protect rule that matches no image', () => {
    const rules = loadPolicy(file('p.yaml', 'rules:\n  - match: Repository("nowhere/**")\n    action: Protect\n  - match: Repository("ci/**")\n    action: Protect\n')).policy.rules;
    const p = plan({ ...input(1), protect: ['*/gstreamer*:*', 'ci/**'], rules });
    expect(p.unmatchedProtections).toEqual(["protect '*/gstreamer*:*'", `${join(dir, 'p.yaml')}:2`]);
  });
});

describe('YAML scalars stay text', () => {
  it('match: True is the predicate True, not a YAML boolean', () => {
    const { policy } = loadPolicy(file('t.yaml', 'rules:\n  - match: True\n    action: Evict\n  - match: False\n    action: Keep\n'));
    expect(policy.rules.map((r) => r.predicate.kind)).toEqual(['true', 'false']);
  });
});

describe('the protect examples operators copy', () => {
  const root = join(__dirname, '..', '..');
  // Where the README's configuration table and the example config give protect patterns.
  const readmeRow = readFileSync(join(root, 'README.md'), 'utf8').split('\n').find((l) => l.startsWith('| `protect` |')) ?? '';
  const readmePatterns = [...(readmeRow.split('e.g.')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
  const examplePatterns = readFileSync(join(root, 'policies', 'config.example.yaml'), 'utf8')
    .split('\n')
    .map((l) => /^#\s+- "?([^"#\s]+)"?/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined && p.includes('*'));
  // Real CI base images: deep paths on freedesktop's registry, and a mirror's.
  const deepNames = [
    'registry.freedesktop.org/mesa/mesa/debian/x86_64_build:2024-01-15-llvm17',
    'registry.freedesktop.org/gstreamer/gstreamer/amd64/fedora:2024-02-01.0-main',
    '127.0.0.1:5001/ci/gstreamer-base:v1',
  ];
  const protectedBy = (patterns: string[], name: string) => patterns.some((p) => globToRegExp(p).test(name));

  it.each([
    ['README', () => readmePatterns],
    ['config.example.yaml', () => examplePatterns],
  ])('%s: its patterns protect deep registry paths', (_where, patterns) => {
    expect(patterns().length).toBeGreaterThanOrEqual(2);
    for (const name of deepNames) expect([name, protectedBy(patterns(), name)]).toEqual([name, true]);
    expect(protectedBy(patterns(), 'registry.example.com/team/app:1')).toBe(false);
  });

  it("the old example '*/gstreamer*:*' protected none of them (the bug operators hit)", () => {
    for (const name of deepNames) expect(protectedBy(['*/gstreamer*:*'], name)).toBe(false);
  });
});
