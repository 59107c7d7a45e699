// Where tests put what they make. test/run.sh gives each run one root (IE_TEST_ROOT) and removes
// it afterwards with test/cleanup.sh, also when a test fails or the run is interrupted: it stops
// the processes recorded here by PID and unmounts what is mounted below the root.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The run's root: IE_TEST_ROOT under test/run.sh, else the system's temporary directory. */
export function testRoot(): string {
  return process.env.IE_TEST_ROOT ?? tmpdir();
}

/** A new directory `ie-<label>-…` under the run's root; its maker removes it. */
export function makeTestDir(label: string): string {
  return mkdtempSync(join(testRoot(), `ie-${label}-`));
}

/**
 * A directory for one test file, removed after the file's tests. Call it at a test file's top
 * level: jest registers the removal there.
 */
export function fileTestDir(label: string): string {
  // The harness also compiles for bench/, without jest's types: reach the hook through globalThis.
  const hooks = globalThis as { beforeAll?: (fn: () => void) => void; afterAll?: (fn: () => void) => void };
  if (hooks.beforeAll === undefined || hooks.afterAll === undefined) throw new Error('fileTestDir is for test files run by jest');
  // Made in beforeAll, not now: jest runs neither hook in a file whose tests a name filter (-t)
  // skipped all of, and a directory made here would then be left behind.
  const dir = join(testRoot(), `ie-${label}-${randomBytes(6).toString('hex')}`);
  hooks.beforeAll(() => mkdirSync(dir, { recursive: true }));
  hooks.afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function pidFile(pid: number): string | undefined {
  const root = process.env.IE_TEST_ROOT;
  return root === undefined ? undefined : join(root, 'pids', String(pid));
}

/** Records a long-running process the test run started, so an interrupted run can stop it. */
export function trackPid(pid: number, what: string): void {
  const file = pidFile(pid);
  if (file === undefined) return;
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, `${what}\n`);
}

/** The process was stopped by the test that started it. */
export function untrackPid(pid: number): void {
  const file = pidFile(pid);
  if (file !== undefined) rmSync(file, { force: true });
}
