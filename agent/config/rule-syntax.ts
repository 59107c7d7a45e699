// Parses rules in docker_gc's syntax: `Predicate : Action` lines, and predicates or actions alone
// (a policy's `match:` and `action:`). Every error carries file:line:column and what was expected.
import { parseDuration, parseSize } from '../core/units';
import { daysToMs, type Action, type Comparison, type Predicate, type Rule } from '../core/rules';
import { RuleSyntaxError } from '../errors';

/** Where a piece of text sits in its file, so errors point at the right column. */
export interface TextOrigin {
  source: string;
  line: number;
  /** 1-based column of the text's first character. */
  column: number;
  /** The whole line, shown under the error. */
  lineText: string;
}

type Token =
  | { kind: 'name'; value: string; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'number'; value: number; text: string; at: number }
  | { kind: 'punct'; value: '(' | ')' | ',' | ':'; at: number }
  | { kind: 'end'; at: number };

/** A parsed argument: a literal, or a nested expression (for Not/And/Or). */
type Argument = { kind: 'string'; value: string; at: number } | { kind: 'number'; value: number; at: number } | Call;

interface Call {
  kind: 'call';
  name: string;
  args: Argument[];
  at: number;
}

function describe(token: Token): string {
  if (token.kind === 'end') return 'the end of the rule';
  if (token.kind === 'string') return `the string "${token.value}"`;
  if (token.kind === 'number') return `the number ${token.text}`;
  return `'${token.value}'`;
}

class Parser {
  private readonly tokens: Token[] = [];
  private index = 0;

  constructor(
    private readonly text: string,
    private readonly origin: TextOrigin,
  ) {
    this.tokenize();
  }

  fail(at: number, reason: string): never {
    throw new RuleSyntaxError(this.origin.source, this.origin.line, this.origin.column + at, reason, this.origin.lineText);
  }

  private tokenize(): void {
    const { text } = this;
    let i = 0;
    while (i < text.length) {
      const c = text[i] as string;
      if (/\s/.test(c)) {
        i += 1;
      } else if (c === '#') {
        break;
      } else if ('(),:'.includes(c)) {
        this.tokens.push({ kind: 'punct', value: c as '(' | ')' | ',' | ':', at: i });
        i += 1;
      } else if (c === '"' || c === "'") {
        const start = i;
        let value = '';
        for (i += 1; i < text.length && text[i] !== c; i += 1) {
          if (text[i] === '\\' && i + 1 < text.length) i += 1;
          value += text[i];
        }
        if (i >= text.length) this.fail(start, `unterminated string: expected a closing ${c}`);
        i += 1;
        this.tokens.push({ kind: 'string', value, at: start });
      } else if (/\d/.test(c)) {
        const match = /^\d+(?:\.\d+)?/.exec(text.slice(i)) as RegExpExecArray;
        this.tokens.push({ kind: 'number', value: Number(match[0]), text: match[0], at: i });
        i += match[0].length;
      } else if (/[A-Za-z_]/.test(c)) {
        const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i)) as RegExpExecArray;
        this.tokens.push({ kind: 'name', value: match[0], at: i });
        i += match[0].length;
      } else {
        this.fail(i, `unexpected character '${c}': expected a predicate such as Dangling or Repository("group/app")`);
      }
    }
    this.tokens.push({ kind: 'end', at: Math.min(i, text.length) });
  }

  peek(): Token {
    return this.tokens[this.index] as Token;
  }

  next(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.index += 1;
    return token;
  }

  expectPunct(value: '(' | ')' | ',' | ':', what: string): Token {
    const token = this.next();
    if (token.kind !== 'punct' || token.value !== value) this.fail(token.at, `expected ${what}, found ${describe(token)}`);
    return token;
  }

  /** `Name` or `Name(arg, ...)`. */
  call(what: string): Call {
    const token = this.next();
    if (token.kind !== 'name') this.fail(token.at, `expected ${what}, found ${describe(token)}`);
    const args: Argument[] = [];
    const open = this.peek();
    if (open.kind === 'punct' && open.value === '(') {
      this.next();
      const close = this.peek();
      if (!(close.kind === 'punct' && close.value === ')')) {
        for (;;) {
          args.push(this.argument());
          const sep = this.next();
          if (sep.kind === 'punct' && sep.value === ')') break;
          if (!(sep.kind === 'punct' && sep.value === ',')) {
            this.fail(sep.at, `expected ',' or ')' to close '${token.value}(' at column ${this.origin.column + open.at}, found ${describe(sep)}`);
          }
        }
      } else {
        this.next();
      }
    }
    return { kind: 'call', name: token.value, args, at: token.at };
  }

  argument(): Argument {
    const token = this.peek();
    if (token.kind === 'string' || token.kind === 'number') {
      this.next();
      return token.kind === 'string' ? { kind: 'string', value: token.value, at: token.at } : { kind: 'number', value: token.value, at: token.at };
    }
    return this.call('an argument: a "string", a number or a predicate');
  }

  end(what: string): void {
    const token = this.peek();
    if (token.kind !== 'end') this.fail(token.at, `expected ${what}, found ${describe(token)}`);
  }
}

