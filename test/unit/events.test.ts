import { createHash } from 'node:crypto';
import { chainIds, connectionOptions, isTracked, pairLayerSizes, parseEventLine, sinceParam } from '../../agent/docker/client';
import { parseListen } from '../../agent/listen';
import { eventTimeMs, type DockerEvent } from '../../agent/core/image';
import { ingest } from '../../agent/tracking/events';
import type { Tracker } from '../../agent/tracking/tracker';

const pullLine =
  '{"status":"pull","id":"127.0.0.1:5055/t1:latest","Type":"image","Action":"pull","Actor":{"ID":"127.0.0.1:5055/t1:latest","Attributes":{"name":"127.0.0.1:5055/t1"}},"scope":"local","time":1795432835,"timeNano":1795432835504768459}';

describe('parseEventLine', () => {
  it('keeps timeNano exact, beyond what a double holds', () => {
    const event = parseEventLine(pullLine);
    expect(event).toEqual({
      type: 'image',
      action: 'pull',
      actorId: '127.0.0.1:5055/t1:latest',
      attributes: { name: '127.0.0.1:5055/t1' },
      timeNano: '1795432835504768459',
    });
    expect(eventTimeMs(event!)).toBe(1795432835504);
  });

  it("takes a Podman pull's reference as its actor (Podman sends an empty Actor.ID)", () => {
    const podmanPull = '{"status":"pull","Type":"image","Action":"pull","Actor":{"ID":"","Attributes":{"containerExitCode":"0","image":"","name":"127.0.0.1:5999/pod/a:v1","podId":""}},"scope":"local","time":1795505082,"timeNano":1795505082641514489}';
    expect(parseEventLine(podmanPull)).toMatchObject({ type: 'image', action: 'pull', actorId: '127.0.0.1:5999/pod/a:v1', timeNano: '1795505082641514489' });
    // A container event keeps its (empty) ID: a name is not a container ID.
    expect(parseEventLine('{"Type":"container","Action":"create","Actor":{"ID":"","Attributes":{"name":"c1"}},"timeNano":1}')?.actorId).toBe('');
  });

  it('the stream is filtered here, not by the engine (Podman 4.3 answers a bounded query with filters with nothing): pulls and creates pass, execs do not', () => {
    const line = (type: string, action: string) => parseEventLine(`{"Type":"${type}","Action":"${action}","Actor":{"ID":"x","Attributes":{}},"timeNano":1}`);
    expect([line('image', 'pull'), line('container', 'create'), line('container', 'start'), line('image', 'delete')].map((e) => e !== null && isTracked(e))).toEqual([true, true, true, true]);
    expect([line('container', 'exec_start: sh'), line('container', 'die'), line('container', 'attach')].map((e) => e !== null && isTracked(e))).toEqual([false, false, false]);
  });

  it('accepts events without attributes', () => {
    expect(parseEventLine('{"Type":"image","Action":"delete","Actor":{"ID":"sha256:ab"},"timeNano":1}')?.attributes).toEqual({});
  });

  it.each([
    ['not json', 'hello'],
    ['other type', '{"Type":"network","Action":"connect","Actor":{"ID":"x"},"timeNano":1}'],
    ['no time', '{"Type":"image","Action":"pull","Actor":{"ID":"x"}}'],
    ['actor not an object', '{"Type":"image","Action":"pull","Actor":"x","timeNano":1}'],
    ['attribute not a string', '{"Type":"image","Action":"pull","Actor":{"ID":"x","Attributes":{"a":{}}},"timeNano":1}'],
    ['empty', ''],
  ])('returns null for %s', (_name, line) => expect(parseEventLine(line)).toBeNull());
});

