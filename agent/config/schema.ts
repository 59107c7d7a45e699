// The configuration's shape. One layer schema validates each source (file, env, flags) on its own,
// so an error can name where the bad value came from; the merged result is a `Config`.
import { z } from 'zod';
import { DEFAULT_ORDER_SETTING, EvictionOrder, OrderSetting } from '../core/order';
import { DEFAULT_POLICY, Policy } from '../core/policy';
import { LogFormat, LogLevel } from '../log';
import { parseDuration, parseSize, type SizeSpec } from '../core/units';

function fail(ctx: z.RefinementCtx, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
}

const Text = z.union([z.string(), z.number()]).transform((v) => String(v));

/** A duration written as text (`5m`); plain numbers are refused since their unit would be a guess. */
export const DurationField = Text.transform((text, ctx) => {
  const ms = parseDuration(text);
  return typeof ms === 'number' ? ms : fail(ctx, ms.error);
});

export const SizeField = Text.transform((text, ctx): SizeSpec => {
  const size = parseSize(text);
  return 'error' in size ? fail(ctx, size.error) : size;
});

export const RatioField = Text.transform((text, ctx) => {
  const size = parseSize(text);
  if ('error' in size) return fail(ctx, size.error);
  return size.kind === 'ratio' ? size.ratio : fail(ctx, `'${text}' must be a percentage such as 10%`);
});

export const BooleanField = z.union([
  z.boolean(),
  z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v)),
]);

/** A list given as a YAML sequence, or as comma-separated text in env vars and flags. */
export const ListField = z.union([
  z.array(z.string().min(1)),
  z.string().transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  ),
]);

/** `9707`, `:9707`, `127.0.0.1:9707`, `[::1]:9707`: the metrics endpoint. */
const ListenField = z
  .string()
  .regex(/^(?:(?:\[[^\]]+\]|[^:\s[\]]*):)?\d{1,5}$/, 'expected a port or host:port, e.g. 9707 or 127.0.0.1:9707')
  .refine((text) => {
    const port = Number(/(\d+)$/.exec(text)?.[1]);
    return port >= 1 && port <= 65535;
  }, 'the port must be from 1 to 65535, e.g. 9707');

/**
 * Where Docker listens, as Docker's own CLI writes it: `unix:///run/docker.sock` or
 * `tcp://host:2375`. A bare socket path is taken as `unix://` that path.
 */
export const DockerHostField = z
  .string()
  .min(1)
  .transform((text) => (text.startsWith('/') ? `unix://${text}` : text))
  .refine((text) => /^(unix:\/\/\/.+|(tcp|http):\/\/[^/\s]+)$/.test(text), 'expected unix:///path/to/docker.sock, a socket path, or tcp://host:port');

/** A registry's base URL: http(s)://host[:port][/path], no credentials in it (argv and logs show it). */
const RegistryUrlField = z
  .string()
  .min(1)
  .refine((text) => {
    try {
      const url = new URL(text);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '' && url.search === '';
    } catch {
      return false;
    }
  }, 'expected http://host:port or https://host, without credentials (use registry-auth-file)')
  .transform((text) => text.replace(/\/+$/, ''));

/** A duration that must be more than zero: a zero interval would check without pause. */
const PositiveDurationField = DurationField.refine((ms) => ms > 0, 'must be more than 0, e.g. 5m');

/** A whole number above zero, as YAML gives it or as text (env, flags). */
const CountField = Text.transform((text, ctx) => (/^[1-9]\d*$/.test(text.trim()) ? Number(text.trim()) : fail(ctx, `'${text}' must be a whole number above 0, e.g. 1000000`)));

/** `eviction-order`, with the valid names in the error (zod's union error would list two branches). */
const OrderField = z.string().transform((text, ctx) => {
  const parsed = OrderSetting.safeParse(text);
  return parsed.success ? parsed.data : fail(ctx, `unknown order '${text}'; valid: ${ORDER_NAMES}`);
});
export const ORDER_NAMES = ['auto', ...EvictionOrder.options].join(', ');


