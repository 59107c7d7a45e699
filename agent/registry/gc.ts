// `registry gc`: garbage collection of a local Distribution registry, made safe. Pushes during
// `garbage-collect` corrupt images, so the registry runs read-only meanwhile; afterwards it is
// restarted in normal mode, which also empties its blob descriptor cache (it would otherwise claim
// that deleted layers still exist), and every kept tag is checked. Any failure restores normal
// mode; a run killed half-way leaves a mark in the state, and the next run restores first.
import { spawn } from 'node:child_process';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errorText } from '../errors';
import type { Log } from '../log';
import type { RegistryStore } from '../state/registry-store';
import type { RegistryClient } from './client';

export type RegistryMode = 'readonly' | 'normal';

/** How the registry is restarted in a mode: a systemd unit, or the operator's command. */
export interface Restarter {
  describe: string;
  restart(mode: RegistryMode): Promise<void>;
}

export interface GcResult {
  /** Bytes under the storage directory before and after, measured. */
  beforeBytes: number;
  afterBytes: number;
  freedBytes: number;
  durationMs: number;
  /** Kept tags whose manifest or a blob no longer answers after the collection: each one a broken pull. */
  brokenTags: string[];
  checkedTags: number;
  checkedBlobs: number;
  /** A previous run left the registry read-only; this run restored it first. */
  restoredFromEarlierRun: boolean;
}

