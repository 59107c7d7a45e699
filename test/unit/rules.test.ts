// Rule parsing (docker_gc syntax), predicates, actions and PreserveRecent counting, on plain data.
import { splitReference } from '../../agent/core/image';
import { claimImages, matches, type Predicate, type Rule, type RuleSubject } from '../../agent/core/rules';
import { RuleSyntaxError } from '../../agent/errors';
import { parsePredicate, parseRuleFile } from '../../agent/config/rule-syntax';
import { DAY, HOUR, record, T0 } from './fixtures';

const NOW = T0 + 10 * DAY;
const origin = { source: 'test', line: 1, column: 1, lineText: '' };
const p = (text: string): Predicate => parsePredicate(text, { ...origin, lineText: text });

function subject(id: string, overrides: Parameters<typeof record>[1] = {}, labels: Record<string, string> = {}): RuleSubject {
  return { record: record(id, { createdMs: NOW - 30 * DAY, lastPulledMs: NOW - 5 * DAY, ...overrides }), labels };
}

describe('splitReference', () => {
  it.each([
    ['registry.example:5000/group/app:1.0', 'registry.example:5000/group/app', '1.0'],
    ['registry.example:5000/group/app', 'registry.example:5000/group/app', 'latest'],
    ['busybox:latest', 'busybox', 'latest'],
  ])('%s', (ref, repository, tag) => expect(splitReference(ref)).toEqual({ repository, tag }));
});

describe('predicates', () => {
  const img = subject('a', { repoTags: ['127.0.0.1:5000/organisation/repo:v1'], sizeBytes: 600e6, createdMs: NOW - 4 * DAY, lastPulledMs: NOW - 3 * DAY, lastUsedMs: NOW - 13 * HOUR }, { tier: 'ci' });
  const dangling = subject('d', { repoTags: [] });
  it.each([
    ['True', img, true],
    ['False', img, false],
    ['Dangling', dangling, true],
    ['Dangling', img, false],
    ['Dandling', dangling, true],
    ['Dangling()', dangling, true],
    ['Repository("organisation/repo")', img, true], // no registry host in the pattern: any registry
    ['Repository("organisation/*")', img, true],
    ['Repository("127.0.0.1:5000/organisation/repo")', img, true],
    ['Repository("other.example/organisation/repo")', img, false],
    ['Repository("organisation")', img, false],
    ['Repository("**")', dangling, false],
    ['Tag("v*")', img, true],
    ['Tag("latest")', img, false],
    ['Label("tier")', img, true],
    ['Label("tier", "ci")', img, true],
    ['Label("tier", "prod")', img, false],
    ['Label("missing")', img, false],
    ['Age(3)', img, true],
    ['Age(5)', img, false],
    ['Age("95h")', img, true],
    ['Age("97h")', img, false],
    ['Pulled("2d")', img, true],
    ['Pulled("4d")', img, false],
    ['Unused("12h")', img, true],
    ['Unused("14h")', img, false],
    ['Size(">500MB")', img, true],
    ['Size("<=500MB")', img, false],
    ['Size(">=600MB")', img, true],
    ['Size("<1GiB")', img, true],
    ['Not(Dangling)', img, true],
    ['And(Tag("v*"), Age(3))', img, true],
    ['And(Tag("v*"), Age(5))', img, false],
    ['Or(Dangling, Age(5))', img, false],
    ['Or(Dangling, Label("tier"))', img, true],
    ['Not(And(Repository("organisation/repo"), Not(Label("tier", "ci"))))', img, true],
  ])('%s', (text, s, expected) => expect(matches(p(text), s, NOW)).toBe(expected));

  it('Unused counts from first seen when the image was never used', () => {
    const never = subject('n', { lastUsedMs: null, firstSeenMs: NOW - 2 * DAY });
    expect(matches(p('Unused("1d")'), never, NOW)).toBe(true);
    expect(matches(p('Unused("3d")'), never, NOW)).toBe(false);
  });

  it('Age is false for an image without a creation time (never deleted on a guess)', () => {
    expect(matches(p('Age(0)'), subject('x', { createdMs: null }), NOW)).toBe(false);
  });
});

