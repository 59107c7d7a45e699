-- Delete rules remove images as hygiene, without pressure: the evictions table records them with
-- mode 'hygiene'. SQLite cannot alter a CHECK constraint, so the table is rebuilt with its rows.
CREATE TABLE evictions_new (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms           INTEGER NOT NULL,
  image_id        TEXT    NOT NULL,
  tags            TEXT    NOT NULL DEFAULT '[]',
  last_used_ms    INTEGER,
  estimated_bytes INTEGER NOT NULL,
  measured_bytes  INTEGER,
  mode            TEXT    NOT NULL CHECK (mode IN ('hygiene', 'normal', 'emergency', 'purge')),
  dry_run         INTEGER NOT NULL DEFAULT 0
);
INSERT INTO evictions_new SELECT * FROM evictions;
DROP TABLE evictions;
ALTER TABLE evictions_new RENAME TO evictions;
CREATE INDEX evictions_at ON evictions (at_ms);
