-- A feed's learned boilerplate model (JSON, several KB) moves out of its `feeds` row into a
-- table of its own. Every fetch updates the feed's row (status, times, validators) and SQLite
-- writes a whole row again on any update, so each 304 rewrote the model too; the model changes
-- only with a new document.
CREATE TABLE feed_boilerplate (
    feed_id INTEGER PRIMARY KEY REFERENCES feeds(id) ON DELETE CASCADE,
    model   TEXT NOT NULL -- JSON: per line key (16 hex digits of the SHA-256 of the normalized line) the number of recent entries it was in
);
INSERT INTO feed_boilerplate (feed_id, model)
    SELECT id, boilerplate FROM feeds WHERE boilerplate IS NOT NULL;
ALTER TABLE feeds DROP COLUMN boilerplate;
