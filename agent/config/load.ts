// Layers the configuration: defaults < config file < IMAGE_EVICTOR_* env vars < command-line flags.
// Each layer is validated on its own so an error names the file and line, variable or flag.
import { existsSync, readFileSync } from 'node:fs';
import { isMap, isScalar, type Pair } from 'yaml';
import type { z } from 'zod';
import type { SizeSpec } from '../core/units';
import { ConfigError } from '../errors';
import { loadPolicy } from './policy-file';
import { readYaml } from './yaml';
import {
  Config,
  ConfigLayer,
  type ConfigKey,
  CONFIG_KEYS,
  DEFAULT_CONFIG_FILE,
  DEFAULTS,
  DockerHostField,
  KEY_TO_FIELD,
} from './schema';

const ENV_PREFIX = 'IMAGE_EVICTOR_';
/** Env vars under our prefix that are not config keys but loader inputs. */
const ENV_CONFIG_FILE = `${ENV_PREFIX}CONFIG`;
/** Registry credentials (agent/registry/auth.ts reads them): a secret, so never a flag. */
const ENV_REGISTRY_AUTH = `${ENV_PREFIX}REGISTRY_AUTH`;

export interface LoadOptions {
  /** `--config FILE`; when absent, IMAGE_EVICTOR_CONFIG, else the default path if it exists. */
  configFile?: string;
  env: NodeJS.ProcessEnv;
  /** Flag values the user actually gave, keyed like the config file. */
  flags: Record<string, unknown>;
  /** Told of settings that do nothing (a config-file key its policy file overrides); default: stderr. */
  warn?: (message: string) => void;
}

/** Loads and validates the whole configuration, or throws a ConfigError naming the culprit. */
export function loadConfig(options: LoadOptions): Config {
  const merged: Record<string, unknown> = { ...DEFAULTS };
  if (options.env.DOCKER_HOST) {
    const host = DockerHostField.safeParse(options.env.DOCKER_HOST);
    if (!host.success) throw new ConfigError('environment variable DOCKER_HOST', `'${options.env.DOCKER_HOST}': ${host.error.issues[0]?.message ?? 'invalid'}`);
    merged.dockerHost = host.data;
  }

  const file = options.configFile ?? options.env[ENV_CONFIG_FILE];
  let fileLayer: ConfigLayer = {};
  if (file !== undefined) {
    if (!existsSync(file)) throw new ConfigError(file, 'config file does not exist');
    fileLayer = readConfigFile(file);
  } else if (existsSync(DEFAULT_CONFIG_FILE)) {
    fileLayer = readConfigFile(DEFAULT_CONFIG_FILE);
  }
  const env = envLayer(options.env);
  const flags = flagLayer(options.flags);
  // The policy's own thresholds sit between the config file and the env vars and flags.
  const policyFile = flags.policy ?? env.policy ?? fileLayer.policy;
  const loaded = policyFile === undefined ? null : loadPolicy(policyFile);
  if (loaded !== null) warnOverridden(fileLayer, loaded.settings, file ?? DEFAULT_CONFIG_FILE, policyFile as string, options.warn);
  for (const layer of [fileLayer, loaded?.settings ?? {}, env, flags]) applyLayer(merged, layer);
  if (loaded !== null) merged.policy = loaded.policy;

  const config = Config.parse(merged);
  checkThresholds(config);
  return config;
}

/**
 * A threshold written in config.yaml that the policy file sets otherwise does nothing (policies
 * layer over config.yaml): say so, or an operator tunes a value that is never used.
 */
function warnOverridden(fileLayer: ConfigLayer, policy: ConfigLayer, configFile: string, policyFile: string, warn: (message: string) => void = (message) => void process.stderr.write(`image-evictor: warning: ${message}\n`)): void {
  for (const key of CONFIG_KEYS) {
    const mine = fileLayer[key];
    const theirs = policy[key];
    if (mine === undefined || theirs === undefined || JSON.stringify(mine) === JSON.stringify(theirs)) continue;
    warn(`${configFile}: '${key}' is overridden by the policy file ${policyFile}, which sets it otherwise (a policy layers over the config file): set it in one place`);
  }
}