const PREDICATES = 'True, False, Dangling, Repository("glob"), Tag("glob"), Label("key"[, "value"]), Age(days|"36h"), Pulled("2d"), Unused("12h"), Size(">500MB"), Not(p), And(p, ...), Or(p, ...)';
const ACTIONS = 'Delete, Evict, Protect, PreserveAll, Keep, PreserveRecent(N)';

function arity(parser: Parser, call: Call, min: number, max: number, usage: string): void {
  if (call.args.length < min || call.args.length > max) {
    const got = call.args.length === 0 ? 'no arguments' : `${call.args.length} argument${call.args.length === 1 ? '' : 's'}`;
    parser.fail(call.at, `${call.name} takes ${usage}, got ${got}`);
  }
}

function stringArg(parser: Parser, call: Call, index: number, usage: string): string {
  const arg = call.args[index] as Argument;
  if (arg.kind !== 'string') parser.fail(arg.at, `${call.name} expects ${usage}, got ${arg.kind === 'number' ? 'a number' : `the predicate ${arg.name}`}`);
  return arg.value;
}

/** `Age(3)` means days (docker_gc); `Age("36h")` any duration. */
function durationArg(parser: Parser, call: Call, daysAllowed: boolean): number {
  const usage = daysAllowed ? 'a number of days or a duration such as "36h"' : 'a duration such as "2d" or "12h"';
  arity(parser, call, 1, 1, usage);
  const arg = call.args[0] as Argument;
  if (arg.kind === 'number' && daysAllowed) return daysToMs(arg.value);
  if (arg.kind !== 'string') parser.fail(arg.at, `${call.name} expects ${usage}, got ${arg.kind === 'number' ? 'a number' : `the predicate ${arg.name}`}`);
  const ms = parseDuration(arg.value);
  return typeof ms === 'number' ? ms : parser.fail(arg.at, ms.error);
}

function sizeArg(parser: Parser, call: Call): { comparison: Comparison; bytes: number } {
  arity(parser, call, 1, 1, 'a comparison such as ">500MB"');
  const text = stringArg(parser, call, 0, 'a comparison such as ">500MB" or "<=1GiB"');
  const match = /^\s*(>=|<=|>|<)\s*(.*)$/.exec(text);
  if (!match) parser.fail((call.args[0] as Argument).at, `Size expects a comparison such as ">500MB" or "<=1GiB", got "${text}"`);
  const size = parseSize(match[2] as string);
  if ('error' in size || size.kind !== 'bytes') {
    parser.fail((call.args[0] as Argument).at, 'error' in size ? size.error : `Size needs bytes, not a percentage: "${text}"`);
  }
  return { comparison: match[1] as Comparison, bytes: size.bytes };
}

