-- Each registry manifest's tag line (core/pull-model.ts tagLine: `dev-17` is in `dev-#`), kept
-- when its tags go, so that the pull model counts newer versions per line for deleted manifests
-- too. Set from the first tag the state sees on it; rows from before stay NULL and take their
-- line from the tags they still have when read.
ALTER TABLE registry_manifests ADD COLUMN line TEXT;