function applyLayer(merged: Record<string, unknown>, layer: ConfigLayer): void {
  for (const key of CONFIG_KEYS) {
    if (layer[key] !== undefined) merged[KEY_TO_FIELD[key]] = layer[key];
  }
}

/** Validates one source; `locate` maps a key to its line where the source has lines. */
function parseLayer(raw: unknown, source: string, locate: (key: string) => number | undefined): ConfigLayer {
  const result = ConfigLayer.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0] as z.core.$ZodIssue;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] as string;
    throw new ConfigError(source, `unknown key (known keys: ${CONFIG_KEYS.join(', ')})`, key, locate(key));
  }
  const key = String(issue.path[0] ?? '');
  return throwValueError(source, key, issue, locate(key));
}

function throwValueError(source: string, key: string, issue: z.core.$ZodIssue, line?: number): never {
  // zod's union errors say little; the custom messages from our parsers say what was expected.
  const reason =
    issue.code === 'invalid_union'
      ? (issue.errors.flat().find((e) => e.code === 'custom')?.message ?? 'invalid value')
      : issue.message;
  throw new ConfigError(source, reason, key, line);
}

/** Reads a YAML config file; syntax errors and bad keys come back with their line. */
function readConfigFile(file: string): ConfigLayer {
  const text = readFileSync(file, 'utf8');
  const { doc, lines, value } = readYaml(file, text);
  if (doc.contents === null) return {};
  if (!isMap(doc.contents)) throw new ConfigError(file, 'the top level must be a mapping of key: value');
  const keyLines = new Map<string, number>();
  for (const pair of doc.contents.items as Pair[]) {
    if (isScalar(pair.key) && pair.key.range) keyLines.set(String(pair.key.value), lines.linePos(pair.key.range[0]).line);
  }
  return parseLayer(value, file, (key) => keyLines.get(key));
}

/** IMAGE_EVICTOR_LOW_FREE=10% sets `low-free`; an unknown variable under our prefix is an error. */
function envLayer(env: NodeJS.ProcessEnv): ConfigLayer {
  const known = new Set<string>(CONFIG_KEYS);
  const raw: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || name === ENV_CONFIG_FILE || name === ENV_REGISTRY_AUTH || value === undefined) continue;
    const key = name.slice(ENV_PREFIX.length).toLowerCase().replace(/_/g, '-');
    if (!known.has(key)) throw new ConfigError(`environment variable ${name}`, `unknown setting (known keys: ${CONFIG_KEYS.join(', ')})`);
    raw[key] = value;
  }
  return parseLayer(raw, 'environment', () => undefined);
}

function flagLayer(flags: Record<string, unknown>): ConfigLayer {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) raw[key] = value;
  return parseLayer(raw, 'command line', () => undefined);
}

/** A target at or below its low threshold would stop eviction before it starts. */
function checkTargetAbove(low: SizeSpec, target: SizeSpec, lowKey: ConfigKey, targetKey: ConfigKey): void {
  // Bytes against a percentage can only be compared on a real filesystem; the agent checks those.
  const comparable = low.kind === target.kind;
  const above = low.kind === 'ratio' ? target.kind === 'ratio' && target.ratio > low.ratio : target.kind === 'bytes' && target.bytes > low.bytes;
  if (comparable && !above) {
    throw new ConfigError('configuration', `must be above '${lowKey}' (eviction starts below low and stops at target)`, targetKey);
  }
}

function checkThresholds(config: Config): void {
  checkTargetAbove(config.lowFree, config.targetFree, 'low-free', 'target-free');
  checkTargetAbove(config.registryLowFree, config.registryTargetFree, 'registry-low-free', 'registry-target-free');
  if (config.targetFreeInodesRatio <= config.lowFreeInodesRatio) {
    throw new ConfigError('configuration', "must be above 'low-free-inodes'", 'target-free-inodes');
  }
}
