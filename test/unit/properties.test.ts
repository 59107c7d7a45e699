// Hostile input, generated: parsers never throw an unexpected exception and always say where the
// problem is; untrusted strings survive storage exactly.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadConfig } from '../../agent/config/load';
import { formatDuration, parseDuration, parseSize } from '../../agent/core/units';
import { parseEventLine } from '../../agent/docker/client';
import type { Predicate, Rule } from '../../agent/core/rules';
import { ConfigError, RuleSyntaxError } from '../../agent/errors';
import { parseRuleFile } from '../../agent/config/rule-syntax';
import { loadPolicy } from '../../agent/config/policy-file';
import { silentLog } from '../../agent/log';
import { openStore } from '../../agent/state/store';
import { fileTestDir } from '../harness/tmp';
import { record, T0 } from './fixtures';

const dir = fileTestDir('properties');
beforeAll(() => writeFileSync(join(dir, 'empty.yaml'), ''));
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

describe('rule files', () => {
  /** Parses a rule file; returns the rules or the error, which must be a located RuleSyntaxError. */
  function parsed(text: string): Rule[] | RuleSyntaxError {
    try {
      return parseRuleFile(text, 'gen.conf');
    } catch (error) {
      if (!(error instanceof RuleSyntaxError)) throw error;
      const lines = text.split(/\r?\n/);
      expect(error.line).toBeGreaterThanOrEqual(1);
      expect(error.line).toBeLessThanOrEqual(Math.max(lines.length, 1));
      expect(error.column).toBeGreaterThanOrEqual(1);
      expect(error.column).toBeLessThanOrEqual((lines[error.line - 1] ?? '').length + 1);
      expect(error.message).toMatch(/^gen\.conf:\d+:\d+: /);
      return error;
    }
  }

  const word = fc.constantFrom('True', 'False', 'Dangling', 'Dandling', 'Repository', 'Tag', 'Label', 'Age', 'Pulled', 'Unused', 'Size', 'Not', 'And', 'Or', 'Delete', 'Keep', 'PreserveRecent', 'Bogus');
  const piece = fc.oneof(word, fc.constantFrom('(', ')', ',', ':', ' ', '"x"', '"3d"', '">1MB"', '3', '1.5', '#', '\n', "'", '"'));
  const ruleish = fc.oneof(fc.string({ maxLength: 120 }), fc.array(piece, { maxLength: 30 }).map((p) => p.join('')));

  it('any text gives rules or an error with a line and column inside the text', () => {
    fc.assert(fc.property(ruleish, (text) => void parsed(text)), { numRuns: 3000 });
  });

  // Generated predicates, printed in docker_gc syntax, parse back to the same tree.
  const leaf: fc.Arbitrary<[string, Predicate]> = fc.oneof(
    fc.constant<[string, Predicate]>(['True', { kind: 'true' }]),
    fc.constant<[string, Predicate]>(['Dangling', { kind: 'dangling' }]),
    fc.stringMatching(/^[a-z0-9/*.:-]{1,12}$/).map((g): [string, Predicate] => [`Repository("${g}")`, { kind: 'repository', glob: g }]),
    fc.stringMatching(/^[a-z0-9.*-]{1,8}$/).map((g): [string, Predicate] => [`Tag("${g}")`, { kind: 'tag', glob: g }]),
    fc.nat(400).map((d): [string, Predicate] => [`Age(${d})`, { kind: 'age', olderThanMs: d * 86_400_000 }]),
    fc.integer({ min: 1, max: 999 }).map((h): [string, Predicate] => [`Unused("${h}h")`, { kind: 'unused', olderThanMs: h * 3_600_000 }]),
    fc.integer({ min: 1, max: 999 }).map((m): [string, Predicate] => [`Size(">=${m}MiB")`, { kind: 'size', comparison: '>=', bytes: m * 2 ** 20 }]),
  );
  const tree = fc.letrec<{ p: [string, Predicate] }>((tie) => ({
    p: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      tie('p').map(([t, p]): [string, Predicate] => [`Not(${t})`, { kind: 'not', operand: p }]),
      fc.array(tie('p'), { minLength: 1, maxLength: 3 }).map((ps): [string, Predicate] => [`And(${ps.map(([t]) => t).join(', ')})`, { kind: 'and', operands: ps.map(([, p]) => p) }]),
      fc.array(tie('p'), { minLength: 1, maxLength: 3 }).map((ps): [string, Predicate] => [`Or(${ps.map(([t]) => t).join(',')})`, { kind: 'or', operands: ps.map(([, p]) => p) }]),
    ),
  })).p;

  it('generated rules parse back to the trees they were printed from', () => {
    fc.assert(
      fc.property(tree, fc.constantFrom('Delete', 'Keep', 'PreserveAll', 'PreserveRecent(3)'), ([text, predicate], action) => {
        const rules = parsed(`${text} : ${action}`);
        if (rules instanceof RuleSyntaxError) throw rules;
        expect(rules[0]?.predicate).toEqual(predicate);
      }),
      { numRuns: 1000 },
    );
  });

  it('YAML policies of any shape load or give a ConfigError / RuleSyntaxError naming the file', () => {
    const yamlPolicy = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.array(fc.tuple(ruleish, ruleish), { maxLength: 4 }).map((rules) => `rules:\n${rules.map(([m, a]) => `  - match: ${JSON.stringify(m)}\n    action: ${JSON.stringify(a)}`).join('\n')}\n`),
      fc.array(fc.tuple(fc.constantFrom('remove-exited', 'grace', 'exclude-names', 'bogus'), fc.string({ maxLength: 12 })), { maxLength: 4 }).map((kv) => `containers:\n${kv.map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join('\n')}\n`),
    );
    fc.assert(
      fc.property(yamlPolicy, (text) => {
        const file = join(dir, `p${(files += 1)}.yaml`);
        writeFileSync(file, text);
        try {
          loadPolicy(file);
        } catch (error) {
          if (!(error instanceof ConfigError || error instanceof RuleSyntaxError)) throw error;
          expect(error.message.startsWith(file)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
