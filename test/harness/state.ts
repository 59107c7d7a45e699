// Edits of a stopped agent's state DB for tests that need "long ago" without waiting for it: a
// test that sleeps past a short min-age depends on how fast the machine runs its next steps.
import BetterSqlite3 from 'better-sqlite3';
import { msToNano } from '../../agent/core/image';
import { waitFor } from './proc';

/** Moves every usage time of these images `byMs` into the past. The agent must not be running. */
export function backdateUsage(statePath: string, imageIds: string[], byMs: number): void {
  const db = new BetterSqlite3(statePath);
  try {
    const update = db.prepare(`
      UPDATE images SET first_seen_ms = first_seen_ms - @byMs, last_pulled_ms = last_pulled_ms - @byMs,
                        last_used_ms = last_used_ms - @byMs
      WHERE id = @id`);
    // The history says the same: what happened to these images happened that much earlier.
    const history = db.prepare('UPDATE history SET at_ms = at_ms - @byMs WHERE image_id = @id');
    db.transaction(() => {
      for (const id of imageIds) {
        if (update.run({ id, byMs }).changes !== 1) throw new Error(`backdateUsage: image ${id} is not in ${statePath}`);
        history.run({ id, byMs });
      }
    })();
  } finally {
    db.close();
  }
}

/**
 * Spaces a stopped agent's history out: the entries keep their order, now `gapMs` apart and ending
 * `endAgoMs` before now, as if the jobs had come over hours instead of seconds.
 */
export function spreadHistory(statePath: string, gapMs: number, endAgoMs: number): number {
  const db = new BetterSqlite3(statePath);
  try {
    const rows = db.prepare('SELECT seq FROM history ORDER BY seq').all() as Array<{ seq: number }>;
    const endMs = Date.now() - endAgoMs;
    const update = db.prepare('UPDATE history SET at_ms = ? WHERE seq = ?');
    db.transaction(() => rows.forEach((row, i) => update.run(endMs - (rows.length - 1 - i) * gapMs, row.seq)))();
    return rows.length;
  } finally {
    db.close();
  }
}

/** History rows of a state DB, oldest first. */
export function historyRows(statePath: string): Array<{ kind: string; image_id: string; at_ms: number }> {
  const db = new BetterSqlite3(statePath, { readonly: true });
  try {
    return db.prepare('SELECT kind, image_id, at_ms FROM history ORDER BY seq').all() as Array<{ kind: string; image_id: string; at_ms: number }>;
  } finally {
    db.close();
  }
}

/**
 * Copies a stopped agent's state DB to `to`, then repeats its history `rounds` times over (as if
 * the same jobs had run again and again) and spreads the whole of it `gapMs` apart, ending
 * `endAgoMs` before now; `auto`'s last choice and the learned model are dropped. Returns the
 * entries the copy's history then holds.
 */
export function repeatedHistory(from: string, to: string, rounds: number, gapMs: number, endAgoMs: number): number {
  const source = new BetterSqlite3(from, { readonly: true });
  try {
    source.prepare('VACUUM INTO ?').run(to);
  } finally {
    source.close();
  }
  const db = new BetterSqlite3(to);
  try {
    const rows = db.prepare('SELECT kind, image_id, repo_tags FROM history ORDER BY seq').all();
    const insert = db.prepare('INSERT INTO history (at_ms, kind, image_id, repo_tags) VALUES (0, @kind, @image_id, @repo_tags)');
    db.transaction(() => {
      for (let round = 1; round < rounds; round += 1) for (const row of rows) insert.run(row);
      // What was learned from the shorter history goes: the next check learns from this one.
      db.prepare("DELETE FROM meta WHERE key IN ('active_order', 'reuse_model')").run();
    })();
  } finally {
    db.close();
  }
  return spreadHistory(to, gapMs, endAgoMs);
}

/** The nanosecond time of the last event a (running or stopped) agent applied, or null. */
export function eventCursor(statePath: string): string | null {
  const db = new BetterSqlite3(statePath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT value FROM meta WHERE key = 'event_cursor_nano'").get() as { value: string } | undefined)?.value ?? null;
  } finally {
    db.close();
  }
}

/**
 * Waits until the agent has applied an event from `fromMs` on, and so every event before it (they
 * apply in order). A reconcile, which every interval also sees images and containers, cannot stand
 * in: a wait on what it also records can end before the events' own times are.
 */
export async function eventsAppliedFrom(statePath: string, fromMs: number): Promise<void> {
  const target = BigInt(msToNano(fromMs));
  await waitFor(`events from ${new Date(fromMs).toISOString()} applied`, () => {
    const cursor = eventCursor(statePath);
    return cursor !== null && BigInt(cursor) >= target ? true : undefined;
  });
}