describe('parse errors name line, column and what was expected', () => {
  const error = (text: string): RuleSyntaxError => {
    try {
      parseRuleFile(text, 'rules.conf');
    } catch (e) {
      if (e instanceof RuleSyntaxError) return e;
      throw e;
    }
    throw new Error('no error');
  };
  it.each([
    ['unbalanced parentheses', 'Dangling : Delete\nNot(Age(3) : PreserveAll', 2, 12, /expected ',' or '\)' to close 'Not\('/],
    ['a closing parenthesis too many', 'Not(Age(3))) : Delete', 1, 12, /expected ':' between the predicate and the action, found '\)'/],
    ['unknown predicate', 'Dangeling : Delete', 1, 1, /unknown predicate 'Dangeling': expected one of True, False, Dangling/],
    ['unknown action', 'Dangling : Remove', 1, 12, /unknown action 'Remove': expected one of Delete, Evict/],
    ['bad argument type', 'Repository(3) : Delete', 1, 12, /Repository expects a "glob" string, got a number/],
    ['bad duration', 'Unused(12) : Delete', 1, 8, /Unused expects a duration such as "2d"/],
    ['bad size', 'Size("500MB") : Delete', 1, 6, /Size expects a comparison such as ">500MB"/],
    ['missing colon', 'Dangling Delete', 1, 10, /expected ':' between the predicate and the action, found 'Delete'/],
    ['missing action', 'Dangling :', 1, 11, /expected an action after ':'/],
    ['unterminated string', 'Tag("v1 : Delete', 1, 5, /unterminated string/],
    ['a stray character', 'Size(>5) : Delete', 1, 6, /unexpected character '>'/],
    ['PreserveRecent without a count', 'True : PreserveRecent', 1, 8, /PreserveRecent takes one whole number, got no arguments/],
    ['PreserveRecent with a fraction', 'True : PreserveRecent(1.5)', 1, 23, /whole number/],
    ['empty file', '', 1, 1, /no rules: expected lines of the form `Predicate : Action`/],
    ['comments only', '# nothing here\n\n', 1, 1, /no rules/],
    ['two rules on one line', 'Dangling : Delete True : Delete', 1, 19, /expected the end of the rule/],
    ['wrong arity', 'Label("a", "b", "c") : Keep', 1, 1, /Label takes "key" or "key", "value", got 3 arguments/],
  ])('%s', (_name, text, line, column, message) => {
    const e = error(text);
    expect([e.line, e.column]).toEqual([line, column]);
    expect(e.message).toMatch(message);
    expect(e.message).toContain(`rules.conf:${line}:${column}:`);
    // The offending line is shown with a caret under the column.
    expect(e.message.split('\n')[2]?.indexOf('^')).toBe(column + 1);
  });

  it('comments, blank lines and CRLF are fine; the rule keeps its text and line', () => {
    const rules = parseRuleFile('# docker_gc rules\r\n\r\nDandling : Delete  # untagged\r\nTrue : Evict\r\n', 'r.conf');
    expect(rules.map((r) => [r.origin, r.text, r.action.kind])).toEqual([
      ['r.conf:3', 'Dandling : Delete', 'delete'],
      ['r.conf:4', 'True : Evict', 'evict'],
    ]);
  });

  it('a # inside a string is not a comment', () => {
    expect(parseRuleFile('Tag("a#b") : Keep', 'r')[0]?.predicate).toEqual({ kind: 'tag', glob: 'a#b' });
  });
});

