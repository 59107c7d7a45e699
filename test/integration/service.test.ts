// The agent as a service: metrics on loopback, SIGHUP reload (a broken file keeps the old config),
// single instance, purge waiting for the eviction lock, SIGTERM; unit files and alert rules checked.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { acquireLock, evictionLockPath } from '../../agent/state/lock';
import { CLI, cli, startAgent, type AgentProcess } from '../harness/cli';
import { startEngine, type Engine } from '../harness/engine';
import { buildImage, type BuiltImage } from '../harness/images';
import { run, waitFor } from '../harness/proc';
import { freePort } from '../harness/registry';
import { makeTestDir } from '../harness/tmp';

const MiB = 2 ** 20;
const ROOT = join(__dirname, '..', '..');

let engine: Engine;
let dir: string;
let statePath: string;
let configPath: string;
let agent: AgentProcess | undefined;
let port: number;
const images: BuiltImage[] = [];
/** The last /metrics text, for checking the alert rules against what is really served. */
let served = '';

async function scrape(): Promise<string> {
  served = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return served;
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`metric ${name} not found`);
  return Number(line.slice(name.length + 1));
}

async function freeBytes(): Promise<number> {
  const s = await statfs(engine.dataRoot);
  return s.bavail * s.bsize;
}

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 600 * MiB, label: 'service' });
  dir = makeTestDir('service');
  statePath = join(dir, 'state.db');
  configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, 'low-free: 1%\ntarget-free: 2%\nmin-age: 2s\ninterval: 1s\n');
  for (const name of ['first', 'second']) images.push(await buildImage({ name: `service/${name}`, layerBytes: [16 * MiB] }));
  port = await freePort();
});

