// The pull model (core/pull-model.ts): what a registry's own pull log says about which images will
// be pulled again, where least recently pulled first is wrong.
import { learnPullModel, pullLog, pullRate, type ModelManifest, type PullRecord } from '../../agent/core/pull-model';
import { busyAndQuietMonth } from '../harness/pull-month';
import { DAY, HOUR, T0 } from './fixtures';

function month(): { manifests: ModelManifest[]; pulls: PullRecord[]; v: Map<string, ModelManifest> } {
  const v = new Map<string, ModelManifest>();
  const pulls: PullRecord[] = [];
  for (const version of busyAndQuietMonth(T0)) {
    const m = { repository: version.repository, digest: `sha256:${version.name}`, pushedMs: version.pushedMs, deletedMs: null, topLevel: true };
    v.set(version.name, m);
    for (const atMs of version.pullsMs) pulls.push({ repository: m.repository, digest: m.digest, atMs });
  }
  return { manifests: [...v.values()], pulls, v };
}

it('says nothing from an empty or too short log', () => {
  const { manifests, pulls } = month();
  expect(learnPullModel(manifests, [], T0)).toBeNull();
  // The last 12 hours of pulls: a couple of samples of each manifest.
  expect(learnPullModel(manifests, pulls.filter((p) => p.atMs > T0 - 12 * HOUR), T0)).toBeNull();
});

it('ranks a quiet repository\'s image above a busy one\'s superseded version, though the quiet one was pulled longer ago', () => {
  const { manifests, pulls, v } = month();
  const model = learnPullModel(manifests, pulls, T0);
  expect(model).not.toBeNull();
  const log = pullLog(manifests, pulls);
  const rate = (name: string) => pullRate(model as NonNullable<typeof model>, log, v.get(name) as ModelManifest, T0);
  const lastPull = (name: string) => Math.max(...pulls.filter((p) => p.digest === `sha256:${name}`).map((p) => p.atMs));
  // Least recently pulled first would take q1 before b7.
  expect(lastPull('q1')).toBeLessThan(lastPull('b7'));
  expect(rate('q1')).toBeGreaterThan(3 * rate('b7'));
  // Every superseded version past its retries is as unlikely; the latest is far likelier.
  for (const old of ['b1', 'b4', 'b6']) {
    expect(rate(old)).toBeLessThan(rate('q1'));
    expect(rate('b8')).toBeGreaterThan(3 * rate(old));
  }
});

it('a deleted version\'s silence counts only while it was there', () => {
  const { manifests, pulls, v } = month();
  // b1-b6 deleted a day after their retries: what was watched still says they were not pulled.
  const cleaned = manifests.map((m) => (['b1', 'b2', 'b3', 'b4', 'b5', 'b6'].some((n) => m.digest === `sha256:${n}`) ? { ...m, deletedMs: m.pushedMs + 6 * DAY } : m));
  const model = learnPullModel(cleaned, pulls, T0) as NonNullable<ReturnType<typeof learnPullModel>>;
  const all = learnPullModel(manifests, pulls, T0) as NonNullable<ReturnType<typeof learnPullModel>>;
  expect(model.exposureMs).toBeLessThan(all.exposureMs);
  const log = pullLog(cleaned, pulls);
  expect(pullRate(model, log, v.get('q1') as ModelManifest, T0)).toBeGreaterThan(3 * pullRate(model, log, v.get('b7') as ModelManifest, T0));
});

it('takes the state\'s last pull over the log\'s (pulls older than the log), and a never-pulled image apart', () => {
  const { manifests, pulls, v } = month();
  const model = learnPullModel(manifests, pulls, T0) as NonNullable<ReturnType<typeof learnPullModel>>;
  const log = pullLog(manifests, pulls);
  const b7 = v.get('b7') as ModelManifest;
  // Pulled an hour ago after all (the state says so): then it is as wanted as anything just pulled.
  expect(pullRate(model, log, b7, T0, T0 - HOUR)).toBeGreaterThan(pullRate(model, log, b7, T0));
  const fresh: ModelManifest = { repository: 'ci/busy', digest: 'sha256:b9', pushedMs: T0 - HOUR, deletedMs: null, topLevel: true };
  expect(pullRate(model, log, fresh, T0, null)).toBeGreaterThan(0);
});
