import { connectionOptions, parseEventLine, sinceParam } from '../../agent/docker/client';
import { eventTimeMs } from '../../agent/core/image';

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
