-- Usage knowledge per image ID. Times are epoch milliseconds; lists are JSON arrays.
CREATE TABLE images (
  id             TEXT PRIMARY KEY,
  repo_tags      TEXT    NOT NULL DEFAULT '[]',
  repo_digests   TEXT    NOT NULL DEFAULT '[]',
  size_bytes     INTEGER NOT NULL DEFAULT 0,
  created_ms     INTEGER,
  first_seen_ms  INTEGER NOT NULL,
  last_pulled_ms INTEGER,
  last_used_ms   INTEGER,
  use_count      INTEGER NOT NULL DEFAULT 0,
  removed_ms     INTEGER
);

-- Live images are what every cycle reads.
CREATE INDEX images_live ON images (removed_ms) WHERE removed_ms IS NULL;

-- Small agent state, such as the Docker event cursor.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
