// The long-running agent: follows Docker events and, every interval and soon after pulls, reconciles,
// measures the disk and evicts while free space is below the low threshold.
import { setTimeout as sleep } from 'node:timers/promises';
import { detectJump, type ClockSample } from '../core/clock';
import { eventTimeMs, type DockerEvent } from '../core/image';
import { implausibleThresholds } from '../core/planner';
import { ConfigError, DockerUnreachableError, errorText } from '../errors';
import { runCheck, reconcileLogged, type CheckDeps } from '../eviction/check';
import { followEvents } from '../tracking/events';
import { noMetrics, type AgentMetrics } from './metrics';

export interface AgentDeps extends CheckDeps {
  /** Milliseconds that never jump (default performance.now): the reference for the wall clock. */
  monotonic?: () => number;
  /** How often the clocks are compared between checks (default 1 s). */
  clockWatchMs?: number;
  /** Takes the lock that keeps a second agent off the same engine (cli/run gives state/engine-lock). */
  lockEngine?: (engineId: string) => Promise<{ release(): void }>;
  metrics?: AgentMetrics;
}

/** How often the wall clock is compared with the monotonic one between checks. */
const CLOCK_WATCH_MS = 1000;

interface ClockWatch {
  /** Compares the clocks now and absorbs a jump before resolving; every check awaits it first. */
  settle(): Promise<void>;
  stop(): void;
}

/**
 * Watches for wall-clock jumps (a bad RTC fixed by NTP, an operator's `date -s`) and has the tracker
 * shift what it recorded before one. A check settles the clock before reading it: a check inside
 * the timer's second after a jump back would clamp every "future" time to now, and the jump could
 * no longer be told from the data (forwards, it would see recent images as days old).
 */
function watchClock(deps: AgentDeps): ClockWatch {
  const monotonic = deps.monotonic ?? (() => performance.now());
  let sample: ClockSample = { wallMs: deps.clock(), monoMs: monotonic() };
  const compare = async () => {
    const next = { wallMs: deps.clock(), monoMs: monotonic() };
    const jump = detectJump(sample, next);
    sample = next;
    if (jump === null) return;
    deps.log.warn('clock_jump', { skewMs: Math.round(jump.skewMs), direction: jump.skewMs > 0 ? 'forwards' : 'backwards' });
    try {
      const images = await deps.tracker.absorbClockJump(jump);
      deps.log.info('clock_jump_absorbed', { skewMs: Math.round(jump.skewMs), images });
    } catch (error) {
      deps.log.error('clock_jump_not_absorbed', { error: errorText(error) });
    }
  };
  // One comparison at a time, in order: the timer's and a check's never interleave.
  let last: Promise<void> = Promise.resolve();
  const settle = () => (last = last.then(compare));
  const timer = setInterval(() => void settle(), deps.clockWatchMs ?? CLOCK_WATCH_MS);
  timer.unref();
  return { settle, stop: () => clearInterval(timer) };
}

/** Resolves the filesystem to watch, waiting for Docker when the path comes from it. */
async function resolveDataRoot(deps: AgentDeps, signal: AbortSignal): Promise<string | null> {
  const configured = deps.config().dataRootPath;
  if (configured !== null) return configured;
  for (let delayMs = 500; !signal.aborted; delayMs = Math.min(delayMs * 2, 30_000)) {
    try {
      return await deps.docker.dataRoot();
    } catch (error) {
      deps.log.warn('docker_unreachable', { host: deps.docker.host, error: errorText(error), retryInMs: delayMs });
      await sleep(delayMs, undefined, { signal }).catch(() => undefined);
    }
  }
  return null;
}

/** Checks requested by events are held this long, so a burst of pulls costs one check. */
const EVENT_CHECK_DEBOUNCE_MS = 1000;
const CHECK_EVENTS = new Set(['image:pull', 'image:load', 'image:import', 'container:create']);

/** Runs the agent until `signal` aborts. */
export async function runAgent(deps: AgentDeps, signal: AbortSignal): Promise<void> {
  const resolved = await resolveDataRoot(deps, signal);
  if (resolved === null) return;
  const dataRoot: string = resolved;
  // Docker answered: a second agent on this engine (another --state, say) stops here, exit 4.
  const engineLock = deps.lockEngine === undefined ? null : await deps.lockEngine(await deps.docker.engineId());
  try {
    await followAndCheck(deps, dataRoot, signal);
  } finally {
    engineLock?.release();
  }
}

/** The agent's loop on one engine's data root: events, checks every interval and after pulls, until `signal` aborts. */
async function followAndCheck(deps: AgentDeps, dataRoot: string, signal: AbortSignal): Promise<void> {
  const { tracker, log } = deps;
  const metrics = deps.metrics ?? noMetrics;
  const started = deps.config();
  // A threshold above the disk's size, or a sliver of it, is a typo the agent must not run with.
  const [implausible] = implausibleThresholds(started, (await deps.measureDisk(dataRoot)).totalBytes);
  if (implausible !== undefined) throw new ConfigError('configuration', implausible.reason, implausible.key);
  const clockWatch = watchClock(deps);
  log.info('agent_started', { host: deps.docker.host, dataRoot, intervalMs: started.intervalMs, state: started.statePath });

  const reconcile = async (nowMs: number) => void (await reconcileLogged(deps, nowMs));
  // Said at the first check and whenever the list changes (a reload, images coming and going).
  let unmatchedSaid = '';
  const check = async () => {
    await clockWatch.settle();
    const report = await runCheck(deps, dataRoot, { lockWaitMs: 0 }, signal);
    const unmatched = JSON.stringify(report.unmatchedProtections);
    if (unmatched !== unmatchedSaid && report.unmatchedProtections.length > 0) {
      log.warn('protect_matches_nothing', { protections: report.unmatchedProtections, effect: 'these protect no image; check the patterns against `status`' });
    }
    unmatchedSaid = unmatched;
  };

  // One check at a time; a request during a check runs one more check after it.
  let checking: Promise<void> | null = null;
  let again = false;
  function requestCheck(): Promise<void> {
    if (checking) {
      again = true;
      return checking;
    }
    checking = (async () => {
      do {
        again = false;
        try {
          await check();
        } catch (error) {
          if (error instanceof DockerUnreachableError) metrics.setDockerReachable(false);
          log.warn('check_failed', { error: errorText(error) });
        }
      } while (again && !signal.aborted);
      checking = null;
    })();
    return checking;
  }

  let debounce: NodeJS.Timeout | null = null;
  const onEvent = (event: DockerEvent) => {
    metrics.observeEventLag(deps.clock() - eventTimeMs(event));
    if (!CHECK_EVENTS.has(`${event.type}:${event.action}`) || debounce) return;
    debounce = setTimeout(() => {
      debounce = null;
      void requestCheck();
    }, EVENT_CHECK_DEBOUNCE_MS);
  };

  const following = followEvents(
    { docker: deps.docker, store: deps.store, tracker, log, clock: deps.clock, onConnected: async () => void (await reconcile(deps.clock())), onEvent },
    signal,
  );
  while (!signal.aborted) {
    await requestCheck();
    await sleep(deps.config().intervalMs, undefined, { signal }).catch(() => undefined);
  }
  if (debounce) clearTimeout(debounce);
  clockWatch.stop();
  await checking;
  await following;
  log.info('agent_stopped', {});
}
