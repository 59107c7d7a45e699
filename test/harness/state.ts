// Edits of a stopped agent's state DB for tests that need "long ago" without waiting for it: a
// test that sleeps past a short min-age depends on how fast the machine runs its next steps.
import BetterSqlite3 from 'better-sqlite3';

/** Moves every usage time of these images `byMs` into the past. The agent must not be running. */
export function backdateUsage(statePath: string, imageIds: string[], byMs: number): void {
  const db = new BetterSqlite3(statePath);
  try {
    const update = db.prepare(`
      UPDATE images SET first_seen_ms = first_seen_ms - @byMs, last_pulled_ms = last_pulled_ms - @byMs,
                        last_used_ms = last_used_ms - @byMs
      WHERE id = @id`);
    db.transaction(() => {
      for (const id of imageIds) {
        if (update.run({ id, byMs }).changes !== 1) throw new Error(`backdateUsage: image ${id} is not in ${statePath}`);
      }
    })();
  } finally {
    db.close();
  }
}
