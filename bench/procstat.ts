// Resident memory and CPU time of a process, from /proc, sampled while a benchmark runs.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

export interface ProcSample {
  atMs: number;
  rssBytes: number;
  /** User plus system CPU time so far. */
  cpuMs: number;
}

/** One sample of `pid`. */
export function sampleProc(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { atMs: performance.now(), rssBytes: rssKiB * 1024, cpuMs: (ticks * 1000) / TICKS_PER_SECOND };
}

export interface ProcWindow {
  medianRssBytes: number;
  peakRssBytes: number;
  /** CPU time over wall time across the window, as a share of one core. */
  cpuShare: number;
  wallMs: number;
}

/** Samples `pid` every `everyMs` until `done` settles; returns the window's figures. */
export async function watchProc(pid: number, everyMs: number, done: Promise<unknown>): Promise<ProcWindow> {
  const samples: ProcSample[] = [sampleProc(pid)];
  let finished = false;
  const ended = done.finally(() => {
    finished = true;
  });
  while (!finished) {
    await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, everyMs))]);
    samples.push(sampleProc(pid));
  }
  await ended;
  const first = samples[0] as ProcSample;
  const last = samples[samples.length - 1] as ProcSample;
  const rss = samples.map((s) => s.rssBytes).sort((a, b) => a - b);
  const wallMs = last.atMs - first.atMs;
  return {
    medianRssBytes: rss[Math.floor(rss.length / 2)] as number,
    peakRssBytes: rss[rss.length - 1] as number,
    cpuShare: wallMs > 0 ? (last.cpuMs - first.cpuMs) / wallMs : 0,
    wallMs,
  };
}