/** Runs `command` with `/bin/sh -c`, its output to the log; rejects on a non-zero exit. */
export function runShell(command: string, env: NodeJS.ProcessEnv, log: Log, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', (error) => reject(new Error(`${what}: ${errorText(error)}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) {
        log.debug('registry_command_done', { what, output: tail.slice(-500) });
        resolve();
      } else reject(new Error(`${what} (${command}) exited with ${code ?? signal}: ${tail.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

/** A restarter running the operator's command with IMAGE_EVICTOR_REGISTRY_MODE=readonly|normal. */
export function commandRestarter(command: string, log: Log): Restarter {
  return {
    describe: `restart command: ${command}`,
    restart: (mode) => runShell(command, { IMAGE_EVICTOR_REGISTRY_MODE: mode, ...(mode === 'readonly' ? { REGISTRY_STORAGE_MAINTENANCE_READONLY: '{"enabled": true}' } : {}) }, log, `restart in ${mode} mode`),
  };
}

/** A restarter for a systemd unit: read-only mode is a runtime drop-in setting the registry's env override. */
export function systemdRestarter(unit: string, log: Log): Restarter {
  const dropIn = `/run/systemd/system/${unit}.d/image-evictor-readonly.conf`;
  const quoted = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;
  return {
    describe: `systemd unit ${unit}`,
    restart: (mode) =>
      runShell(
        mode === 'readonly'
          ? `mkdir -p ${quoted(`/run/systemd/system/${unit}.d`)} && printf '%s\\n' '[Service]' 'Environment=REGISTRY_STORAGE_MAINTENANCE_READONLY={"enabled":true}' > ${quoted(dropIn)} && systemctl daemon-reload && systemctl restart ${quoted(unit)}`
          : `rm -f ${quoted(dropIn)} && systemctl daemon-reload && systemctl restart ${quoted(unit)}`,
        {},
        log,
        `restart ${unit} in ${mode} mode`,
      ),
  };
}

/** Bytes of the files under `dir` (blocks, as on disk; not following links). */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(path);
    else total += (await lstat(path)).blocks * 512;
  }
  return total;
}

/** `--delete-untagged` deletes the children of multi-arch indexes on 2.x: never. */
export function checkGcCommand(command: string): string | null {
  return /(^|\s)(--delete-untagged|-m)(=|\s|$)/.test(command) ? 'never pass --delete-untagged (-m): on registry 2.x it deletes the images inside multi-arch indexes; untagged manifests are deleted by `registry apply` (Dangling : Delete)' : null;
}

/** Set while a run has the registry read-only (ISO time it began); left by a run killed half-way. */
export const READONLY_MARK = 'registry-gc-readonly';
/** When the last collection that ran to its end started (ISO time). */
export const COLLECTED_MARK = 'registry-gc-collected';

/**
 * Whether a collection has anything to do: only deleted manifests leave blobs for it (an untagged
 * manifest still holds its blobs, and `--delete-untagged` is refused). Null: collect, because a
 * run left the registry read-only, none ran to its end yet, or manifests were deleted since the
 * last one started (by apply, delete-tag, or anyone, as listen and sync record). Else the time of
 * the last one: skipping spares the read-only window, in which pushes fail.
 */
export function lastCollectionCovers(store: RegistryStore): number | null {
  if (store.mark(READONLY_MARK) !== null) return null;
  const collected = store.mark(COLLECTED_MARK);
  const collectedMs = collected === null ? NaN : Date.parse(collected);
  if (!Number.isFinite(collectedMs) || store.deletedSince(collectedMs) > 0) return null;
  return collectedMs;
}

export interface GcDeps {
  client: RegistryClient;
  store: RegistryStore;
  log: Log;
  clock: () => number;
  restarter: Restarter;
  gcCommand: string;
  storagePath: string;
  /** How long to wait for the registry to answer after a restart. */
  readyTimeoutMs?: number;
}

async function waitReady(client: RegistryClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      await client.ping();
      return;
    } catch (error) {
      last = error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error(`the registry did not answer within ${Math.round(timeoutMs / 1000)} s after its restart: ${errorText(last)}`);
}

export async function collectGarbage(deps: GcDeps): Promise<GcResult> {
  const { client, store, log, restarter } = deps;
  const readyMs = deps.readyTimeoutMs ?? 60_000;
  const started = deps.clock();
  let restoredFromEarlierRun = false;
  if (store.mark(READONLY_MARK) !== null) {
    log.warn('registry_gc_restoring', { registry: client.url, since: store.mark(READONLY_MARK), how: restarter.describe });
    await restarter.restart('normal');
    await waitReady(client, readyMs);
    store.setMark(READONLY_MARK, null);
    restoredFromEarlierRun = true;
  }
  const beforeBytes = await directoryBytes(deps.storagePath);
  store.setMark(READONLY_MARK, new Date(started).toISOString());
  try {
    log.info('registry_gc_readonly', { registry: client.url, how: restarter.describe });
    await restarter.restart('readonly');
    await waitReady(client, readyMs);
    await runShell(deps.gcCommand, {}, log, 'garbage-collect');
    store.setMark(COLLECTED_MARK, new Date(started).toISOString());
  } finally {
    // Normal mode again whatever happened; a failure here leaves the mark for the next run.
    await restarter.restart('normal');
    await waitReady(client, readyMs);
    store.setMark(READONLY_MARK, null);
    log.info('registry_gc_normal', { registry: client.url });
  }
  const afterBytes = await directoryBytes(deps.storagePath);
  // A pull needs the manifest and every blob: after a restart the registry answers from storage,
  // so a layer the collection took is seen missing here, before a runner sees it.
  const blobs = store.blobs();
  const brokenTags: string[] = [];
  let checkedTags = 0;
  let checkedBlobs = 0;
  for (const image of store.images()) {
    for (const tag of image.tags) {
      checkedTags += 1;
      const head = await client.headManifest(image.repository, tag);
      // Pushed again since the state learned it: another image, not a broken one.
      if (head !== null && head.digest !== image.manifest.digest) continue;
      let whole = head !== null;
      for (const blob of whole ? (blobs.get(`${image.repository}@${image.manifest.digest}`) ?? []) : []) {
        checkedBlobs += 1;
        if (!(await client.blobExists(image.repository, blob.digest))) whole = false;
      }
      if (!whole) brokenTags.push(`${image.repository}:${tag}`);
    }
  }
  const result = { beforeBytes, afterBytes, freedBytes: Math.max(0, beforeBytes - afterBytes), durationMs: deps.clock() - started, brokenTags, checkedTags, checkedBlobs, restoredFromEarlierRun };
  log.info('registry_gc_done', { registry: client.url, ...result, brokenTags: brokenTags.length });
  return result;
}
