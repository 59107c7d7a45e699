// Process helpers for the test harness: run a command, wait with a deadline, stop by PID.
import { execFile, type ExecFileOptions } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without a shell; never rejects on a non-zero exit. */
export function run(file: string, args: string[], options: ExecFileOptions = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', ...options }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Runs a command and throws with its output when it fails. */
export async function runOk(file: string, args: string[], options: ExecFileOptions = {}): Promise<string> {
  const result = await run(file, args, options);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited ${result.code}\n${result.stderr}\n${result.stdout}`);
  }
  return result.stdout;
}

/** Polls `probe` until it returns a value other than undefined; fails with `what` after the deadline. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

/** True while a process with this PID exists and has not exited (a zombie waiting for its reaper has). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) S ...": the state follows the last parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Stops a process by PID: SIGTERM, then SIGKILL after `graceMs`. Resolves once it is gone. */
export async function stopPid(pid: number, graceMs = 15_000): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await sleep(50);
  }
}
