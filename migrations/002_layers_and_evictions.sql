-- Layers of each image, keyed by chain ID so images that share a base share rows' keys.
-- They let the planner estimate what a removal really frees (bytes no remaining image holds).
CREATE TABLE image_layers (
  image_id   TEXT    NOT NULL,
  position   INTEGER NOT NULL,
  chain_id   TEXT    NOT NULL,
  size_bytes INTEGER NOT NULL,
  PRIMARY KEY (image_id, position)
);

-- One row per image the agent removed (or would have, in a dry run).
CREATE TABLE evictions (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms           INTEGER NOT NULL,
  image_id        TEXT    NOT NULL,
  tags            TEXT    NOT NULL DEFAULT '[]',
  last_used_ms    INTEGER,
  estimated_bytes INTEGER NOT NULL,
  measured_bytes  INTEGER,
  mode            TEXT    NOT NULL CHECK (mode IN ('normal', 'emergency', 'purge')),
  dry_run         INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX evictions_at ON evictions (at_ms);
