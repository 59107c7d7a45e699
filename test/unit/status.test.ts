import { shortId } from '../../agent/cli/format';
import { imageStatuses } from '../../agent/core/status';
import { statusText } from '../../agent/cli/status';
import { DAY, HOUR, record, T0 } from './fixtures';

describe('status', () => {
  const records = [
    record('sha256:aaaaaaaaaaaaaaaa', { lastUsedMs: T0 + HOUR, repoTags: ['r/a:1'] }),
    record('sha256:bbbbbbbbbbbbbbbb', { repoTags: [] }),
    record('sha256:cccccccccccccccc', { removedMs: T0 }),
  ];
  const containers = [{ id: 'c1', name: 'job-1', imageId: 'sha256:aaaaaaaaaaaaaaaa', state: 'exited', createdMs: T0 }];

  it('lists live images least recently used first, with their containers', () => {
    const rows = imageStatuses(records, containers);
    expect(rows.map((r) => [shortId(r.record.id), r.dangling, r.containers])).toEqual([
      ['bbbbbbbbbbbb', true, []],
      ['aaaaaaaaaaaa', false, ['job-1']],
    ]);
  });

  it('prints a disk line, then a row per image with relative times and the rule that claims it', () => {
    const text = statusText({
      nowMs: T0 + DAY + 4 * HOUR,
      docker: { host: 'unix:///x', reachable: true },
      disk: { path: '/var/lib/docker', totalBytes: 100 * 2 ** 30, freeBytes: 12.5 * 2 ** 30, freeRatio: 0.125, totalInodes: 100, freeInodes: 90, freeInodesRatio: 0.9 },
      images: imageStatuses(records, containers),
      ranking: new Map([
        ['sha256:bbbbbbbbbbbbbbbb', { imageId: 'sha256:bbbbbbbbbbbbbbbb', class: 'protected' as const, rank: 1, rule: "protect '**/b*'" }],
      ]),
      unmatchedProtections: [],
      evictions: { total: 3, emergency: 1, lastEmergencyMs: T0 + DAY },
      order: {
        setting: 'auto',
        active: 'lru',
        historyEvents: 900,
        choice: { order: 'lru', chosenMs: T0 + DAY + 3 * HOUR, sinceMs: T0 + DAY, reason: 'would have downloaded 12.0% less than reuse-interval', jobs: 420, windowMs: 3 * DAY, scores: [] },
      },
    });
    expect(text.split('\n')).toEqual([
      'disk /var/lib/docker: 100 GiB total, 12.5 GiB free (12.5%), inodes 90% free',
      'eviction order: lru (auto, since 4h ago: would have downloaded 12.0% less than reuse-interval; checked 1h ago over 420 needs of the last 3d)',
      'emergency evictions: 1 (last 4h ago), 3 evictions in all',
      'RANK  CLASS      TAGS    ID            SIZE    LAST PULLED  LAST USED  USES  CONTAINERS  RULE',
      "1     protected  <none>  bbbbbbbbbbbb  1000 B  1d 4h ago    never      0     -           protect '**/b*'",
      '-     -          r/a:1   aaaaaaaaaaaa  1000 B  1d 4h ago    1d 3h ago  0     job-1       -',
    ]);
  });

  it('escapes control characters in untrusted names', () => {
    const evil = record('sha256:eeeeeeeeeeee', { repoTags: ['r/x\u001b[31m:latest'] });
    const text = statusText({
      nowMs: T0,
      docker: { host: 'h', reachable: true },
      disk: null,
      images: imageStatuses([evil], []),
      ranking: new Map(),
      unmatchedProtections: [],
      evictions: { total: 0, emergency: 0, lastEmergencyMs: null },
      order: { setting: 'lru', active: 'lru', historyEvents: 0, choice: null },
    });
    expect(text).toContain('r/x\\u001b[31m:latest');
    expect(text).not.toContain('\u001b');
  });
});
