// Hostile input, generated: parsers never throw an unexpected exception and always say where the
// problem is; untrusted strings survive storage exactly.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadConfig } from '../../agent/config/load';
import { formatDuration, parseDuration, parseSize } from '../../agent/config/units';
import { parseEventLine } from '../../agent/docker/client';
import { ConfigError } from '../../agent/errors';
import { silentLog } from '../../agent/log';
import { openStore } from '../../agent/state/store';
import { record, T0 } from './fixtures';

const dir = mkdtempSync('/tmp/ie-properties-');
writeFileSync(join(dir, 'empty.yaml'), '');
let files = 0;

/** Loads a config file with this text; returns the error (must be a ConfigError) or null. */
function configErrorFor(text: string): ConfigError | null {
  const file = join(dir, `c${(files += 1)}.yaml`);
  writeFileSync(file, text);
  try {
    loadConfig({ configFile: file, env: {}, flags: {} });
    return null;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    expect(error.source).toBe(file);
    return error;
  }
}

const yamlish = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.stringMatching(/^[a-z-]{1,20}: ?[\w%.:\[\]{}"', -]{0,30}\n?$/),
  fc.array(fc.tuple(fc.constantFrom('interval', 'low-free', 'target-free', 'protect', 'state', 'min-age', 'log-level', 'bogus'), fc.string({ maxLength: 20 })), { maxLength: 5 })
    .map((pairs) => pairs.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n')),
);

describe('parsers never throw on hostile input', () => {
  it('parseSize returns a size or an error naming the input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (text) => {
        const result = parseSize(text);
        if ('error' in result) expect(result.error).toContain(text);
        else if (result.kind === 'ratio') expect(result.ratio).toBeGreaterThanOrEqual(0);
        else expect(Number.isFinite(result.bytes)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('parseDuration returns milliseconds or an error naming the input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (text) => {
        const result = parseDuration(text);
        if (typeof result === 'object') expect(result.error).toContain(text);
        else expect(result).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });

  it('durations it prints parse back to the same value (whole seconds, two units)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.constantFrom(1000, 60_000, 3_600_000, 86_400_000), (count, unit) => {
        expect(parseDuration(formatDuration(count * unit))).toBeLessThanOrEqual(count * unit);
        expect(parseDuration(`${count}${{ 1000: 's', 60000: 'm', 3600000: 'h', 86400000: 'd' }[unit]}`)).toBe(count * unit);
      }),
    );
  });

  it('config files: a valid Config or a ConfigError naming the file (and a key or line when it can)', () => {
    fc.assert(
      fc.property(yamlish, (text) => {
        const error = configErrorFor(text);
        if (error !== null) expect(error.key !== undefined || error.line !== undefined || /mapping/.test(error.reason)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('environment variables: a valid Config or a ConfigError naming the variable or key', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.stringMatching(/^[A-Z_]{1,20}$/).map((k) => `IMAGE_EVICTOR_${k}`), fc.string({ maxLength: 30 }), { maxKeys: 3 }), (env) => {
        try {
          loadConfig({ configFile: join(dir, 'empty.yaml'), env, flags: {} });
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          expect((error as ConfigError).message).toMatch(/environment/);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('event lines of any shape give an event or null', () => {
    const lines = fc.oneof(fc.string({ maxLength: 300 }), fc.json({ maxDepth: 4 }), fc.jsonValue().map((v) => JSON.stringify({ Type: 'image', Action: 'pull', Actor: v, timeNano: 1 })));
    fc.assert(
      fc.property(lines, (line) => {
        const event = parseEventLine(line);
        if (event !== null) expect(event.timeNano).toMatch(/^\d+$/);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('untrusted strings in the state DB', () => {
  it('tags with control characters, quotes and 10 KiB lengths come back exactly', () => {
    const { store } = openStore(join(dir, 'hostile.db'), silentLog, T0);
    try {
      fc.assert(
        fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 64 }), fc.string({ minLength: 10_000, maxLength: 10_240 })), { maxLength: 4 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }), (tags, id) => {
          const r = record(id, { repoTags: tags });
          store.save([r]);
          expect(store.image(id)).toEqual(r);
        }),
        { numRuns: 200 },
      );
    } finally {
      store.close();
    }
  });
});
