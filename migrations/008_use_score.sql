-- Each image's recent rate of use (core/usage.ts useScore): its uses, each halved every day since
-- (USE_SCORE_HALF_LIFE_MS), kept as of last_used_ms. Images already recorded start from their
-- lifetime rate, as the score of a steady use at that rate would stand (rate x half-life / ln 2),
-- at most their use count: the `learned` order does not take a busy service for a new one.
ALTER TABLE images ADD COLUMN use_score REAL NOT NULL DEFAULT 0;
UPDATE images SET use_score = MIN(use_count, use_count * 86400000.0 / 0.6931471805599453 / MAX(3600000, last_used_ms - first_seen_ms))
  WHERE last_used_ms IS NOT NULL AND use_count > 0;
