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
import { createGitlabClient, type GitlabClient, type GitlabScope } from '../gitlab/client';
import { scopeRepositories } from '../gitlab/scope';
import { loadGitlabToken } from '../gitlab/token';
import { createRegistryStore, type RegistryStore } from '../state/registry-store';
import { openDatabase } from '../state/store';
import { flagsFromOptions } from './context';

export interface RegistryContext {
  config: Config;
  log: Log;
  /** The registry as outputs name it and the state keys it: its URL (GitLab: the registry's, else the instance's). */
  name: string;
  /** The Distribution API; null for a GitLab scope given without `--registry`. */
  client: RegistryClient | null;
  /** GitLab's API and the project or group in scope; null: a Distribution registry. */
  gitlab: { client: GitlabClient; scope: GitlabScope } | null;
  /** Whether plan and status judge this repository: a GitLab scope's own (as of its last sync), else all. */
  inScope(repository: string): boolean;
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
  const gitlab = gitlabTarget(config);
  if (config.registryUrl === null && gitlab === null) {
    throw new ConfigError('configuration', 'required: --registry URL (or `registry:` in the config file), e.g. http://127.0.0.1:5000; or --gitlab URL with --project or --group', 'registry');
  }
  if (config.registryUrl === null && use === 'listen') throw new ConfigError('configuration', "required: --registry URL, the registry whose notifications arrive (GitLab's: its registry address)", 'registry');
  if (config.registryStoragePath !== null && !statSync(config.registryStoragePath, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ConfigError('configuration', `${config.registryStoragePath} is not a directory: give the registry's storage directory (its storage.filesystem.rootdirectory)`, 'registry-storage');
  }
  const auth = loadAuth(config.registryAuthFile, process.env);
  const token = gitlab === null || use === 'listen' ? null : loadGitlabToken(process.env);
  const listenToken = use === 'listen' ? loadToken(config.registryListenTokenFile) : null;
  if (use === 'read' && !existsSync(config.statePath)) {
    throw new ConfigError('configuration', `state database ${config.statePath} does not exist: run \`image-evictor registry sync\` first, or check --state`, 'state');
  }
  const log = createLog({ level: config.logLevel, format: config.logFormat, stream: use === 'listen' ? process.stdout : process.stderr });
  const clock = () => Date.now();
  // Keyed by the registry's URL when given, so pulls `registry listen` hears feed a GitLab scope's LRU.
  const name = config.registryUrl ?? (gitlab as { url: string }).url;
  const { db } = openDatabase(config.statePath, log, clock());
  const store = createRegistryStore(db, name);
  let inScope = (_repository: string) => true;
  if (gitlab !== null && token !== null && use === 'read') {
    const paths = scopeRepositories(store, gitlab.scope);
    if (paths === null) {
      store.close();
      throw new ConfigError('configuration', `${gitlab.scope.kind} ${gitlab.scope.id} of ${gitlab.url} was never synced into ${config.statePath}: run \`image-evictor registry sync\` first`, `gitlab-${gitlab.scope.kind}`);
    }
    const set = new Set(paths);
    inScope = (repository) => set.has(repository);
  }
  return {
    config,
    log,
    name,
    client: config.registryUrl === null ? null : createRegistryClient(config.registryUrl, auth),
    gitlab: gitlab === null || token === null ? null : { client: createGitlabClient(gitlab.url, token, { concurrency: config.gitlabConcurrency }), scope: gitlab.scope },
    inScope,
    store,
    clock,
    listenToken,
  };
}

/** The GitLab instance and scope configured, checked; null when none is. */
function gitlabTarget(config: Config): { url: string; scope: GitlabScope } | null {
  const { gitlabUrl, gitlabProject, gitlabGroup } = config;
  if (gitlabUrl === null) {
    if (gitlabProject !== null || gitlabGroup !== null) throw new ConfigError('configuration', 'a project or group needs --gitlab URL (or `gitlab:` in the config file)', 'gitlab');
    return null;
  }
  if (gitlabProject !== null && gitlabGroup !== null) throw new ConfigError('configuration', 'give --project or --group, not both', 'gitlab-group');
  if (gitlabProject === null && gitlabGroup === null) throw new ConfigError('configuration', 'required with --gitlab: --project ID|PATH or --group ID|PATH', 'gitlab-project');
  return { url: gitlabUrl, scope: gitlabProject !== null ? { kind: 'project', id: gitlabProject } : { kind: 'group', id: gitlabGroup as string } };
}

/** The Distribution API, for the commands that need it (gc, listen, a Distribution sync or apply). */
export function distributionClient(ctx: RegistryContext, command: string): RegistryClient {
  if (ctx.client !== null) return ctx.client;
  ctx.store.close();
  throw new ConfigError('configuration', `registry ${command} needs --registry URL`, 'registry');
}

/** Reads the rule file of `--rules` (either syntax); none: pressure eviction only. */
export function loadRules(file: string | undefined): Rule[] {
  return file === undefined ? [] : loadPolicy(file).policy.rules;
}
