// A local Docker registry (Debian's docker-registry) on 127.0.0.1 for real pushes and pulls.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { run, runOk, stopPid, waitFor } from './proc';
import { makeTestDir, trackPid, untrackPid } from './tmp';

export interface Registry {
  /** host:port, usable in image references. */
  address: string;
  /** Its storage directory (`storage.filesystem.rootdirectory`). */
  dataDir: string;
  /** Its config file, for `docker-registry garbage-collect`. */
  configFile: string;
  /**
   * A shell script that restarts it (stopped by PID) in the mode IMAGE_EVICTOR_REGISTRY_MODE says:
   * `readonly` sets storage.maintenance.readonly by its env override. For `registry gc --restart-command`.
   */
  restartScript: string;
  /** The PID of the registry process running now (a restart changes it). */
  currentPid(): number;
  pid: number;
  workDir: string;
  /** The registry's output: errors, and with `accessLog` one line per request. */
  logFile: string;
  stop(): Promise<void>;
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface RegistryOptions {
  /** Log each request with its bytes. */
  accessLog?: boolean;
  /** Post notifications here (`notifications.endpoints`), with this bearer token when given. */
  notify?: { url: string; token?: string };
  /** `storage.delete.enabled`; default true. */
  deleteEnabled?: boolean;
  /** Keep its storage on a loop-mounted ext4 of this size: free space no other test moves. */
  diskBytes?: number;
}

/** Starts the registry and waits until its /v2/ endpoint answers. */
export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const workDir = makeTestDir('registry');
  const dataDir = join(workDir, 'data');
  mkdirSync(dataDir);
  if (options.diskBytes !== undefined) {
    const image = join(workDir, 'disk.img');
    await runOk('truncate', ['-s', String(options.diskBytes), image]);
    await runOk('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
    await runOk('mount', ['-o', 'loop', image, dataDir]);
  }
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const config = join(workDir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      `    disabled: ${options.accessLog === true ? 'false' : 'true'}`,
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${dataDir}`,
      '  delete:',
      `    enabled: ${options.deleteEnabled === false ? 'false' : 'true'}`,
      'http:',
      `  addr: ${address}`,
      ...(options.notify === undefined
        ? []
        : [
            'notifications:',
            '  endpoints:',
            '    - name: image-evictor',
            `      url: ${options.notify.url}`,
            ...(options.notify.token === undefined ? [] : ['      headers:', `        Authorization: [Bearer ${options.notify.token}]`]),
            '      timeout: 5s',
            '      threshold: 3',
            '      backoff: 1s',
          ]),
      '',
    ].join('\n'),
  );
  const logFile = join(workDir, 'registry.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error('docker-registry could not be spawned');
  trackPid(pid, 'docker-registry');
  const pidFile = join(workDir, 'registry.pid');
  writeFileSync(pidFile, `${pid}\n`);
  const currentPid = () => Number(readFileSync(pidFile, 'utf8').trim());
  const restartScript = join(workDir, 'restart.sh');
  const pids = process.env.IE_TEST_ROOT === undefined ? '' : join(process.env.IE_TEST_ROOT, 'pids');
  writeFileSync(
    restartScript,
    [
      '#!/bin/sh',
      '# Restarts the test registry in the mode IMAGE_EVICTOR_REGISTRY_MODE names (readonly or normal).',
      'set -eu',
      `old=$(cat '${pidFile}')`,
      'kill "$old" 2>/dev/null || true',
      'i=0; while kill -0 "$old" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done',
      ...(pids === '' ? [] : [`rm -f '${pids}'/"$old"`]),
      'if [ "${IMAGE_EVICTOR_REGISTRY_MODE:-normal}" = readonly ]; then export REGISTRY_STORAGE_MAINTENANCE_READONLY=\'{"enabled": true}\'; else unset REGISTRY_STORAGE_MAINTENANCE_READONLY; fi',
      `setsid docker-registry serve '${config}' >> '${logFile}' 2>&1 < /dev/null &`,
      `echo $! > '${pidFile}'`,
      ...(pids === '' ? [] : [`mkdir -p '${pids}' && echo docker-registry > '${pids}'/$!`]),
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const stop = async () => {
    const running = currentPid();
    await stopPid(running);
    untrackPid(running);
    if (options.diskBytes !== undefined) await run('umount', [dataDir]);
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    await waitFor('the registry to answer', async () => ((await fetch(`http://${address}/v2/`)).ok ? true : undefined), 30_000);
  } catch (error) {
    const log = readFileSync(logFile, 'utf8').slice(-3000);
    await stop();
    throw new Error(`local registry failed to start: ${String(error)}\n--- registry log ---\n${log}`);
  }
  return { address, dataDir, configFile: config, restartScript, currentPid, pid, workDir, logFile, stop };
}
