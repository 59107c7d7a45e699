-- The registry side (agent/registry/): what `registry sync` crawled and `registry listen` heard,
-- per registry (its base URL), so one state can serve several registries.
-- A manifest is a (repository, digest): pulls by tag and by digest both count on it, as deleting
-- it removes every tag on it.
CREATE TABLE registry_manifests (
  registry      TEXT    NOT NULL,
  repository    TEXT    NOT NULL,
  digest        TEXT    NOT NULL,
  media_type    TEXT    NOT NULL,
  -- Bytes of the blobs it references (config and layers; an index: its children's), shared or not.
  size_bytes    INTEGER NOT NULL DEFAULT 0,
  -- Whether its blobs (or children) are recorded: a notification names a manifest, sync reads it.
  refs_known    INTEGER NOT NULL DEFAULT 0,
  -- Push time, else the first time sync saw it: image configs' `created` says 1970 in reproducible builds.
  pushed_ms     INTEGER NOT NULL,
  last_pull_ms  INTEGER,
  pulls         INTEGER NOT NULL DEFAULT 0,
  -- HEAD requests apart: scanners and `docker pull` of a present image ask only HEAD.
  last_head_ms  INTEGER,
  heads         INTEGER NOT NULL DEFAULT 0,
  deleted_ms    INTEGER,
  PRIMARY KEY (registry, repository, digest)
);
CREATE TABLE registry_tags (
  registry   TEXT    NOT NULL,
  repository TEXT    NOT NULL,
  tag        TEXT    NOT NULL,
  digest     TEXT    NOT NULL,
  PRIMARY KEY (registry, repository, tag)
);
CREATE INDEX registry_tags_digest ON registry_tags (registry, repository, digest);
-- Blobs each manifest references: what deleting it may free once no other manifest holds them.
CREATE TABLE registry_blobs (
  registry   TEXT    NOT NULL,
  repository TEXT    NOT NULL,
  manifest   TEXT    NOT NULL,
  blob       TEXT    NOT NULL,
  size_bytes INTEGER NOT NULL,
  PRIMARY KEY (registry, repository, manifest, blob)
);
CREATE INDEX registry_blobs_blob ON registry_blobs (registry, blob);
-- Children of an index (multi-arch): never deleted while a kept index needs them.
CREATE TABLE registry_children (
  registry   TEXT NOT NULL,
  repository TEXT NOT NULL,
  parent     TEXT NOT NULL,
  child      TEXT NOT NULL,
  PRIMARY KEY (registry, repository, parent, child)
);
CREATE INDEX registry_children_child ON registry_children (registry, repository, child);
-- Notification event IDs already applied: the registry retries deliveries.
CREATE TABLE registry_events_seen (
  id    TEXT    PRIMARY KEY,
  at_ms INTEGER NOT NULL
);
CREATE INDEX registry_events_seen_at ON registry_events_seen (at_ms);
