// Prometheus metrics (prom-client) and the small HTTP endpoint that serves them.
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EvictionMode } from '../core/eviction';
import type { CheckObserver } from '../eviction/check';
import { listenOn } from '../listen';
import type { Log } from '../log';

/** What the agent reports: its checks, and how late events arrive; the no-op version stands in when metrics are off. */
export interface AgentMetrics extends CheckObserver {
  observeEventLag(lagMs: number): void;
}

export const noMetrics: AgentMetrics = {
  observeCheck: () => {},
  observeOutcomes: () => {},
  setDockerReachable: () => {},
  observeOrder: () => {},
  observeEventLag: () => {},
  observeCheckDuration: () => {},
};

/** The agent's own modes; purges run in their own process and are counted in the evictions table. */
const AGENT_MODES: EvictionMode[] = ['normal', 'emergency'];

/** A registry with the agent's metrics and Node's process metrics. */
export function createMetrics(): { metrics: AgentMetrics; registry: Registry } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const gauge = (name: string, help: string) => new Gauge({ name: `image_evictor_${name}`, help, registers: [registry] });
  const freeBytes = gauge('free_bytes', 'Free bytes on the Docker data-root filesystem');
  const freeRatio = gauge('free_ratio', 'Free share (0-1) of the Docker data-root filesystem');
  const freeInodesRatio = gauge('free_inodes_ratio', 'Free share (0-1) of inodes on the Docker data-root filesystem');
  const lowBytes = gauge('low_free_bytes', 'Free bytes below which eviction starts');
  const targetBytes = gauge('target_free_bytes', 'Free bytes at which eviction stops');
  const tracked = gauge('tracked_images', 'Images present in Docker and tracked');
  const protectedImages = gauge('protected_images', 'Evictable images kept for emergencies (protected)');
  const emergency = gauge('emergency_active', '1 while the last check needed protected images to get back to low');
  const lastCheck = gauge('last_check_timestamp_seconds', 'When the last check ran (Unix time)');
  const reachable = gauge('docker_reachable', '1 if the last check reached Docker');
  const eventLag = gauge('event_lag_seconds', 'Delay between the last Docker event and its application');
  const order = new Gauge({
    name: 'image_evictor_eviction_order',
    help: '1 for the eviction order in force; setting is `auto` when the agent chose it from its history',
    labelNames: ['order', 'setting'],
    registers: [registry],
  });
  const historyEvents = gauge('history_events', 'Usage history events kept for simulate and the auto order');
  const evictions = new Counter({ name: 'image_evictor_evictions_total', help: 'Images removed, by mode', labelNames: ['mode'], registers: [registry] });
  const reclaimed = new Counter({ name: 'image_evictor_reclaimed_bytes_total', help: 'Free bytes gained by removals (measured), by mode', labelNames: ['mode'], registers: [registry] });
  // A check is a reconcile and a statfs (tens of ms), up to minutes when it removes many images.
  const checkDuration = new Histogram({ name: 'image_evictor_check_duration_seconds', help: 'How long each check took, evictions included', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180], registers: [registry] });
  // Zero series from the start, so rate() and alerts work before the first eviction.
  for (const mode of AGENT_MODES) {
    evictions.inc({ mode }, 0);
    reclaimed.inc({ mode }, 0);
  }
  const metrics: AgentMetrics = {
    observeCheck: (nowMs, disk, plan, trackedImages) => {
      freeBytes.set(disk.freeBytes);
      freeRatio.set(disk.freeRatio);
      freeInodesRatio.set(disk.freeInodesRatio);
      lowBytes.set(plan.lowBytes);
      targetBytes.set(plan.targetBytes);
      tracked.set(trackedImages);
      protectedImages.set(plan.ranking.filter((r) => r.class === 'protected').length);
      emergency.set(plan.emergency ? 1 : 0);
      lastCheck.set(nowMs / 1000);
    },
    observeCheckDuration: (seconds) => checkDuration.observe(seconds),
    observeOrder: (active, setting, events) => {
      order.reset();
      order.set({ order: active, setting }, 1);
      historyEvents.set(events);
    },
    observeOutcomes: (outcomes) => {
      for (const o of outcomes.filter((x) => x.result === 'removed')) {
        evictions.inc({ mode: o.mode });
        reclaimed.inc({ mode: o.mode }, Math.max(0, o.measuredBytes ?? 0));
      }
    },
    setDockerReachable: (ok) => reachable.set(ok ? 1 : 0),
    observeEventLag: (lagMs) => eventLag.set(Math.max(0, lagMs) / 1000),
  };
  return { metrics, registry };
}

/** Serves /metrics until closed. */
export async function serveMetrics(registry: Registry, listen: string, log: Log): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('see /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
  });
  const address = await listenOn(server, listen, 'metrics-listen');
  log.info('metrics_listening', { address });
  return server;
}
