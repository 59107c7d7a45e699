// A private Podman service speaking the Docker API (`podman system service`), for one test file:
// its graph root on a loop-mounted ext4 of a chosen size (real disk pressure, as for dockerd), every
// other path of its own under the test directory, the test registry allowed over plain HTTP.
// Started and stopped by PID.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, runOk, stopPid, waitFor } from './proc';
import { makeTestDir, trackPid, untrackPid } from './tmp';

export interface PodmanService {
  /** unix:///... for --docker-host. */
  host: string;
  /** Its graph root: what /info calls DockerRootDir, on its own filesystem. */
  graphRoot: string;
  pid: number;
  /** Calls the Docker-compatible API over the socket; returns status and body. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

export async function startPodman(options: { diskBytes: number; label: string; insecureRegistries: string[] }): Promise<PodmanService> {
  const workDir = makeTestDir(options.label);
  const graphRoot = join(workDir, 'root');
  mkdirSync(graphRoot);
  const image = join(workDir, 'disk.img');
  await runOk('truncate', ['-s', String(options.diskBytes), image]);
  await runOk('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
  await runOk('mount', ['-o', 'loop', image, graphRoot]);
  for (const dir of ['runroot', 'tmp', 'volumes', 'networks', 'xdg']) mkdirSync(join(workDir, dir));
  // CNI, not netavark: netavark makes /run/containers/networks at startup, outside the test's directory.
  const containersConf = join(workDir, 'containers.conf');
  writeFileSync(containersConf, `[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "${join(workDir, 'networks')}"\n`);
  const registries = join(workDir, 'registries.conf');
  writeFileSync(registries, options.insecureRegistries.map((r) => `[[registry]]\nlocation = "${r}"\ninsecure = true\n`).join('\n'));
  const socket = join(workDir, 'podman.sock');
  const logFile = join(workDir, 'podman.log');
  const logFd = openSync(logFile, 'a');
  // vfs: no overlay mounts to leak; cgroupfs and file events: no systemd or journald needed.
  const args = [
    '--root', graphRoot, '--runroot', join(workDir, 'runroot'), '--tmpdir', join(workDir, 'tmp'), '--volumepath', join(workDir, 'volumes'),
    '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
    'system', 'service', '--time=0', `unix://${socket}`,
  ];
  const child = spawn('podman', args, {
    stdio: ['ignore', logFd, logFd],
    env: { PATH: process.env.PATH, HOME: workDir, XDG_RUNTIME_DIR: join(workDir, 'xdg'), CONTAINERS_CONF: containersConf, CONTAINERS_REGISTRIES_CONF: registries, REGISTRY_AUTH_FILE: join(workDir, 'auth.json') },
  });
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error('podman could not be spawned');
  trackPid(pid, 'podman');
  const api = async (method: string, path: string, body?: unknown) => {
    const { request } = await import('node:http');
    return new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ socketPath: socket, path, method, headers: body === undefined ? {} : { 'Content-Type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  };
  const stop = async () => {
    await stopPid(pid);
    untrackPid(pid);
    await run('umount', [graphRoot]);
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    await waitFor('podman to answer', async () => ((await api('GET', '/_ping').catch(() => ({ status: 0 }))).status === 200 ? true : undefined), 60_000);
  } catch (error) {
    const log = readFileSync(logFile, 'utf8').slice(-3000);
    await stop();
    throw new Error(`podman service failed to start: ${String(error)}\n--- podman log ---\n${log}`);
  }
  return { host: `unix://${socket}`, graphRoot, pid, api, stop };
}