describe('claims', () => {
  const rules = (text: string): Rule[] => parseRuleFile(text, 'r');
  const claimed = (subjects: RuleSubject[], text: string) =>
    Object.fromEntries([...claimImages(subjects, rules(text), NOW)].map(([id, c]) => [id, `${c.disposition}@${c.ruleIndex}`]));

  it.each([
    ['Delete', 'delete'],
    ['Evict', 'evict'],
    ['Protect', 'protect'],
    ['PreserveAll', 'protect'],
    ['Keep', 'keep'],
  ])('%s', (action, disposition) => {
    expect(claimed([subject('a')], `True : ${action}`)).toEqual({ a: `${disposition}@0` });
  });

  it('the first rule that claims an image wins; unclaimed images are LRU candidates (-1)', () => {
    const subjects = [subject('a', { repoTags: [] }), subject('b', { repoTags: ['x/b:1'] }), subject('c', { repoTags: ['y/c:1'] })];
    expect(claimed(subjects, 'Dangling : Delete\nRepository("x/*") : Keep\nOr(Dangling, Repository("x/*")) : Protect')).toEqual({
      a: 'delete@0',
      b: 'keep@1',
      c: 'evict@-1',
    });
  });

  it('PreserveRecent keeps the N most recently wanted per repository; the rest fall through', () => {
    const subjects = [1, 2, 3, 4, 5].map((n) => subject(`r${n}`, { repoTags: [`org/repo:v${n}`], lastPulledMs: NOW - n * DAY }));
    subjects.push(subject('o1', { repoTags: ['org/other:v1'], lastPulledMs: NOW - 9 * DAY }));
    expect(claimed(subjects, 'Repository("org/*") : PreserveRecent(2)\nTrue : Delete')).toEqual({
      r1: 'protect@0',
      r2: 'protect@0',
      r3: 'delete@1',
      r4: 'delete@1',
      r5: 'delete@1',
      o1: 'protect@0', // its own repository, its own count
    });
  });

  it('images preserved by earlier rules count toward PreserveRecent (the docker_gc example)', () => {
    // Two young images of organisation/repo are preserved by Not(Age(3)); PreserveRecent(3) adds one more.
    const repo = (n: number, createdDaysAgo: number) => subject(`r${n}`, { repoTags: [`reg.example:5000/organisation/repo:v${n}`], createdMs: NOW - createdDaysAgo * DAY, lastPulledMs: NOW - n * HOUR });
    const subjects = [repo(1, 1), repo(2, 2), repo(3, 4), repo(4, 5), repo(5, 6), subject('dang', { repoTags: [] }), subject('young', { repoTags: ['other/app:1'], createdMs: NOW - DAY }), subject('old', { repoTags: ['other/app:0'] })];
    const text = 'Dandling : Delete\nNot(Age(3)) : PreserveAll\nRepository("organisation/repo") : PreserveRecent(3)\nTrue : Delete';
    expect(claimed(subjects, text)).toEqual({
      dang: 'delete@0',
      r1: 'protect@1',
      r2: 'protect@1',
      young: 'protect@1',
      r3: 'protect@2',
      r4: 'delete@3',
      r5: 'delete@3',
      old: 'delete@3',
    });
  });

  it('PreserveRecent(0) preserves nothing and a full count leaves no room', () => {
    const subjects = [subject('a', { repoTags: ['org/a:1'] }), subject('b', { repoTags: ['org/a:2'], lastPulledMs: NOW - DAY })];
    expect(claimed(subjects, 'True : PreserveRecent(0)')).toEqual({ a: 'evict@-1', b: 'evict@-1' });
    expect(claimed(subjects, 'Tag("2") : Keep\nTrue : PreserveRecent(1)')).toEqual({ a: 'evict@-1', b: 'keep@0' });
  });

  it('dangling images have no repository and fall through PreserveRecent', () => {
    expect(claimed([subject('d', { repoTags: [] })], 'True : PreserveRecent(5)')).toEqual({ d: 'evict@-1' });
  });
});
