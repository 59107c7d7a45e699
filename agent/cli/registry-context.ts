// What every `registry` subcommand needs, built once from the configuration: the client, the
// registry's state, credentials, and the rule file when one is given.
import { existsSync, statSync } from 'node:fs';
import { loadConfig } from '../config/load';
import { loadPolicy } from '../config/policy-file';
import type { Config } from '../config/schema';
import type { Rule } from '../core/rules';
import { ConfigError } from '../errors';
import { createLog, type Log } from '../log';
import { loadAuth, loadToken } from '../registry/auth';
import { createRegistryClient, type RegistryClient } from '../registry/client';
import { createRegistryStore, type RegistryStore } from '../state/registry-store';
import { openDatabase } from '../state/store';
import { flagsFromOptions } from './context';

export interface RegistryContext {
  config: Config;
  log: Log;
  client: RegistryClient;
  store: RegistryStore;
  clock: () => number;
  /** The listener's bearer token, read from its file; null: none required. */
  listenToken: string | null;
}

/**
 * Loads the configuration and credentials (bad input fails here, before any request), then opens
 * the state. `read` commands need a state that exists: an empty one would show an empty registry.
 */
export function openRegistryContext(options: Record<string, unknown>, use: 'write' | 'read' | 'listen'): RegistryContext {
  const config = loadConfig({ configFile: options.config as string | undefined, env: process.env, flags: flagsFromOptions(options) });
  if (config.registryUrl === null) throw new ConfigError('configuration', 'required: --registry URL (or `registry:` in the config file), e.g. http://127.0.0.1:5000', 'registry');
  if (config.registryStoragePath !== null && !statSync(config.registryStoragePath, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ConfigError('configuration', `${config.registryStoragePath} is not a directory: give the registry's storage directory (its storage.filesystem.rootdirectory)`, 'registry-storage');
  }
  const auth = loadAuth(config.registryAuthFile, process.env);
  const listenToken = use === 'listen' ? loadToken(config.registryListenTokenFile) : null;
  if (use === 'read' && !existsSync(config.statePath)) {
    throw new ConfigError('configuration', `state database ${config.statePath} does not exist: run \`image-evictor registry sync\` first, or check --state`, 'state');
  }
  const log = createLog({ level: config.logLevel, format: config.logFormat, stream: use === 'listen' ? process.stdout : process.stderr });
  const clock = () => Date.now();
  const { db } = openDatabase(config.statePath, log, clock());
  return { config, log, client: createRegistryClient(config.registryUrl, auth), store: createRegistryStore(db, config.registryUrl), clock, listenToken };
}

/** Reads the rule file of `--rules` (either syntax); none: pressure eviction only. */
export function loadRules(file: string | undefined): Rule[] {
  return file === undefined ? [] : loadPolicy(file).policy.rules;
}
