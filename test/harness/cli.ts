// Runs image-evictor as a real process, the way operators and systemd do.
import { spawn, type ChildProcess } from 'node:child_process';
import { basename, join } from 'node:path';
import { run, waitFor, type Ran } from './proc';

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

export type LogLine = Record<string, unknown> & { message: string };

export interface AgentProcess {
  child: ChildProcess;
  logs: LogLine[];
  stderr: string[];
  /** Waits for a log line with this message (and matching `where`), returning it. */
  waitForLog(message: string, where?: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM, then resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `image-evictor [args] run [runArgs]` with JSON logs captured line by line. */
export function startAgent(args: string[], runArgs: string[] = [], env: NodeJS.ProcessEnv = {}): AgentProcess {
  const child = spawn(process.execPath, [CLI, ...args, 'run', ...runArgs], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    stderr,
    waitForLog: (message, where = () => true, timeoutMs = 30_000) =>
      waitFor(`log '${message}' (stderr: ${stderr.join('').slice(-500)})`, () => logs.find((l) => l.message === message && where(l)), timeoutMs),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
