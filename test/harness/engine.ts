// A private Docker engine for one test file: its own dockerd, sockets and data root on a
// loop-mounted ext4 of a chosen size, so disk pressure is real. Started and stopped by PID.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, runOk, stopPid, waitFor } from './proc';
import { makeTestDir, trackPid, untrackPid } from './tmp';

/** The docker CLI from Debian's docker.io, matching the daemon it drives. */
export const DOCKER_CLI = '/usr/bin/docker';

export interface Engine {
  /** unix:///... for DOCKER_HOST and --docker-host. */
  host: string;
  dataRoot: string;
  workDir: string;
  readonly pid: number;
  /** Runs the docker CLI against this engine; throws on failure. */
  docker(args: string[]): Promise<string>;
  /** Stops dockerd (by PID) and starts it again on the same data root, running `whileStopped` in between. */
  restart(whileStopped?: () => void): Promise<void>;
  stop(): Promise<void>;
}

export interface EngineOptions {
  /** Size of the ext4 filesystem holding the data root. */
  diskBytes: number;
  label: string;
}

/** Environment for the docker CLI: this engine, no user config, the classic builder. */
export function dockerEnv(host: string, workDir: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: workDir, DOCKER_HOST: host, DOCKER_CONFIG: join(workDir, 'cli'), DOCKER_BUILDKIT: '0' };
}

/** Starts dockerd on a fresh loop-mounted ext4; throws loudly (with the daemon's log) if it cannot. */
export async function startEngine(options: EngineOptions): Promise<Engine> {
  // Short paths: unix socket paths are limited to 108 bytes.
  const workDir = makeTestDir(options.label);
  const dataRoot = join(workDir, 'data');
  const execRoot = join(workDir, 'exec');
  const image = join(workDir, 'disk.img');
  mkdirSync(dataRoot);
  mkdirSync(execRoot);
  mkdirSync(join(workDir, 'tmp'));
  await runOk('truncate', ['-s', String(options.diskBytes), image]);
  // No reserved blocks: free space seen by root and by statfs' bavail is the same.
  await runOk('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
  await runOk('mount', ['-o', 'loop', image, dataRoot]);
  writeFileSync(join(workDir, 'daemon.json'), '{}');
  const host = `unix://${join(workDir, 'docker.sock')}`;
  const env = dockerEnv(host, workDir);
  const docker = (args: string[]) => runOk(DOCKER_CLI, args, { env });
  let pid: number;
  try {
    pid = await spawnDaemon(workDir, env);
  } catch (error) {
    await cleanup(undefined, dataRoot, workDir);
    throw error;
  }
  return {
    host,
    dataRoot,
    workDir,
    get pid() {
      return pid;
    },
    docker,
    restart: async (whileStopped) => {
      await stopDaemon(pid);
      whileStopped?.();
      pid = await spawnDaemon(workDir, env);
    },
    stop: () => cleanup(pid, dataRoot, workDir),
  };
}

/** Starts dockerd for `workDir` and waits until it answers; throws with its log if it does not. */
async function spawnDaemon(workDir: string, env: NodeJS.ProcessEnv): Promise<number> {
  const logFile = join(workDir, 'dockerd.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn(
    'dockerd',
    [
      '--config-file', join(workDir, 'daemon.json'),
      '--data-root', join(workDir, 'data'),
      '--exec-root', join(workDir, 'exec'),
      '-H', `unix://${join(workDir, 'docker.sock')}`,
      '--pidfile', join(workDir, 'docker.pid'),
      '--bridge=none',
      '--iptables=false',
      '--ip-masq=false',
      '--userland-proxy=false',
    ],
    // dockerd kills a containerd that stops answering its health checks (under load) after a
    // SIGUSR1, on which containerd writes its stacks to TMPDIR: /tmp unless set, where they outlived the run.
    { stdio: ['ignore', logFd, logFd], env: { ...process.env, TMPDIR: join(workDir, 'tmp') } },
  );
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error('dockerd could not be spawned');
  trackPid(pid, 'dockerd');
  try {
    await waitFor('dockerd to answer', async () => ((await run(DOCKER_CLI, ['version'], { env })).code === 0 ? true : undefined), 60_000);
  } catch (error) {
    await stopDaemon(pid);
    throw new Error(`private dockerd failed to start: ${String(error)}\n--- dockerd log ---\n${readFileSync(logFile, 'utf8').slice(-4000)}`);
  }
  return pid;
}

async function stopDaemon(pid: number): Promise<void> {
  await stopPid(pid, 20_000);
  untrackPid(pid);
}

async function cleanup(pid: number | undefined, dataRoot: string, workDir: string): Promise<void> {
  if (pid !== undefined) await stopDaemon(pid);
  // The kernel may hold the mount briefly after containerd exits.
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const result = await run('umount', [dataRoot]);
    if (result.code === 0 || /not mounted/.test(result.stderr)) break;
    await sleep(250);
  }
  rmSync(workDir, { recursive: true, force: true });
}

/**
 * Moves the start and finish times of stopped containers `byMs` into the past, in the files the
 * engine keeps them in (Docker offers no API for it). Only while dockerd is stopped: call it from
 * `restart`. Tests of grace periods need "finished long ago" without waiting for it.
 */
export function backdateContainers(dataRoot: string, containerIds: string[], byMs: number): void {
  const earlier = (iso: string) => new Date(Date.parse(iso) - byMs).toISOString();
  for (const id of containerIds) {
    const file = join(dataRoot, 'containers', id, 'config.v2.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as { State: { StartedAt: string; FinishedAt: string; Running: boolean } };
    if (config.State.Running) throw new Error(`backdateContainers: container ${id} is running`);
    config.State.StartedAt = earlier(config.State.StartedAt);
    config.State.FinishedAt = earlier(config.State.FinishedAt);
    writeFileSync(file, JSON.stringify(config));
  }
}
