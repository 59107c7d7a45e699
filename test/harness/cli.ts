// Runs image-evictor as a real process, the way operators and systemd do.
import { spawn, type ChildProcess } from 'node:child_process';
import { basename, join } from 'node:path';
import { run, waitFor, type Ran } from './proc';
import { trackPid, untrackPid } from './tmp';

// Tests run this file from source; bench/ runs it compiled, from dist/test/harness.
const REPO_ROOT = basename(join(__dirname, '..', '..')) === 'dist' ? join(__dirname, '..', '..', '..') : join(__dirname, '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'agent', 'cli', 'main.js');

/** Environment for the CLI: no inherited IMAGE_EVICTOR_* or DOCKER_HOST, plus `extra`. */
function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('IMAGE_EVICTOR_') && key !== 'DOCKER_HOST'),
  );
  return { ...base, ...extra };
}

/** Runs a one-shot command to completion. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return run(process.execPath, [CLI, ...args], { env: cliEnv(env) });
}

/** How long a test waits for a log line unless it says otherwise: generous, since a loaded machine is slow. */
const LOG_DEADLINE_MS = 60_000;

export type LogLine = Record<string, unknown> & { message: string };

export interface AgentProcess {
  child: ChildProcess;
  logs: LogLine[];
  stderr: string[];
  /** Waits for a log line with this message (and matching `where`), returning it. */
  waitForLog(message: string, where?: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** The same, among the lines logged after the first `mark` lines (`mark` = logs.length earlier). */
  waitForLogAfter(mark: number, message: string, where?: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Calls `act` as soon as a line with this message is read, before any await can delay it. */
  onLog(message: string, act: (line: LogLine) => void): void;
  /** SIGTERM, then resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Agents started by this test file and not yet exited. */
const running = new Set<AgentProcess>();

// A test that fails half-way must not leave its agents running: jest would wait for them forever.
// The harness also runs compiled, outside jest (bench/), where there is no afterAll.
const jestAfterAll = (globalThis as { afterAll?: (fn: () => Promise<unknown>) => void }).afterAll;
jestAfterAll?.(() => Promise.all([...running].map((agent) => agent.stop())));

/** Starts `image-evictor [args] run [runArgs]` with JSON logs captured line by line. */
export function startAgent(args: string[], runArgs: string[] = [], env: NodeJS.ProcessEnv = {}): AgentProcess {
  return startService([...args, 'run', ...runArgs], env);
}

/** Starts a long-running command (`run`, `registry listen`) with its JSON logs captured line by line. */
/** `entry`: the script to run, this checkout's build unless given (an installed package's, say). */
export function startService(args: string[], env: NodeJS.ProcessEnv = {}, entry: string = CLI): AgentProcess {
  const child = spawn(process.execPath, [entry, ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid !== undefined) trackPid(child.pid, 'image-evictor');
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  const triggers: Array<{ message: string; act: (line: LogLine) => void }> = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const text of lines) {
      if (!text.trim()) continue;
      const line = JSON.parse(text) as LogLine;
      logs.push(line);
      for (const trigger of triggers) if (trigger.message === line.message) trigger.act(line);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      if (child.pid !== undefined) untrackPid(child.pid);
      running.delete(agent);
      resolve(code);
    }),
  );
  const waitForLogAfter = async (mark: number, message: string, where: (line: LogLine) => boolean = () => true, timeoutMs = LOG_DEADLINE_MS) => {
    try {
      return await waitFor(`log '${message}'`, () => logs.slice(mark).find((l) => l.message === message && where(l)), timeoutMs);
    } catch (error) {
      // What the agent did instead is what a failure report needs.
      const recent = logs.slice(Math.max(mark, logs.length - 12)).map((l) => JSON.stringify(l)).join('\n');
      throw new Error(`${String(error)}\nlast log lines after the mark:\n${recent}\nstderr: ${stderr.join('').slice(-500)}`);
    }
  };
  const agent: AgentProcess = {
    child,
    logs,
    stderr,
    waitForLog: (message, where, timeoutMs) => waitForLogAfter(0, message, where, timeoutMs),
    waitForLogAfter,
    onLog: (message, act) => triggers.push({ message, act }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        // A paused agent (SIGSTOP) would hold SIGTERM until it runs again.
        child.kill('SIGCONT');
      }
      return exited;
    },
  };
  running.add(agent);
  return agent;
}
