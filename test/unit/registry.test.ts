// The registry side's pure parts: which notification events are recorded, auth lines, Link paging.
import { lastWantedMs, manifestRefs, recordableEvents, type NotificationEnvelope, type RegistryManifest } from '../../agent/core/registry';
import { parseAuth } from '../../agent/registry/auth';
import { nextPageUrl } from '../../agent/registry/client';
import { checkGcCommand } from '../../agent/registry/gc';
import { isLoopback } from '../../agent/registry/listen';

const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DIGEST = `sha256:${'b'.repeat(64)}`;

function event(overrides: Partial<NotificationEnvelope['events'][number]> & { method?: string; agent?: string; mediaType?: string; tag?: string }): NotificationEnvelope['events'][number] {
  const { method = 'GET', agent = 'docker/24.0', mediaType = MANIFEST, tag, ...rest } = overrides;
  return {
    id: 'e1',
    timestamp: '2026-11-24T04:22:42.727604463Z',
    action: 'pull',
    target: { mediaType, digest: DIGEST, repository: 'team/app', ...(tag === undefined ? {} : { tag }), size: 528 },
    request: { method, useragent: agent },
    ...rest,
  };
}

describe('recordableEvents', () => {
  const filter = { ignoreUserAgents: ['trivy', 'image-evictor'] };

  it('keeps manifest pushes, pulls and deletes; tells HEAD from GET; drops blobs and ignored agents', () => {
    const { events, skipped } = recordableEvents(
      {
        events: [
          event({ id: 'push', action: 'push', method: 'PUT', tag: 'v1' }),
          event({ id: 'get' }),
          event({ id: 'head', method: 'HEAD', tag: 'v1' }),
          event({ id: 'blob', mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }),
          event({ id: 'scan', agent: 'Trivy/0.50.1' }),
          event({ id: 'self', agent: 'image-evictor/0.1.0' }),
          // 2.8 sends deletes without a media type.
          event({ id: 'delete', action: 'delete', mediaType: undefined, method: 'DELETE' }),
          event({ id: 'mount', action: 'mount' }),
        ],
      },
      filter,
    );
    expect(events.map((e) => [e.id, e.kind, e.tag])).toEqual([
      ['push', 'push', 'v1'],
      ['get', 'pull', null],
      ['head', 'head', 'v1'],
      ['delete', 'delete', null],
    ]);
    expect(events[0]?.atMs).toBe(Date.parse('2026-11-24T04:22:42.727Z'));
    expect(skipped.sort()).toEqual(['action', 'blob', 'user-agent', 'user-agent']);
  });
});

describe('manifest references and recency', () => {
  it('an image manifest references its config and layers; an index its children', () => {
    expect(manifestRefs({ config: { digest: DIGEST, size: 10 }, layers: [{ digest: `sha256:${'c'.repeat(64)}`, size: 90 }] })).toEqual({
      blobs: [
        { digest: DIGEST, sizeBytes: 10 },
        { digest: `sha256:${'c'.repeat(64)}`, sizeBytes: 90 },
      ],
      children: [],
    });
    expect(manifestRefs({ manifests: [{ digest: DIGEST }] })).toEqual({ blobs: [], children: [DIGEST] });
  });

  it('last wanted: the last GET, HEAD only when it counts, else the push', () => {
    const m: RegistryManifest = { repository: 'a', digest: DIGEST, mediaType: MANIFEST, sizeBytes: 1, pushedMs: 100, lastPullMs: null, pulls: 0, lastHeadMs: 500, heads: 1, deletedMs: null };
    expect(lastWantedMs(m, false)).toBe(100);
    expect(lastWantedMs(m, true)).toBe(500);
    expect(lastWantedMs({ ...m, lastPullMs: 300 }, false)).toBe(300);
  });
});

describe('registry credentials and paging', () => {
  it('reads basic and bearer lines; refuses anything else naming the source', () => {
    expect(parseAuth('basic ci:s3cret\n', 'f')).toEqual({ kind: 'basic', header: `Basic ${Buffer.from('ci:s3cret').toString('base64')}` });
    expect(parseAuth('Bearer abc.def', 'f')).toEqual({ kind: 'bearer', header: 'Bearer abc.def' });
    expect(() => parseAuth('ci:s3cret', '/etc/ie/auth')).toThrow(/\/etc\/ie\/auth: expected one line/);
    expect(() => parseAuth('basic nocolon', 'f')).toThrow(/USER:PASSWORD/);
  });

  it('resolves a relative Link (registry 2.8) and an absolute one; none ends the paging', () => {
    expect(nextPageUrl('</v2/_catalog?last=b&n=2>; rel="next"', 'http://127.0.0.1:5000/')).toBe('http://127.0.0.1:5000/v2/_catalog?last=b&n=2');
    expect(nextPageUrl('<https://r.example/v2/x/tags/list?n=1&last=a>; rel="next"', 'http://127.0.0.1:5000/')).toBe('https://r.example/v2/x/tags/list?n=1&last=a');
    expect(nextPageUrl(null, 'http://x/')).toBeNull();
  });
});

describe('registry gc settings', () => {
  it('refuses --delete-untagged in any spelling, accepts the plain collection', () => {
    expect(checkGcCommand('docker-registry garbage-collect /etc/docker/registry/config.yml')).toBeNull();
    expect(checkGcCommand('registry garbage-collect --delete-untagged /c.yml')).toMatch(/multi-arch/);
    expect(checkGcCommand('registry garbage-collect --delete-untagged=true /c.yml')).toMatch(/multi-arch/);
    expect(checkGcCommand('registry garbage-collect -m /c.yml')).toMatch(/multi-arch/);
    expect(checkGcCommand('registry garbage-collect --dry-run /c.yml')).toBeNull();
  });
});

describe('registry listen address', () => {
  it('only loopback addresses are quiet without a token', () => {
    expect(['127.0.0.1:9708', '127.0.0.2:80', '[::1]:9708', 'localhost:9708'].map(isLoopback)).toEqual([true, true, true, true]);
    expect(['0.0.0.0:9708', '[::]:9708', '10.0.0.5:9708', '1127.0.0.1:9'].map(isLoopback)).toEqual([false, false, false, false]);
  });
});