afterAll(async () => {
  await agent?.stop();
  await engine?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the agent as a long-running service', () => {
  test('serves metrics on loopback only', async () => {
    agent = startAgent(['--config', configPath, '--docker-host', engine.host, '--state', statePath], ['--metrics-listen', String(port)]);
    const listening = await agent.waitForLog('metrics_listening');
    expect(listening.address).toBe(`127.0.0.1:${port}`);
    for (const image of images) await engine.docker(['pull', '-q', image.ref]);
    const pulledAt = Date.now();
    await waitFor('two images tracked and past min-age', async () => {
      const text = await scrape();
      return metric(text, 'image_evictor_tracked_images') === 2 && Date.now() > pulledAt + 2500 ? text : undefined;
    });
    const text = await scrape();
    expect(metric(text, 'image_evictor_docker_reachable')).toBe(1);
    expect(metric(text, 'image_evictor_free_bytes')).toBeGreaterThan(0);
    expect(text).toContain('image_evictor_evictions_total{mode="normal"} 0');
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  test('SIGHUP with a broken config logs the error and keeps the old one in force', async () => {
    const lowBefore = metric(await scrape(), 'image_evictor_low_free_bytes');
    writeFileSync(configPath, 'low-free: [unbalanced\n');
    const mark = agent!.logs.length;
    agent!.child.kill('SIGHUP');
    const failed = await agent!.waitForLogAfter(mark, 'config_reload_failed');
    expect(String(failed.error)).toMatch(new RegExp(`^${configPath}:\\d+: YAML syntax error`));
    await agent!.waitForLogAfter(agent!.logs.indexOf(failed) + 1, 'reconcile');
    expect(metric(await scrape(), 'image_evictor_low_free_bytes')).toBe(lowBefore);
    expect(agent!.child.exitCode).toBeNull();
  });

  test('a second run refuses, naming the lock', async () => {
    const second = await cli(['--docker-host', engine.host, '--state', statePath, 'run']);
    expect(second.code).toBe(4);
    expect(second.stderr).toContain(`lock ${statePath}.run.lock is held by another image-evictor process`);
  });

  test('a valid SIGHUP applies; agent and purge take turns on the eviction lock; no image removed twice', async () => {
    // The test holds the eviction lock, as a purge would: the agent must defer, the purge must wait.
    const held = acquireLock(evictionLockPath(statePath), 0);
    const free = await freeBytes();
    // The purge frees one image (16 MiB): still below the agent's low, so the agent takes the other.
    writeFileSync(configPath, `low-free: ${free + 20 * MiB}B\ntarget-free: ${free + 24 * MiB}B\nmin-age: 2s\ninterval: 1s\n`);
    const mark = agent!.logs.length;
    agent!.child.kill('SIGHUP');
    await agent!.waitForLogAfter(mark, 'config_reloaded');
    await agent!.waitForLogAfter(mark, 'eviction_deferred');

    const purge = spawn(process.execPath, [CLI, '--docker-host', engine.host, '--state', statePath, '--min-age', '2s', '--target-free', `${free + 8 * MiB}B`, 'purge']);
    const purgeExit = new Promise<number | null>((resolve) => purge.once('exit', resolve));
    const heldFor = 1500;
    await new Promise((resolve) => setTimeout(resolve, heldFor));
    expect(purge.exitCode).toBeNull();
    held.release();
    expect(await purgeExit).toBe(0);

    const eviction = await agent!.waitForLogAfter(mark, 'eviction');
    expect(eviction.mode).toBe('normal');
    await waitFor('the agent to count its eviction', async () => (metric(await scrape(), 'image_evictor_evictions_total{mode="normal"}') === 1 ? true : undefined));
    const text = await scrape();
    expect(metric(text, 'image_evictor_reclaimed_bytes_total{mode="normal"}')).toBeGreaterThan(15 * MiB);
    expect(metric(text, 'image_evictor_emergency_active')).toBe(0);

    const db = new BetterSqlite3(statePath, { readonly: true });
    const rows = db.prepare('SELECT image_id, mode FROM evictions ORDER BY id').all() as Array<{ image_id: string; mode: string }>;
    db.close();
    expect(rows.map((r) => r.mode)).toEqual(['purge', 'normal']);
    expect(new Set(rows.map((r) => r.image_id))).toEqual(new Set(images.map((i) => i.id)));
  });

  test('SIGTERM: exit 0 before systemd would kill it (TimeoutStopSec)', async () => {
    const unit = readFileSync(join(ROOT, 'systemd', 'image-evictor.service'), 'utf8');
    const timeoutStopMs = Number(/^TimeoutStopSec=(\d+)s$/m.exec(unit)?.[1]) * 1000;
    expect(timeoutStopMs).toBeGreaterThan(0);
    const started = Date.now();
    expect(await agent!.stop()).toBe(0);
    expect(Date.now() - started).toBeLessThan(timeoutStopMs);
    agent = undefined;
  });
});

describe('packaging', () => {
  test('systemd-analyze verify accepts every unit file', async () => {
    const unitDir = mkdtempSync(join(dir, 'units-'));
    const units = ['image-evictor.service', 'image-evictor-purge.service', 'image-evictor-registry-listen.service', 'image-evictor-registry-gc.service', 'image-evictor-registry-gc.timer'];
    for (const unit of units) {
      // verify checks that ExecStart exists: point it at this checkout's build.
      const text = readFileSync(join(ROOT, 'systemd', unit), 'utf8').replaceAll('/usr/local/bin/image-evictor', CLI);
      writeFileSync(join(unitDir, unit), text);
    }
    // The template is verified as an instance of it, the way `systemctl enable image-evictor@runner` loads it.
    writeFileSync(join(unitDir, 'image-evictor@runner.service'), readFileSync(join(ROOT, 'systemd', 'image-evictor@.service'), 'utf8').replaceAll('/usr/local/bin/image-evictor', CLI));
    const result = await run('systemd-analyze', ['verify', ...units, 'image-evictor@runner.service'], { cwd: unitDir });
    expect(result.stderr + result.stdout).toBe('');
    expect(result.code).toBe(0);
  });

  test('promtool accepts the alert rules, and they name only metrics the agent serves', async () => {
    const rules = join(ROOT, 'systemd', 'alerts.yml');
    const result = await run('promtool', ['check', 'rules', rules]);
    expect(result.stdout).toContain('SUCCESS: 4 rules found');
    expect(result.code).toBe(0);
    const names = new Set(served.match(/^image_evictor_[a-z_]+/gm));
    expect(names.size).toBeGreaterThan(10);
    for (const name of readFileSync(rules, 'utf8').match(/image_evictor_[a-z_]+/g) ?? []) expect(names).toContain(name);
  });

  test('every Grafana dashboard panel is valid PromQL (as recording rules, by promtool) naming only metrics the agent serves', async () => {
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'systemd', 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(dashboard.panels.length);
    // Grafana's variables, as Grafana would fill them in.
    const filled = exprs.map((e) => e.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*'));
    for (const e of filled) expect(e).not.toContain('$');
    const rules = join(dir, 'dashboard-rules.yml');
    writeFileSync(rules, `groups:\n  - name: dashboard\n    rules:\n${filled.map((e, i) => `      - record: dashboard:panel_expr_${i}\n        expr: ${JSON.stringify(e)}\n`).join('')}`);
    const result = await run('promtool', ['check', 'rules', rules]);
    expect(result.stdout).toContain(`SUCCESS: ${filled.length} rules found`);
    expect(result.code).toBe(0);
    const names = new Set(served.match(/^image_evictor_[a-z_]+/gm));
    for (const name of exprs.join('\n').match(/image_evictor_[a-z_]+/g) ?? []) expect(names).toContain(name);
    // What the issue asks the dashboard to show, each in some panel.
    for (const metric of ['free_bytes', 'low_free_bytes', 'target_free_bytes', 'evictions_total', 'reclaimed_bytes_total', 'protected_images', 'check_duration_seconds_bucket', 'docker_reachable']) {
      expect(exprs.some((e) => e.includes(`image_evictor_${metric}`))).toBe(true);
    }
  });

  test('the emergency alert fires on an emergency eviction the gauge showed for one scrape only; the registry\'s pushes alert where a day\'s pushes outgrow registry-low-free (promtool test rules)', async () => {
    for (const file of ['alerts.test.yml', 'registry-alerts.test.yml']) {
      const result = await run('promtool', ['test', 'rules', join(ROOT, 'systemd', file)]);
      expect(result.stdout + result.stderr).toContain('SUCCESS');
      expect(result.code).toBe(0);
    }
  });
});
