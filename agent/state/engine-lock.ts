// One agent per Docker engine, whatever state file each was given: a lock keyed by the engine's
// identity (ID and data root, see DockerClient.engineId), hashed to fit a socket name.
// It is an abstract unix socket (Linux): host-wide within the network namespace, released by the
// kernel when the process dies, and no file to leave behind or to make writable under systemd's
// ProtectSystem=strict.
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { LockHeldError, type Lock } from './lock';

/** The lock's name, as `ss -xl` shows it. */
export function engineLockName(engineId: string): string {
  // An abstract socket name has at most 107 bytes; a data root path may be longer.
  return `@image-evictor/engine/${createHash('sha256').update(engineId).digest('hex').slice(0, 32)}`;
}

/** Takes the engine's lock, or throws LockHeldError when another agent holds it. */
export async function lockEngine(engineId: string): Promise<Lock> {
  const name = engineLockName(engineId);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? new LockHeldError(`${name} (engine ${engineId})`) : error));
    server.listen({ path: `\0${name.slice(1)}` }, resolve);
  });
  // Nobody connects; the socket only has to exist. It must not keep the process alive.
  server.unref();
  return { path: name, release: () => void server.close() };
}
