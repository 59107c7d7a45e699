// `run`: the long-running agent, stopped cleanly by SIGTERM or SIGINT, reloaded by SIGHUP.
import type { Server } from 'node:http';
import { runAgent } from '../service/agent';
import { createMetrics, serveMetrics, type AgentMetrics } from '../service/metrics';
import { lockEngine } from '../state/engine-lock';
import { acquireLock, evictionLockPath, instanceLockPath, prepareLockFile } from '../state/lock';
import { ConfigError, errorText } from '../errors';
import { loadToken } from '../registry/auth';
import { startListener, type Listener } from '../registry/listen';
import { createRegistryStore, type RegistryStore } from '../state/registry-store';
import { openDatabase } from '../state/store';
import { checkDeps, type CommandContext } from './context';

/** `registry-listen-in-run`: the notification receiver in this process, on its own connection to the state. */
async function startRegistryListener(ctx: CommandContext): Promise<{ listener: Listener; store: RegistryStore } | null> {
  const { config } = ctx;
  if (!config.registryListenInRun) return null;
  if (config.registryUrl === null) throw new ConfigError('configuration', 'registry-listen-in-run needs `registry` (the registry whose notifications these are)', 'registry');
  const token = loadToken(config.registryListenTokenFile);
  const store = createRegistryStore(openDatabase(config.statePath, ctx.log, ctx.clock()).db, config.registryUrl);
  try {
    const listener = await startListener({ listen: config.registryListen, token, store, filter: { ignoreUserAgents: config.registryIgnoreUserAgents }, log: ctx.log });
    return { listener, store };
  } catch (error) {
    store.close();
    throw error;
  }
}

/** Runs the agent until a termination signal; returns the exit code. */
export async function runCommand(ctx: CommandContext): Promise<number> {
  // Held until exit; the kernel releases it if the process dies.
  const instance = acquireLock(instanceLockPath(ctx.config.statePath), 0);
  prepareLockFile(evictionLockPath(ctx.config.statePath));
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    ctx.log.info('shutdown_requested', { signal });
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let config = ctx.config;
  process.on('SIGHUP', () => {
    try {
      const next = ctx.reloadConfig();
      // The Docker connection and the state DB are opened once; they change only with a restart.
      const needRestart = (['dockerHost', 'statePath', 'dataRootPath'] as const).filter((key) => next[key] !== config[key]);
      if (needRestart.length > 0) ctx.log.warn('config_reload_needs_restart', { keys: needRestart });
      config = next;
      ctx.log.info('config_reloaded', { protect: next.protect, lowFree: next.lowFree, targetFree: next.targetFree, intervalMs: next.intervalMs });
    } catch (error) {
      ctx.log.error('config_reload_failed', { error: errorText(error), action: 'keeping the configuration in force' });
    }
  });
  let metrics: AgentMetrics | undefined;
  let server: Server | undefined;
  let registry: Awaited<ReturnType<typeof startRegistryListener>> = null;
  try {
    registry = await startRegistryListener(ctx);
    if (ctx.config.metricsListen !== null) {
      const created = createMetrics();
      metrics = created.metrics;
      server = await serveMetrics(created.registry, ctx.config.metricsListen, ctx.log);
    }
    await runAgent({ ...checkDeps(ctx, () => config), metrics, lockEngine }, stop.signal);
  } finally {
    server?.close();
    await registry?.listener.close();
    registry?.store.close();
    ctx.store.close();
    instance.release();
  }
  return 0;
}
