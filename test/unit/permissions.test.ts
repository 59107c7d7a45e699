// What the agent leaves on disk is private, and it never starts a program of its own.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { silentLog } from '../../agent/log';
import { acquireLock } from '../../agent/state/lock';
import { openStore } from '../../agent/state/store';
import { fileTestDir } from '../harness/tmp';
import { T0 } from './fixtures';

const dir = fileTestDir('perm');

it('state DB and lock files are created 0600', () => {
  const { store } = openStore(join(dir, 'state.db'), silentLog, T0);
  const lock = acquireLock(join(dir, 'state.db.run.lock'), 0);
  try {
    for (const file of ['state.db', 'state.db.run.lock']) expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
  } finally {
    lock.release();
    store.close();
  }
});

it('no agent module starts processes or shells, but registry gc, which only its command module imports, and the replays of auto in a child of this same program; threads only for simulate', () => {
  const sources: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (path.endsWith('.ts')) sources.push(path);
    }
  };
  walk(join(__dirname, '..', '..', 'agent'));
  expect(sources.length).toBeGreaterThan(20);
  const using = (module: RegExp) => sources.filter((file) => module.test(readFileSync(file, 'utf8'))).map((f) => f.slice(f.indexOf('agent/')));
  // `registry gc` must run garbage-collect and restart the registry: the operator's commands.
  expect(using(/child_process/).sort()).toEqual(['agent/eviction/learn-process.ts', 'agent/registry/gc.ts']);
  // auto's replays: a fork of this program's own learn-child.js, never another program or a shell.
  const learnProcess = readFileSync(join(__dirname, '..', '..', 'agent', 'eviction', 'learn-process.ts'), 'utf8');
  expect(learnProcess.match(/^import .* from 'node:child_process';$/m)?.[0]).toBe("import { fork } from 'node:child_process';");
  expect(learnProcess.match(/fork\(join\(__dirname, '([^']+)'\)/)?.[1]).toBe('learn-child.js');
  // Threads of this same program, for `simulate`'s replays only: never in the long-running agent.
  expect(using(/worker_threads/).sort()).toEqual(['agent/cli/replay-threads.ts', 'agent/cli/replay-worker.ts']);
  expect(using(/^import \{[^}]*\} from '\.\/replay-threads'/m)).toEqual(['agent/cli/simulate.ts']);
  const importsGc = (file: string) => {
    const text = readFileSync(file, 'utf8');
    return /from '\.\.\/registry\/gc'/.test(text) || (file.includes('/agent/registry/') && /from '\.\/gc'/.test(text));
  };
  const importers = sources.filter(importsGc);
  expect(importers.map((f) => f.slice(f.indexOf('agent/')))).toEqual(['agent/cli/registry-gc.ts']);
});
