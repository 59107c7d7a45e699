-- Each image's recent rate of use (core/usage.ts useScore): its uses, each halved every day since
-- (USE_SCORE_HALF_LIFE_MS), kept as of last_used_ms. Images already recorded start where steady use
-- at their lifetime rate would leave it (rate x half-life / ln 2, never above their use count), so
-- that the `learned` order does not take a busy service for a rarely used one until its next uses.
ALTER TABLE images ADD COLUMN use_score REAL NOT NULL DEFAULT 0;
UPDATE images SET use_score = MIN(use_count, use_count * 86400000.0 / 0.6931471805599453 / MAX(3600000, last_used_ms - first_seen_ms))
  WHERE last_used_ms IS NOT NULL AND use_count > 0;
