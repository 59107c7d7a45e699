// `registry listen`: the receiver for a Distribution registry's `notifications.endpoints`. It
// records manifest pushes, pulls and deletes, each event once, in the state database.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { NOTIFICATION_MEDIA_TYPES, NotificationEnvelope, recordableEvents, type EventFilter, type SkipReason } from '../core/registry';
import { errorText } from '../errors';
import { listenOn } from '../listen';
import type { Log } from '../log';
import type { RegistryStore } from '../state/registry-store';
import { USER_AGENT } from './client';

/** Larger bodies are refused (413): the registry sends a few events per envelope. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface ListenerCounts {
  envelopes: number;
  recorded: number;
  duplicates: number;
  skipped: Record<SkipReason, number>;
  rejected: number;
}

export interface Listener {
  /** The address it listens on, host:port. */
  address: string;
  counts: ListenerCounts;
  close(): Promise<void>;
}

export interface ListenerDeps {
  /** host:port or a port (loopback). */
  listen: string;
  /** Bearer token the registry must send (its endpoint `headers`); null: none. */
  token: string | null;
  store: RegistryStore;
  filter: EventFilter;
  log: Log;
}

class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      reject(new HttpRefusal(413, `body of ${declared} bytes is over ${MAX_BODY_BYTES}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpRefusal(413, `body over ${MAX_BODY_BYTES} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function authorized(header: string | undefined, token: string | null): boolean {
  if (token === null) return true;
  const expected = Buffer.from(`Bearer ${token}`);
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Whether a bound host:port is reachable from this host only. */
export function isLoopback(address: string): boolean {
  return /^(127\.|\[::1\]:|localhost:)/.test(address);
}

export async function startListener(deps: ListenerDeps): Promise<Listener> {
  const { store, log } = deps;
  // Our own crawl (sync, the HEAD before a delete) must never count as demand.
  const filter: EventFilter = { ignoreUserAgents: [USER_AGENT.split('/')[0] as string, ...deps.filter.ignoreUserAgents] };
  const counts: ListenerCounts = { envelopes: 0, recorded: 0, duplicates: 0, skipped: { blob: 0, 'user-agent': 0, action: 0, incomplete: 0 }, rejected: 0 };

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method === 'GET' && request.url === '/healthz') {
      response.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      return;
    }
    if (request.method !== 'POST') throw new HttpRefusal(405, 'only POST of notification envelopes');
    if (!authorized(request.headers.authorization, deps.token)) throw new HttpRefusal(401, 'missing or wrong bearer token');
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim();
    if (type === undefined || (!NOTIFICATION_MEDIA_TYPES.includes(type) && type !== 'application/json')) {
      throw new HttpRefusal(415, `content type '${type ?? ''}' is not a notification envelope (${NOTIFICATION_MEDIA_TYPES.join(' or ')})`);
    }
    const body = await readBody(request);
    let envelope: NotificationEnvelope;
    try {
      envelope = NotificationEnvelope.parse(JSON.parse(body.toString('utf8')));
    } catch (error) {
      throw new HttpRefusal(400, `not a notification envelope: ${errorText(error).slice(0, 200)}`);
    }
    const { events, skipped } = recordableEvents(envelope, filter);
    let recorded = 0;
    for (const event of events) if (store.applyEvent(event)) recorded += 1;
    counts.envelopes += 1;
    counts.recorded += recorded;
    counts.duplicates += events.length - recorded;
    for (const reason of skipped) counts.skipped[reason] += 1;
    log.debug('registry_events', { events: envelope.events.length, recorded, duplicates: events.length - recorded, ignoredUserAgent: skipped.filter((r) => r === 'user-agent').length, blobs: skipped.filter((r) => r === 'blob').length });
    response.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
  }

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const status = error instanceof HttpRefusal ? error.status : 500;
      counts.rejected += 1;
      const fields = { status, method: request.method ?? '', path: request.url ?? '', from: request.socket.remoteAddress ?? '', error: errorText(error) };
      if (status === 500) log.error('registry_listen_failed', fields);
      else log.warn('registry_listen_refused', fields);
      if (!response.headersSent) response.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close' });
      response.end(`${errorText(error)}\n`);
    });
  });
  const address = await listenOn(server, deps.listen, 'registry-listen');
  log.info('registry_listening', { address, token: deps.token !== null });
  // Anyone who can reach it could fake pulls (keeping images) or pushes: say so when it is open.
  if (deps.token === null && !isLoopback(address)) {
    log.warn('registry_listen_without_token', { address, action: 'set registry-listen-token-file and the endpoint\'s Authorization header' });
  }
  return {
    address,
    counts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
