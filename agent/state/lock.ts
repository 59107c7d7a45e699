// Host-wide locks next to the state DB, held through SQLite's exclusive file lock: the kernel drops
// it when the process dies, so a crash never leaves a stale lock behind.
import { chmodSync } from 'node:fs';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { errorText, StateError } from '../errors';

/** The lock is held by another process. */
export class LockHeldError extends Error {
  constructor(readonly path: string) {
    super(`lock ${path} is held by another image-evictor process`);
    this.name = 'LockHeldError';
  }
}

export interface Lock {
  readonly path: string;
  release(): void;
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

/**
 * Takes the lock at `path`, waiting up to `waitMs` (0: try once). The wait blocks the thread, so
 * only one-shot commands should wait; the agent tries and comes back at its next check.
 */
export function acquireLock(path: string, waitMs: number): Lock {
  let db: Database;
  try {
    db = new BetterSqlite3(path, { timeout: waitMs });
    chmodSync(path, 0o600);
  } catch (error) {
    throw new StateError(path, `cannot open lock file: ${errorText(error)}`);
  }
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // An exclusive transaction holds the file lock until release without writing a page, so the
    // lock can still be taken when the disk is full (exactly when eviction is needed).
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    if (isBusy(error)) throw new LockHeldError(path);
    throw new StateError(path, errorText(error));
  }
  return {
    path,
    release: () => {
      if (!db.open) return;
      db.exec('COMMIT');
      db.close();
    },
  };
}

/**
 * Creates the lock file now, while there is room: SQLite writes a header page when it first takes
 * a lock, which fails on a full disk. Taking it later writes nothing.
 */
export function prepareLockFile(path: string): void {
  try {
    acquireLock(path, 0).release();
  } catch (error) {
    // Held by another process: then the file exists already.
    if (!(error instanceof LockHeldError)) throw error;
  }
}

/** The lock a single `run` holds for as long as it runs. */
export function instanceLockPath(statePath: string): string {
  return `${statePath}.run.lock`;
}

/** The lock whoever is removing images holds: `run` during an eviction run, `purge` throughout. */
export function evictionLockPath(statePath: string): string {
  return `${statePath}.evict.lock`;
}
