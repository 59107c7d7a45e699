// Binding an HTTP server to an operator's listen setting: the metrics endpoint and the registry
// notification receiver share the address syntax and the error an operator sees.
import type { Server } from 'node:http';
import { ConfigError } from './errors';

/** `9707` or `:9707` mean loopback; `0.0.0.0:9707` or `[::]:9707` must be written out to listen wider. */
export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:(?:\[([^\]]+)\]|([^:[\]]*)):)?(\d+)$/.exec(listen.trim());
  if (!match) throw new Error(`invalid listen address '${listen}' (expected e.g. 9707, 127.0.0.1:9707, [::1]:9707)`);
  const host = match[1] ?? match[2] ?? '';
  return { host: host === '' ? '127.0.0.1' : host, port: Number(match[3]) };
}

/** Listens on `listen`; an address taken or not of this host is the setting `key`'s error (exit 2). */
export async function listenOn(server: Server, listen: string, key: string): Promise<string> {
  const { host, port } = parseListen(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'is already in use by another process' : error.code === 'EADDRNOTAVAIL' ? 'is not an address of this host' : `cannot be listened on (${error.code ?? error.message})`;
      reject(new ConfigError('configuration', `${host}:${port} ${why}`, key));
    });
    server.listen(port, host, resolve);
  });
  const bound = server.address();
  const shown = host.includes(':') ? `[${host}]` : host;
  return typeof bound === 'object' && bound !== null ? `${shown}:${bound.port}` : `${shown}:${port}`;
}
