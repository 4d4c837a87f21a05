-- A feed's learned boilerplate model (JSON, several KB) moves out of its `feeds` row into a
-- table of its own, as on SQLite: every fetch updates the feed's row, the model changes only
-- with a new document.
CREATE TABLE feed_boilerplate (
    feed_id bigint PRIMARY KEY REFERENCES feeds (id) ON DELETE CASCADE,
    model   text NOT NULL -- JSON: per line key (16 hex digits of the SHA-256 of the normalized line) the number of recent entries it was in
);
INSERT INTO feed_boilerplate (feed_id, model)
    SELECT id, boilerplate FROM feeds WHERE boilerplate IS NOT NULL;
ALTER TABLE feeds DROP COLUMN boilerplate;
