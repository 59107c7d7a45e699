// What every command needs, built once from the configuration: log, Docker client, store, tracker.
import { existsSync } from 'node:fs';
import { loadConfig } from '../config/load';
import { CONFIG_KEYS, type Config } from '../config/schema';
import { msToNano } from '../core/image';
import { measureDisk } from '../disk/disk';
import { createDockerClient, type DockerClient } from '../docker/client';
import type { CheckDeps } from '../eviction/check';
import { replayInChild } from '../eviction/learn-process';
import { ConfigError, errorText } from '../errors';
import { createLog, type Log } from '../log';
import { openMemoryStore, openStore, type Store } from '../state/store';
import { ingest } from '../tracking/events';
import { createTracker, type Tracker } from '../tracking/tracker';

export interface CommandContext {
  config: Config;
  log: Log;
  docker: DockerClient;
  store: Store;
  tracker: Tracker;
  clock: () => number;
  /** The state database's file; null when the store lives in memory (no state yet). */
  stateFile: string | null;
  /** Loads the configuration again from the same file, environment and flags (throws if invalid). */
  reloadConfig: () => Config;
}

/** A check's dependencies from a command's context, with the configuration `config` returns in force. */
export function checkDeps(ctx: CommandContext, config: () => Config = () => ctx.config): CheckDeps {
  return {
    config,
    docker: ctx.docker,
    store: ctx.store,
    tracker: ctx.tracker,
    log: ctx.log,
    measureDisk,
    clock: ctx.clock,
    ...(ctx.stateFile === null ? {} : { replayer: replayInChild(ctx.stateFile) }),
  };
}

/** The filesystem to watch: the configured path, else Docker's data root. */
export async function dataRootOf(ctx: CommandContext): Promise<string> {
  return ctx.config.dataRootPath ?? ctx.docker.dataRoot();
}

/** Commander's camelCase option names back to config keys (`dockerHost` -> `docker-host`). */
export function flagsFromOptions(options: Record<string, unknown>): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const camel = key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (options[camel] !== undefined) flags[key] = options[camel];
  }
  return flags;
}

/** How far back a command without history asks Docker for events (Docker keeps its last 256 anyway). */
const RECENT_EVENTS_MS = 3_600_000;

/**
 * Without the agent's history, what Docker still remembers stands in for it: an image pulled a
 * minute ago must be young for `gc`, `purge` and `plan` too, not as old as its build.
 */
async function learnRecentEvents(docker: DockerClient, tracker: Tracker, nowMs: number): Promise<void> {
  try {
    await ingest(tracker, await docker.eventsBetween(msToNano(nowMs - RECENT_EVENTS_MS), msToNano(nowMs)));
  } catch {
    // Docker unreachable: each command says so itself when it asks for the inventory.
  }
}

/**
 * How a command uses the state: `run` keeps it (and creates it); `read` commands show what is
 * there, or Docker's data alone when nothing is; `evict` commands refuse to evict without the
 * agent's history unless told to judge by Docker's data alone (`--docker-data-only`).
 */
export type StateUse = 'run' | 'read' | 'evict';

/**
 * Loads the configuration (throwing before anything touches Docker), then opens the edges.
 * `run` sends logs to stdout for journald; one-shot commands keep stdout for their output.
 */
export async function openContext(options: Record<string, unknown>, use: StateUse): Promise<CommandContext> {
  const reloadConfig = () =>
    loadConfig({ configFile: options.config as string | undefined, env: process.env, flags: flagsFromOptions(options) });
  const config = reloadConfig();
  const log = createLog({ level: config.logLevel, format: config.logFormat, stream: use === 'run' ? process.stdout : process.stderr });
  const clock = () => Date.now();
  const docker = createDockerClient(config.dockerHost);
  if (use !== 'run' && !existsSync(config.statePath)) {
    if (use === 'evict' && options.dockerDataOnly !== true) {
      throw new ConfigError(
        'configuration',
        `state database ${config.statePath} does not exist: without the agent's history, images pulled minutes ago look as old as their build. Check --state, or pass --docker-data-only to judge by Docker's data alone`,
        'state',
      );
    }
    process.stderr.write(`image-evictor: no state database at ${config.statePath}: judging by Docker's data alone (nothing is created)\n`);
    const store = openMemoryStore(log, clock());
    const tracker = createTracker({ docker, store, log });
    await learnRecentEvents(docker, tracker, clock());
    return { config, log, docker, store, tracker, clock, stateFile: null, reloadConfig };
  }
  const { store, movedAsideTo } = openStore(config.statePath, log, clock());
  const tracker = createTracker({ docker, store, log });
  if (movedAsideTo !== null) {
    try {
      const { survey } = await tracker.reconcile(clock());
      log.warn('state_db_rebuilt', { path: config.statePath, images: survey.dockerImageCount, damagedCopy: movedAsideTo });
    } catch (error) {
      log.error('state_db_rebuild_deferred', { path: config.statePath, error: errorText(error) });
    }
  }
  return { config, log, docker, store, tracker, clock, stateFile: config.statePath, reloadConfig };
}