function toPredicate(parser: Parser, call: Call): Predicate {
  const operands = (min: number) => {
    if (call.args.length < min) parser.fail(call.at, `${call.name} takes ${min === 1 ? 'one or more predicates' : 'a predicate'}, got no arguments`);
    return call.args.map((arg) => (arg.kind === 'call' ? toPredicate(parser, arg) : parser.fail(arg.at, `${call.name} expects predicates, got a ${arg.kind}`)));
  };
  switch (call.name) {
    case 'True':
    case 'False':
    case 'Dangling':
    case 'Dandling': // docker_gc's own spelling, accepted as written in its documentation.
      arity(parser, call, 0, 0, 'no arguments');
      return { kind: call.name === 'True' ? 'true' : call.name === 'False' ? 'false' : 'dangling' };
    case 'Repository':
    case 'Tag':
      arity(parser, call, 1, 1, 'one "glob" string');
      return { kind: call.name === 'Tag' ? 'tag' : 'repository', glob: stringArg(parser, call, 0, 'a "glob" string') };
    case 'Label':
      arity(parser, call, 1, 2, '"key" or "key", "value"');
      return { kind: 'label', key: stringArg(parser, call, 0, 'a "key" string'), value: call.args.length === 2 ? stringArg(parser, call, 1, 'a "value" string') : null };
    case 'Age':
      return { kind: 'age', olderThanMs: durationArg(parser, call, true) };
    case 'Pulled':
      return { kind: 'pulled', olderThanMs: durationArg(parser, call, false) };
    case 'Unused':
      return { kind: 'unused', olderThanMs: durationArg(parser, call, false) };
    case 'Size':
      return { kind: 'size', ...sizeArg(parser, call) };
    case 'Not': {
      arity(parser, call, 1, 1, 'one predicate');
      return { kind: 'not', operand: operands(1)[0] as Predicate };
    }
    case 'And':
      return { kind: 'and', operands: operands(1) };
    case 'Or':
      return { kind: 'or', operands: operands(1) };
    default:
      return parser.fail(call.at, `unknown predicate '${call.name}': expected one of ${PREDICATES}`);
  }
}

function toAction(parser: Parser, call: Call): Action {
  switch (call.name) {
    case 'Delete':
    case 'Evict':
    case 'Protect':
    case 'PreserveAll':
    case 'Keep':
      arity(parser, call, 0, 0, 'no arguments');
      return { kind: call.name === 'Delete' ? 'delete' : call.name === 'Evict' ? 'evict' : call.name === 'Keep' ? 'keep' : 'protect' };
    case 'PreserveRecent': {
      arity(parser, call, 1, 1, 'one whole number');
      const arg = call.args[0] as Argument;
      if (arg.kind !== 'number' || !Number.isInteger(arg.value)) parser.fail(arg.at, 'PreserveRecent expects a whole number of images, e.g. PreserveRecent(3)');
      return { kind: 'preserve-recent', count: arg.value };
    }
    default:
      return parser.fail(call.at, `unknown action '${call.name}': expected one of ${ACTIONS}`);
  }
}

/** Parses one whole expression of a kind (`predicate` or `action`) with its converter. */
function parseAlone<T>(text: string, origin: TextOrigin, kind: string, choices: string, convert: (parser: Parser, call: Call) => T): T {
  const parser = new Parser(text, origin);
  if (parser.peek().kind === 'end') parser.fail(0, `empty ${kind}: expected one of ${choices}`);
  const result = convert(parser, parser.call(`a${kind === 'action' ? 'n' : ''} ${kind}`));
  parser.end(`the end of the ${kind}`);
  return result;
}

/** Parses a predicate alone (a policy's `match:`). */
export function parsePredicate(text: string, origin: TextOrigin): Predicate {
  return parseAlone(text, origin, 'predicate', PREDICATES, toPredicate);
}

/** Parses an action alone (a policy's `action:`). */
export function parseAction(text: string, origin: TextOrigin): Action {
  return parseAlone(text, origin, 'action', ACTIONS, toAction);
}

/** Parses a docker_gc rule file: one `Predicate : Action` per line; `#` starts a comment. */
export function parseRuleFile(text: string, source: string): Rule[] {
  const rules: Rule[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((lineText, i) => {
    const origin: TextOrigin = { source, line: i + 1, column: 1, lineText };
    const parser = new Parser(lineText, origin);
    if (parser.peek().kind === 'end') return;
    const predicate = toPredicate(parser, parser.call('a predicate'));
    const colon = parser.peek();
    if (!(colon.kind === 'punct' && colon.value === ':')) {
      parser.fail(colon.at, `expected ':' between the predicate and the action, found ${describe(colon)}`);
    }
    parser.next();
    if (parser.peek().kind === 'end') parser.fail(parser.peek().at, `expected an action after ':': one of ${ACTIONS}`);
    const action = toAction(parser, parser.call('an action'));
    parser.end('the end of the rule (one rule per line)');
    rules.push({ predicate, action, origin: `${source}:${i + 1}`, text: lineText.slice(0, parser.peek().at).trim() });
  });
  if (rules.length === 0) throw new RuleSyntaxError(source, 1, 1, 'no rules: expected lines of the form `Predicate : Action`, e.g. `Dangling : Delete`', lines[0] ?? '');
  return rules;
}
