import { formatAgo } from '../../agent/cli/format';
import { formatBytes, formatDuration, formatRatio, formatShare, parseDuration, parseSize } from '../../agent/core/units';

describe('parseSize', () => {
  it.each([
    ['500MB', { kind: 'bytes', bytes: 500e6 }],
    ['12GiB', { kind: 'bytes', bytes: 12 * 2 ** 30 }],
    ['1.5 gb', { kind: 'bytes', bytes: 1.5e9 }],
    ['1048576B', { kind: 'bytes', bytes: 1048576 }],
    ['0', { kind: 'bytes', bytes: 0 }],
    ['15%', { kind: 'ratio', ratio: 0.15 }],
    ['0.5%', { kind: 'ratio', ratio: 0.005 }],
    ['100%', { kind: 'ratio', ratio: 1 }],
  ])('%s', (text, expected) => expect(parseSize(text)).toEqual(expected));

  it.each([
    ['12XB', /unknown size unit 'XB'/],
    ['', /invalid size/],
    ['-5MB', /invalid size/],
    ['150%', /above 100%/],
    ['15', /size '15' has no unit: write 15% or 15GB \(or 15B for bytes\)/],
    ['0.5', /has no unit/],
    ['MB', /invalid size/],
    ['5 5MB', /invalid size/],
  ])('rejects %j', (text, message) => {
    const result = parseSize(text);
    expect('error' in result && result.error).toMatch(message);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['12h', 43_200_000],
    ['3d', 259_200_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    ['2w', 1_209_600_000],
    ['3d 4h', 273_600_000],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['300', '5 minutes', '', 'm', '5m garbage', '-5m'])('rejects %j', (text) => {
    expect(parseDuration(text)).toEqual({ error: expect.stringMatching(/invalid duration/) });
  });
});

describe('formatting', () => {
  it.each([
    [0, '0 B'],
    [512, '512 B'],
    [1536, '1.5 KiB'],
    [12.5 * 2 ** 30, '12.5 GiB'],
    [980 * 2 ** 20, '980 MiB'],
    [7225136, '6.89 MiB'],
  ])('formatBytes(%d) = %s', (bytes, text) => expect(formatBytes(bytes)).toBe(text));

  it.each([
    [450, '450ms'],
    [12_000, '12s'],
    [300_000, '5m'],
    [302_000, '5m 2s'],
    [3 * 86_400_000 + 4 * 3_600_000 + 59_000, '3d 4h'],
    [86_400_000 + 5 * 60_000, '1d'],
  ])('formatDuration(%d) = %s', (ms, text) => expect(formatDuration(ms)).toBe(text));

  it('formats ratios and ages', () => {
    expect(formatRatio(0.153)).toBe('15.3%');
    expect(formatRatio(0.15)).toBe('15%');
    const nowMs = 1_000_000_000;
    expect(formatAgo(null, nowMs)).toBe('never');
    expect(formatAgo(nowMs - 3 * 86_400_000 - 4 * 3_600_000, nowMs)).toBe('3d 4h ago');
    expect(formatAgo(nowMs + 5000, nowMs)).toBe('in 5s');
  });

  it('formats bytes with their share of a whole', () => {
    expect(formatShare(1.5 * 2 ** 30, 10 * 2 ** 30)).toBe('1.5 GiB (15%)');
  });

  it('round-trips what it prints for durations', () => {
    for (const ms of [500, 30_000, 300_000, 43_200_000, 259_200_000]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});
