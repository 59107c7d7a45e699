import { PassThrough } from 'node:stream';
import { createLog } from '../../agent/log';

const hostile = 'evil\u001b[31m\u0000\u007f\u0085\u2028\nname:latest';

async function logOnce(format: 'json' | 'text'): Promise<string> {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  createLog({ level: 'info', format, stream }).info('eviction', { tags: [hostile], imageId: hostile });
  await new Promise((resolve) => setImmediate(resolve));
  return chunks.join('');
}

describe.each(['json', 'text'] as const)('%s logs with untrusted names', (format) => {
  it('stay one line with no raw control characters', async () => {
    const out = await logOnce(format);
    expect(out.endsWith('\n')).toBe(true);
    const line = out.slice(0, -1);
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    expect(line).toContain('eviction');
    expect(line).toContain('name:latest');
  });
});

it('json lines parse back to the original text', async () => {
  const parsed = JSON.parse(await logOnce('json')) as { message: string; imageId: string; tags: string[] };
  expect(parsed.message).toBe('eviction');
  expect(parsed.imageId).toBe(hostile);
  expect(parsed.tags).toEqual([hostile]);
});
