-- Each manifest pull `registry listen` heard, kept for 30 days: what core/pull-model.ts learns from
-- which images of this registry will be pulled again (the manifests' own rows keep only the last).
CREATE TABLE registry_pulls (
  registry   TEXT    NOT NULL,
  repository TEXT    NOT NULL,
  digest     TEXT    NOT NULL,
  at_ms      INTEGER NOT NULL,
  -- A HEAD request; it counts only where the registry's settings say HEAD counts.
  head       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX registry_pulls_at ON registry_pulls (registry, at_ms);