/** Keys as operators write them in config.yaml, IMAGE_EVICTOR_* (upper snake case) and flags. */
export const ConfigLayer = z
  .strictObject({
    'docker-host': DockerHostField,
    state: z.string().min(1),
    'log-level': LogLevel,
    'log-format': LogFormat,
    interval: PositiveDurationField,
    path: z.string().min(1),
    'low-free': SizeField,
    'target-free': SizeField,
    'low-free-inodes': RatioField,
    'target-free-inodes': RatioField,
    'min-age': DurationField,
    protect: ListField,
    'eviction-order': OrderField,
    history: PositiveDurationField,
    'history-max-events': CountField,
    'dry-run': BooleanField,
    'metrics-listen': ListenField,
    /** A policy file: YAML, or docker_gc rules. */
    policy: z.string().min(1),
    registry: RegistryUrlField,
    'registry-auth-file': z.string().min(1),
    'registry-storage': z.string().min(1),
    'registry-low-free': SizeField,
    'registry-target-free': SizeField,
    'registry-listen': ListenField,
    'registry-listen-token-file': z.string().min(1),
    'registry-ignore-user-agents': ListField,
    'registry-head-counts': BooleanField,
    'registry-unit': z.string().min(1),
    'registry-restart-command': z.string().min(1),
    'registry-gc-command': z.string().min(1),
    'registry-metrics-file': z.string().min(1),
    'registry-listen-in-run': BooleanField,
    gitlab: RegistryUrlField,
    'gitlab-project': z.string().trim().min(1),
    'gitlab-group': z.string().trim().min(1),
    'gitlab-concurrency': CountField.refine((n) => n <= 64, 'must be at most 64: more would load a GitLab instance others use'),
  })
  .partial();
export type ConfigLayer = z.infer<typeof ConfigLayer>;
export type ConfigKey = keyof ConfigLayer;
export const CONFIG_KEYS = Object.keys(ConfigLayer.shape) as ConfigKey[];

const SizeSpecSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('bytes'), bytes: z.number().int().nonnegative() }),
  z.object({ kind: z.literal('ratio'), ratio: z.number().min(0).max(1) }),
]);

export const Config = z.object({
  dockerHost: z.string(),
  statePath: z.string(),
  logLevel: LogLevel,
  logFormat: LogFormat,
  intervalMs: z.number().int().positive(),
  /** Filesystem to watch; null means Docker's own DockerRootDir. */
  dataRootPath: z.string().nullable(),
  lowFree: SizeSpecSchema,
  targetFree: SizeSpecSchema,
  lowFreeInodesRatio: z.number().min(0).max(1),
  targetFreeInodesRatio: z.number().min(0).max(1),
  minAgeMs: z.number().int().nonnegative(),
  protect: z.array(z.string()),
  evictionOrder: OrderSetting,
  /** How long the usage history is kept for `simulate` and `auto`. */
  historyMs: z.number().int().positive(),
  historyMaxEvents: z.number().int().positive(),
  dryRun: z.boolean(),
  /** Where to serve Prometheus metrics; null: not at all. */
  metricsListen: z.string().nullable(),
  policyPath: z.string().nullable(),
  /** Rules and hygiene, loaded from `policyPath`; the default has no rules and no hygiene. */
  policy: Policy,
  /** The registry the `registry` commands work on; null: none configured. */
  registryUrl: z.string().nullable(),
  registryAuthFile: z.string().nullable(),
  /** The registry's storage directory, where pressure and freed bytes are measured. */
  registryStoragePath: z.string().nullable(),
  /**
   * `registry apply` deletes under pressure when the storage has less free than this at its run,
   * and stops at the target. A host evicts every few minutes and wants a wide band; a registry
   * cleaned nightly needs only what the coming day's pushes take, so its target sits just above
   * its low: each byte deleted early is a tag kept a day less (bench/FINDINGS.md).
   */
  registryLowFree: SizeSpecSchema,
  registryTargetFree: SizeSpecSchema,
  /** Where `registry listen` receives notifications: loopback by default. */
  registryListen: z.string(),
  registryListenTokenFile: z.string().nullable(),
  /** User agents (substrings) whose pulls are not demand: scanners. Our own is always ignored. */
  registryIgnoreUserAgents: z.array(z.string()),
  /** Whether a HEAD on a manifest counts as a pull (it is recorded apart either way). */
  registryHeadCounts: z.boolean(),
  /** How `registry gc` restarts the registry: this systemd unit, unless a restart command is set. */
  registryUnit: z.string(),
  /** A command run with IMAGE_EVICTOR_REGISTRY_MODE=readonly|normal (a registry in a container, say). */
  registryRestartCommand: z.string().nullable(),
  registryGcCommand: z.string(),
  /** Where `registry apply` and `gc` write their figures for node_exporter's textfile collector; null: nowhere. */
  registryMetricsFile: z.string().nullable(),
  /** `run` also receives the registry's notifications, as `registry listen` would: one service on a host running both. */
  registryListenInRun: z.boolean(),
  /** A GitLab instance whose container registry the `registry` commands work on, through its API; null: a Distribution registry. */
  gitlabUrl: z.string().nullable(),
  /** The GitLab project (ID or full path) or group whose container repositories are in scope. */
  gitlabProject: z.string().nullable(),
  gitlabGroup: z.string().nullable(),
  /** GitLab API requests in flight at once: 8 by default, a guest's share of a shared instance (GitLab.com allows 2,000 a minute). */
  gitlabConcurrency: z.number().int().positive(),
});
export type Config = z.infer<typeof Config>;

