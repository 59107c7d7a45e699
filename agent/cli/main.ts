#!/usr/bin/env node
// Command-line entry point: parses flags, maps errors to exit codes at the boundary.
import { Command, CommanderError, Option } from 'commander';
import { OrderSetting, EvictionOrder } from '../core/order';
import { ConfigError, errorText, RuleSyntaxError } from '../errors';
import { LockHeldError } from '../state/lock';
import { packageVersion } from '../paths';
import { openContext } from './context';
import { gcCommand } from './gc';
import { planCommand } from './plan';
import { policyCheckCommand, policyExplainCommand } from './policy';
import { purgeCommand } from './purge';
import { loadRules, openRegistryContext } from './registry-context';
import { checkGcSettings, registryGcCommand } from './registry-gc';
import { parseTagRefs, registryDeleteTagCommand } from './registry-delete-tag';
import { registryListenCommand } from './registry-listen';
import { registryPlanCommand } from './registry-plan';
import { registryStatusCommand } from './registry-status';
import { registrySyncCommand } from './registry-sync';
import { runCommand } from './run';
import { simulateCommand } from './simulate';
import { statusCommand } from './status';

const EXIT_CONFIG = 2;
const EXIT_LOCKED = 4;

function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('image-evictor')
    .description('Keeps the Docker image cache from filling the disk: evicts least-recently-used images, tracked from Docker events.')
    .version(packageVersion())
    // Usage errors (a bad flag value, an unknown option) are bad input too: exit 2, as config errors.
    .exitOverride()
    // Every setting applies to every command: `purge --help` must list --target-free.
    .configureHelp({ showGlobalOptions: true })
    .option('--config <file>', 'config file (default /etc/image-evictor/config.yaml if it exists)')
    .option('--docker-host <url>', 'Docker daemon (default $DOCKER_HOST, else unix:///var/run/docker.sock)')
    .option('--state <file>', 'state database (default /var/lib/image-evictor/state.db)')
    .addOption(new Option('--log-level <level>', 'log level (default info)').choices(['error', 'warn', 'info', 'debug']))
    .addOption(new Option('--log-format <format>', 'log format (default json)').choices(['json', 'text']))
    .option('--path <dir>', "filesystem to watch (default: Docker's DockerRootDir)")
    .option('--interval <duration>', 'how often to reconcile and check free space (default 5m)')
    .option('--low-free <size>', 'evict when free space falls below this: a size (20GB, 20GiB) or a percentage (default 15%)')
    .option('--target-free <size>', 'evict until this much is free: a size (30GB, 30GiB) or a percentage (default 25%)')
    .option('--low-free-inodes <percent>', 'evict when free inodes fall below this (default 5%)')
    .option('--target-free-inodes <percent>', 'evict until this share of inodes is free (default 10%)')
    .option('--min-age <duration>', 'never evict images pulled or used more recently (default 10m)')
    .option('--protect <globs>', 'comma-separated repo:tag globs evicted only in emergency mode')
    .addOption(
      new Option('--eviction-order <order>', 'which candidate goes first: auto learns it from this host\'s history (default auto; see README)').choices(['auto', ...EvictionOrder.options] satisfies OrderSetting[]),
    )
    .option('--history <duration>', 'how long to keep the usage history `simulate` and auto replay (default 30d)')
    .option('--history-max-events <n>', 'at most this many history events (default 1000000)')
    .option('--policy <file>', 'policy: YAML (.yaml/.yml) or docker_gc rules (`Predicate : Action` lines)');

  program
    .command('run')
    .description('track image usage from Docker events; evict least-recently-used images below the low threshold (long-running)')
    .option('--dry-run', 'log what would be removed; remove nothing')
    .option('--metrics-listen <addr>', 'serve Prometheus metrics at /metrics: a port (loopback) or host:port')
    .action(async (_options, command: Command) => setExit(await runCommand(await openContext(command.optsWithGlobals(), 'run'))));

  program
    .command('plan')
    .description('show the evictions the agent would carry out now, in order, with estimates (removes nothing)')
    .option('--json', 'print the plan as JSON')
    .action(async (options: { json?: boolean }, command: Command) =>
      setExit(await planCommand(await openContext(command.optsWithGlobals(), 'read'), options.json === true)),
    );

  program
    .command('purge')
    .description('evict now until --target-free is free (exit 3 if it cannot be reached)')
    .option('--emergency', 'include protected images, after all others')
    .option('--dry-run', 'print the plan only')
    .option('--docker-data-only', 'evict even without a state database, judging by Docker\'s data alone')
    .option('--json', 'print the result as JSON')
    .action(async (options: { emergency?: boolean; dryRun?: boolean; json?: boolean }, command: Command) => {
      // purge's --dry-run prints a plan; it is not the agent's dry-run setting.
      const { dryRun, ...globals } = command.optsWithGlobals();
      const ctx = await openContext(globals, dryRun === true ? 'read' : 'evict');
      setExit(await purgeCommand(ctx, { emergency: options.emergency === true, dryRun: dryRun === true, json: options.json === true }));
    });

  program
    .command('status')
    .description('show the disk and every tracked image, least recently used first')
    .option('--json', 'print the report as JSON')
    .action(async (options: { json?: boolean }, command: Command) =>
      setExit(await statusCommand(await openContext(command.optsWithGlobals(), 'read'), options.json === true)),
    );
  program
    .command('simulate')
    .description('replay this host\'s recorded history under every eviction order, plain LRU and the offline optimum: bytes each would have downloaded')
    .option('--since <duration>', 'how much history to replay', '7d')
    .option('--disk <size>', 'replay on a disk of this size instead of this one (e.g. 500GB)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { since: string; disk?: string; json?: boolean }, command: Command) => {
      const { json, since, disk, ...globals } = command.optsWithGlobals();
      setExit(await simulateCommand(await openContext(globals, 'read'), { since, disk, json: json === true || options.json === true }));
    });
  program
    .command('gc')
    .description('apply a rule file once, like docker_gc from cron: Delete rules now, container hygiene, LRU eviction if below low')
    .requiredOption('--rules <file>', 'rule file: docker_gc syntax, or a YAML policy')
    .option('--dry-run', 'print what would be removed; remove nothing')
    .option('--docker-data-only', 'run even without a state database, judging by Docker\'s data alone')
    .option('--json', 'print the result as JSON')
    .action(async (options: { rules: string; json?: boolean }, command: Command) => {
      const { json, rules, ...globals } = command.optsWithGlobals();
      setExit(await gcCommand(await openContext({ ...globals, policy: rules }, globals.dryRun === true ? 'read' : 'evict'), json === true || options.json === true));
    });

  const policy = program.command('policy').description('validate a policy file, or see how it classifies the current images');
  policy
    .command('check')
    .description('validate a policy or rule file (no Docker needed); errors give file:line:column')
    .argument('<file>')
    .action((file: string) => setExit(policyCheckCommand(file)));
  policy
    .command('explain')
    .description('for every current image: the rule that claims it and the resulting class and eviction rank')
    .argument('<file>')
    .option('--json', 'print as JSON')
    .action(async (file: string, options: { json?: boolean }, command: Command) => {
      const { json, ...globals } = command.optsWithGlobals();
      setExit(await policyExplainCommand(await openContext({ ...globals, policy: file }, 'read'), json === true || options.json === true));
    });

  const registry = program
    .command('registry')
    .description("the same rules and LRU on a registry: a Distribution registry (--registry), or a GitLab project's or group's container registry through GitLab's API (--gitlab)")
    .option('--registry <url>', 'the registry, e.g. http://127.0.0.1:5000 (credentials: --registry-auth-file or $IMAGE_EVICTOR_REGISTRY_AUTH)')
    .option('--gitlab <url>', 'a GitLab instance, e.g. https://gitlab.example.com (token: $GITLAB_TOKEN, or $CI_JOB_TOKEN in a job)')
    .option('--project <id|path>', 'with --gitlab: the project whose container repositories are judged')
    .option('--group <id|path>', 'with --gitlab: the group whose container repositories (all its projects\') are judged')
    .option('--gitlab-concurrency <n>', 'with --gitlab: API requests in flight at once, 1 to 64 (default 8)')
    .option('--registry-auth-file <file>', "credentials: one line 'basic USER:PASSWORD' or 'bearer TOKEN'")
    .option('--storage <dir>', "the registry's storage directory, where pressure and freed bytes are measured")
    .option('--storage-low-free <size>', 'apply deletes, least likely to be pulled again first, when --storage has less free than this: a size or a percentage (default 15%)')
    .option('--storage-target-free <size>', 'until this much would be free after gc: just above the low, for a nightly run (default 16%)')
    .option('--metrics-file <file>', "apply and gc write their figures here, for node_exporter's textfile collector");
  /** The registry group's short flags under their config keys' names. */
  const registryFlags = (opts: Record<string, unknown>) => {
    const { storage, storageLowFree, storageTargetFree, listen, tokenFile, ignoreUserAgents, headCounts, unit, restartCommand, gcCommand, metricsFile, project, group, lowFree, targetFree, ...rest } = opts;
    // The host's thresholds are global flags and would be taken silently, doing nothing here.
    if (lowFree !== undefined || targetFree !== undefined) {
      const flag = lowFree !== undefined ? 'low-free' : 'target-free';
      throw new ConfigError('command line', `--${flag} is the Docker host's threshold; the registry's storage takes --storage-${flag} (config key 'registry-${flag}')`, flag);
    }
    return {
      ...rest,
      registryLowFree: storageLowFree,
      registryTargetFree: storageTargetFree,
      gitlabProject: project,
      gitlabGroup: group,
      registryStorage: storage,
      registryListen: listen,
      registryListenTokenFile: tokenFile,
      registryIgnoreUserAgents: ignoreUserAgents,
      registryHeadCounts: headCounts,
      registryUnit: unit,
      registryRestartCommand: restartCommand,
      registryGcCommand: gcCommand,
      registryMetricsFile: metricsFile,
    };
  };
  registry
    .command('sync')
    .description("crawl the catalog and every tag: fills in what notifications missed (the registry loses queued ones on restart)")
    .option('--json', 'print the result as JSON')
    .action(async (_options, command: Command) => {
      const { json, ...opts } = command.optsWithGlobals();
      setExit(await registrySyncCommand(openRegistryContext(registryFlags(opts), 'write'), json === true));
    });
  registry
    .command('listen')
    .description("receive the registry's notifications (notifications.endpoints) and record pushes, pulls and deletes (long-running)")
    .option('--listen <addr>', 'where to listen: a port (loopback) or host:port (default 127.0.0.1:9708)')
    .option('--token-file <file>', "a bearer token the registry must send (its endpoint's Authorization header)")
    .option('--ignore-user-agents <list>', 'comma-separated user-agent substrings whose pulls are not demand (default trivy,clair,grype,gitlab/)')
    .addOption(new Option('--head-counts <bool>', 'whether a HEAD on a manifest counts as a pull (default false)').choices(['true', 'false']))
    .action(async (_options, command: Command) => setExit(await registryListenCommand(openRegistryContext(registryFlags(command.optsWithGlobals()), 'listen'))));
  registry
    .command('plan')
    .description('show what apply would delete: rules (--rules) per tag, and the least likely to be pulled again when --storage is below --storage-low-free (deletes nothing)')
    .option('--rules <file>', 'rule file: docker_gc syntax, or a YAML policy')
    .option('--json', 'print the plan as JSON')
    .action(async (_options, command: Command) => {
      const { json, rules, ...opts } = command.optsWithGlobals();
      const loaded = loadRules(rules as string | undefined);
      setExit(await registryPlanCommand(openRegistryContext(registryFlags(opts), 'read'), { rules: loaded, json: json === true, apply: false }));
    });
  registry
    .command('apply')
    .description('delete what plan shows; each digest is re-checked right before its delete (exit 3 if the registry refuses deletes)')
    .option('--rules <file>', 'rule file: docker_gc syntax, or a YAML policy')
    .option('--dry-run', 'print the plan only')
    .option('--json', 'print the result as JSON')
    .action(async (_options, command: Command) => {
      const { json, rules, dryRun, ...opts } = command.optsWithGlobals();
      const loaded = loadRules(rules as string | undefined);
      setExit(await registryPlanCommand(openRegistryContext(registryFlags(opts), 'read'), { rules: loaded, json: json === true, apply: dryRun !== true }));
    });
  registry
    .command('gc')
    .description('garbage-collect a local registry safely: read-only meanwhile, normal mode after, every kept tag checked, bytes freed measured (--storage)')
    .option('--unit <name>', 'the systemd unit to restart read-only and back (default docker-registry.service)')
    .option('--restart-command <cmd>', 'restart with this command instead, run with IMAGE_EVICTOR_REGISTRY_MODE=readonly|normal')
    .option('--gc-command <cmd>', 'the collection (default: docker-registry garbage-collect /etc/docker/registry/config.yml); --delete-untagged is refused')
    .option('--always', 'collect even when nothing was deleted since the last collection (skipped by default: pushes fail while read-only)')
    .option('--json', 'print the result as JSON')
    .action(async (_options, command: Command) => {
      const { json, always, ...opts } = command.optsWithGlobals();
      const ctx = openRegistryContext(registryFlags(opts), 'read');
      try {
        checkGcSettings(ctx.config);
      } catch (error) {
        ctx.store.close();
        throw error;
      }
      setExit(await registryGcCommand(ctx, { json: json === true, always: always === true }));
    });
  registry
    .command('delete-tag')
    .description('delete tags now, e.g. a review environment\'s when it stops; digest-safe (exit 3 if one is protected or held)')
    .argument('<ref...>', 'REPOSITORY:TAG, the registry host in front or not ($CI_REGISTRY_IMAGE:$CI_COMMIT_REF_SLUG)')
    .option('--json', 'print the outcomes as JSON')
    .action(async (refs: string[], _options, command: Command) => {
      const { json, ...opts } = command.optsWithGlobals();
      const parsed = parseTagRefs(refs);
      setExit(await registryDeleteTagCommand(openRegistryContext(registryFlags(opts), 'write'), parsed, json === true));
    });
  registry
    .command('status')
    .description('every manifest the state knows, least recently pulled first: class and rank, tags, size, push time, last pull, pulls')
    .option('--rules <file>', 'classify under this rule file (docker_gc syntax or YAML policy)')
    .option('--json', 'print the report as JSON')
    .action(async (_options, command: Command) => {
      const { json, rules, ...opts } = command.optsWithGlobals();
      const loaded = loadRules(rules as string | undefined);
      setExit(await registryStatusCommand(openRegistryContext(registryFlags(opts), 'read'), json === true, loaded));
    });
  return program;
}

async function main(): Promise<void> {
  let exitCode = 0;
  try {
    await buildProgram((code) => (exitCode = code)).parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander printed the message (or the help) already.
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_CONFIG;
      return;
    }
    exitCode = error instanceof ConfigError || error instanceof RuleSyntaxError ? EXIT_CONFIG : error instanceof LockHeldError ? EXIT_LOCKED : 1;
    const kind = error instanceof ConfigError ? 'config error: ' : error instanceof RuleSyntaxError ? 'rule error: ' : '';
    const hint = error instanceof LockHeldError ? ' (another image-evictor run or purge is active on this host)' : '';
    process.stderr.write(`image-evictor: ${kind}${errorText(error)}${hint}\n`);
  }
  process.exitCode = exitCode;
}

void main();