describe('docker connection', () => {
  it('formats since with nanoseconds', () => {
    expect(sinceParam('1795432835504768459')).toBe('1795432835.504768459');
    expect(sinceParam('1795432835000000001')).toBe('1795432835.000000001');
  });

  it.each([
    ['unix:///var/run/docker.sock', { socketPath: '/var/run/docker.sock' }],
    ['tcp://127.0.0.1:2375', { host: '127.0.0.1', port: 2375, protocol: 'http' }],
  ])('%s', (host, options) => expect(connectionOptions(host)).toEqual(options));

  it('refuses unknown schemes with the host named', () => {
    expect(() => connectionOptions('ssh://runner')).toThrow(/ssh:\/\/runner.*unsupported scheme/);
  });
});

describe('layers', () => {
  it('chain IDs: the first is the diff ID, each next hashes the previous with its own', () => {
    const chain = chainIds(['sha256:a', 'sha256:b']);
    expect(chain[0]).toBe('sha256:a');
    expect(chain[1]).toBe(`sha256:${createHash('sha256').update('sha256:a sha256:b').digest('hex')}`);
  });

  it('pairs history sizes with layers in order, skipping steps that made no layer', () => {
    // Oldest first: COPY busybox, ENV (no layer), COPY data, CMD (no layer).
    expect(pairLayerSizes(['sha256:a', 'sha256:b'], [1_000, 0, 5_000, 0]).map((l) => l.sizeBytes)).toEqual([1_000, 5_000]);
  });

  it('two images on one base share the base chain IDs', () => {
    const one = pairLayerSizes(['sha256:base', 'sha256:x'], [10, 1]);
    const two = pairLayerSizes(['sha256:base', 'sha256:y'], [10, 2]);
    expect(one[0]?.chainId).toBe(two[0]?.chainId);
    expect(one[1]?.chainId).not.toBe(two[1]?.chainId);
  });
});

describe('metrics listen address', () => {
  it.each([
    ['9707', { host: '127.0.0.1', port: 9707 }],
    [':9707', { host: '127.0.0.1', port: 9707 }],
    ['0.0.0.0:9707', { host: '0.0.0.0', port: 9707 }],
    ['[::1]:9707', { host: '::1', port: 9707 }],
  ])('%s', (listen, expected) => expect(parseListen(listen)).toEqual(expected));

  it('refuses anything else', () => expect(() => parseListen('localhost')).toThrow(/invalid listen address/));
});

describe('ingest', () => {
  const event = (n: number): DockerEvent => ({ type: 'image', action: 'tag', actorId: `sha256:${n}`, attributes: {}, timeNano: String(n) });

  /** A tracker whose applies finish out of order, as overlapping Docker lookups do. */
  function slowTracker(fail?: number) {
    let inFlight = 0;
    const seen = { maxInFlight: 0, started: [] as number[] };
    const tracker = {
      applyEvent: async (e: DockerEvent) => {
        const n = Number(e.timeNano);
        seen.started.push(n);
        inFlight += 1;
        seen.maxInFlight = Math.max(seen.maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, (n * 7) % 5));
        inFlight -= 1;
        if (n === fail) throw new Error(`apply ${n} failed`);
        return n % 2 === 0;
      },
    } as unknown as Tracker;
    return { tracker, seen };
  }

  it('overlaps applies up to its window and reports each new event', async () => {
    const { tracker, seen } = slowTracker();
    const reported: number[] = [];
    await ingest(tracker, Array.from({ length: 100 }, (_, i) => event(i)), (e) => reported.push(Number(e.timeNano)));
    expect(seen.started).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(seen.maxInFlight).toBeGreaterThan(1);
    expect(seen.maxInFlight).toBeLessThanOrEqual(32);
    expect(reported.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i));
  });

  it('rejects with the first failure and stops reading', async () => {
    const { tracker, seen } = slowTracker(10);
    await expect(ingest(tracker, Array.from({ length: 1000 }, (_, i) => event(i)))).rejects.toThrow('apply 10 failed');
    expect(seen.started.length).toBeLessThan(1000);
  });
});