/** Where each layer key lands in `Config`. */
export const KEY_TO_FIELD: Record<ConfigKey, keyof Config> = {
  'docker-host': 'dockerHost',
  state: 'statePath',
  'log-level': 'logLevel',
  'log-format': 'logFormat',
  interval: 'intervalMs',
  path: 'dataRootPath',
  'low-free': 'lowFree',
  'target-free': 'targetFree',
  'low-free-inodes': 'lowFreeInodesRatio',
  'target-free-inodes': 'targetFreeInodesRatio',
  'min-age': 'minAgeMs',
  protect: 'protect',
  'eviction-order': 'evictionOrder',
  history: 'historyMs',
  'history-max-events': 'historyMaxEvents',
  'dry-run': 'dryRun',
  'metrics-listen': 'metricsListen',
  policy: 'policyPath',
  registry: 'registryUrl',
  'registry-auth-file': 'registryAuthFile',
  'registry-storage': 'registryStoragePath',
  'registry-low-free': 'registryLowFree',
  'registry-target-free': 'registryTargetFree',
  'registry-listen': 'registryListen',
  'registry-listen-token-file': 'registryListenTokenFile',
  'registry-ignore-user-agents': 'registryIgnoreUserAgents',
  'registry-head-counts': 'registryHeadCounts',
  'registry-unit': 'registryUnit',
  'registry-restart-command': 'registryRestartCommand',
  'registry-gc-command': 'registryGcCommand',
  'registry-metrics-file': 'registryMetricsFile',
  'registry-listen-in-run': 'registryListenInRun',
  gitlab: 'gitlabUrl',
  'gitlab-project': 'gitlabProject',
  'gitlab-group': 'gitlabGroup',
  'gitlab-concurrency': 'gitlabConcurrency',
};

/** Built-in defaults; `dockerHost` is filled from DOCKER_HOST by the loader. */
export const DEFAULTS: Config = {
  dockerHost: 'unix:///var/run/docker.sock',
  statePath: '/var/lib/image-evictor/state.db',
  logLevel: 'info',
  logFormat: 'json',
  intervalMs: 5 * 60_000,
  dataRootPath: null,
  lowFree: { kind: 'ratio', ratio: 0.15 },
  targetFree: { kind: 'ratio', ratio: 0.25 },
  lowFreeInodesRatio: 0.05,
  targetFreeInodesRatio: 0.1,
  minAgeMs: 10 * 60_000,
  protect: [],
  evictionOrder: DEFAULT_ORDER_SETTING,
  historyMs: 30 * 86_400_000,
  // About 60 MB of SQLite; a busy runner's 30 days hold about 100,000.
  historyMaxEvents: 1_000_000,
  dryRun: false,
  metricsListen: null,
  policyPath: null,
  policy: DEFAULT_POLICY,
  registryUrl: null,
  registryAuthFile: null,
  registryStoragePath: null,
  registryLowFree: { kind: 'ratio', ratio: 0.15 },
  registryTargetFree: { kind: 'ratio', ratio: 0.16 },
  registryListen: '127.0.0.1:9708',
  registryListenTokenFile: null,
  // Vulnerability scanners that pull to scan (Harbor #15810), and GitLab reading manifests for its
  // UI and tag API (User-Agent GitLab/<version>): their pulls are not demand.
  registryIgnoreUserAgents: ['trivy', 'clair', 'grype', 'gitlab/'],
  registryHeadCounts: false,
  registryUnit: 'docker-registry.service',
  registryRestartCommand: null,
  // Debian's registry and its config; never with --delete-untagged (registry gc refuses it).
  registryGcCommand: 'docker-registry garbage-collect /etc/docker/registry/config.yml',
  registryMetricsFile: null,
  registryListenInRun: false,
  gitlabUrl: null,
  gitlabProject: null,
  gitlabGroup: null,
  gitlabConcurrency: 8,
};

export const DEFAULT_CONFIG_FILE = '/etc/image-evictor/config.yaml';
