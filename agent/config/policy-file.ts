// Reads a policy file: YAML (`.yaml`, `.yml`: rules, container and build-cache hygiene, thresholds)
// or a docker_gc rule file (anything else: `Predicate : Action` lines). Errors name file and line.
import { existsSync, readFileSync } from 'node:fs';
import { isScalar, type Document, type LineCounter, type Node } from 'yaml';
import { readYaml } from './yaml';
import { z } from 'zod';
import { BooleanField, ConfigLayer, DurationField, ListField, SizeField } from './schema';
import { DEFAULT_CONTAINER_POLICY } from '../core/containers';
import { DEFAULT_POLICY, type Policy } from '../core/policy';
import type { Rule } from '../core/rules';
import { ConfigError, RuleSyntaxError } from '../errors';
import { parseAction, parsePredicate, parseRuleFile } from './rule-syntax';

const RuleEntry = z.strictObject({ match: z.string().min(1), action: z.string().min(1) });

const PolicyFile = z
  .strictObject({
    'low-free': ConfigLayer.shape['low-free'],
    'target-free': ConfigLayer.shape['target-free'],
    'low-free-inodes': ConfigLayer.shape['low-free-inodes'],
    'target-free-inodes': ConfigLayer.shape['target-free-inodes'],
    'min-age': ConfigLayer.shape['min-age'],
    protect: ConfigLayer.shape.protect,
    rules: z.array(RuleEntry),
    containers: z
      .strictObject({
        'remove-exited': BooleanField,
        grace: DurationField,
        'exclude-names': ListField,
        'exclude-images': ListField,
        'remove-volumes': BooleanField,
      })
      .partial(),
    'build-cache': z
      .strictObject({
        'prune-under-pressure': BooleanField,
        'keep-storage': SizeField.refine((s) => s.kind === 'bytes', 'must be a size such as 2GiB, not a percentage'),
      })
      .partial(),
  })
  .partial();
type PolicyFile = z.infer<typeof PolicyFile>;

export interface LoadedPolicy {
  policy: Policy;
  /** Thresholds and protection the policy sets; they layer over the config file. */
  settings: ConfigLayer;
}

/** True for files read as YAML policies; the rest are docker_gc rule files. */
export function isYamlPolicy(file: string): boolean {
  return /\.ya?ml$/i.test(file);
}

/** Loads a policy file of either kind; throws ConfigError or RuleSyntaxError naming file and line. */
export function loadPolicy(file: string): LoadedPolicy {
  if (!existsSync(file)) throw new ConfigError(file, 'policy file does not exist');
  const text = readFileSync(file, 'utf8');
  if (!isYamlPolicy(file)) return { policy: { ...DEFAULT_POLICY, source: file, rules: parseDockerGcFile(text, file) }, settings: {} };
  return readYamlPolicy(text, file);
}

/** A YAML policy's opening keys, as they would stand in a file saved under another name. */
const YAML_POLICY_KEY = /^(rules|containers|build-cache|low-free|target-free|low-free-inodes|target-free-inodes|min-age|protect)\s*:/m;

/** docker_gc rules; a YAML policy under a `.conf` name gets a hint instead of a bare syntax error. */
function parseDockerGcFile(text: string, file: string): ReturnType<typeof parseRuleFile> {
  try {
    return parseRuleFile(text, file);
  } catch (error) {
    if (error instanceof RuleSyntaxError && YAML_POLICY_KEY.test(text)) {
      throw new RuleSyntaxError(error.source, error.line, error.column, `${error.reason} (this looks like a YAML policy: only files named .yaml or .yml are read as YAML)`, error.lineText);
    }
    throw error;
  }
}

function readYamlPolicy(text: string, file: string): LoadedPolicy {
  // Failsafe: every scalar stays text, so `match: True` is the predicate True, not a boolean.
  const { doc, lines, value } = readYaml(file, text, 'failsafe');
  const lineOf = (path: Array<string | number>) => {
    // The deepest node that exists along the path: a missing key is reported at its parent.
    for (let depth = path.length; depth >= 0; depth -= 1) {
      const node = doc.getIn(path.slice(0, depth), true) as Node | undefined;
      if (node?.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
  if (doc.contents === null) throw new ConfigError(file, 'empty policy: expected keys such as rules, containers, build-cache');
  const result = PolicyFile.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const key = issue.code === 'unrecognized_keys' ? [...path, issue.keys[0] as string] : path;
    const reason =
      issue.code === 'unrecognized_keys'
        ? `unknown key (known here: ${knownKeys(path).join(', ')})`
        : issue.code === 'invalid_union'
          ? (issue.errors.flat().find((e) => e.code === 'custom')?.message ?? issue.message)
          : issue.message;
    throw new ConfigError(file, reason, key.join('.') || undefined, lineOf(key));
  }
  return toLoadedPolicy(result.data, file, doc, lines, text);
}

function knownKeys(path: Array<string | number>): string[] {
  if (path[0] === 'containers') return Object.keys(PolicyFile.shape.containers.unwrap().shape);
  if (path[0] === 'build-cache') return Object.keys(PolicyFile.shape['build-cache'].unwrap().shape);
  if (path[0] === 'rules') return Object.keys(RuleEntry.shape);
  return Object.keys(PolicyFile.shape);
}

/** Rules from `rules:`; each `match:`/`action:` is parsed where it stands so errors get a column. */
function yamlRules(entries: PolicyFile['rules'], file: string, doc: Document, lines: LineCounter, text: string): Rule[] {
  const fileLines = text.split(/\r?\n/);
  return (entries ?? []).map((entry, i) => {
    const originOf = (key: 'match' | 'action') => {
      const node = doc.getIn(['rules', i, key], true);
      const offset = isScalar(node) && node.range ? node.range[0] + (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE' ? 1 : 0) : 0;
      const pos = lines.linePos(offset);
      return { source: file, line: pos.line, column: pos.col, lineText: fileLines[pos.line - 1] ?? '' };
    };
    const match = originOf('match');
    return {
      predicate: parsePredicate(entry.match, match),
      action: parseAction(entry.action, originOf('action')),
      origin: `${file}:${match.line}`,
      text: `${entry.match} : ${entry.action}`,
    };
  });
}

function toLoadedPolicy(data: PolicyFile, file: string, doc: Document, lines: LineCounter, text: string): LoadedPolicy {
  const { rules, containers, 'build-cache': buildCache, ...settings } = data;
  const keep = buildCache?.['keep-storage'];
  return {
    settings,
    policy: {
      source: file,
      rules: yamlRules(rules, file, doc, lines, text),
      containers: {
        removeExited: containers?.['remove-exited'] ?? DEFAULT_CONTAINER_POLICY.removeExited,
        graceMs: containers?.grace ?? DEFAULT_CONTAINER_POLICY.graceMs,
        excludeNames: containers?.['exclude-names'] ?? [],
        excludeImages: containers?.['exclude-images'] ?? [],
        removeVolumes: containers?.['remove-volumes'] ?? false,
      },
      buildCache: {
        pruneUnderPressure: buildCache?.['prune-under-pressure'] ?? false,
        keepStorageBytes: keep?.kind === 'bytes' ? keep.bytes : 0,
      },
    },
  };
}
