-- The usage history: what the agent observed happen to images, in order (core/history.ts). It
-- lets `simulate` and the `auto` eviction order replay this runner's past through the planner.
-- Bounded: rows older than the `history` window, or beyond `history-max-events`, are deleted,
-- and so are the records of removed images no remaining row names.
CREATE TABLE history (
  seq       INTEGER PRIMARY KEY,
  at_ms     INTEGER NOT NULL,
  kind      TEXT    NOT NULL CHECK (kind IN ('pull', 'use', 'remove')),
  image_id  TEXT    NOT NULL,
  -- A pull's tags at the time, as a JSON array; '[]' otherwise.
  repo_tags TEXT    NOT NULL DEFAULT '[]'
);
CREATE INDEX history_at ON history (at_ms);
CREATE INDEX history_image ON history (image_id);
-- Compaction looks only at images removed before the window: no entry in it can name them.
CREATE INDEX images_removed ON images (removed_ms) WHERE removed_ms IS NOT NULL;

-- What the records already know starts the history: each image's last pull, last use, removal.
INSERT INTO history (at_ms, kind, image_id, repo_tags)
  SELECT at_ms, kind, image_id, repo_tags FROM (
    SELECT last_pulled_ms AS at_ms, 'pull' AS kind, id AS image_id, repo_tags, 0 AS k FROM images WHERE last_pulled_ms IS NOT NULL
    UNION ALL SELECT last_used_ms, 'use', id, '[]', 1 FROM images WHERE last_used_ms IS NOT NULL
    UNION ALL SELECT removed_ms, 'remove', id, '[]', 2 FROM images WHERE removed_ms IS NOT NULL
  ) ORDER BY at_ms, k;
