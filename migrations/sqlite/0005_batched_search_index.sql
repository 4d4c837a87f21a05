-- New entries reach the full-text index once per write transaction (the store inserts them
-- after the entries), not through a per-row trigger: FTS5 flushes its buffer at every
-- statement savepoint, so the trigger cost one index segment per entry. Updates and deletes
-- still go through triggers.
DROP TRIGGER entries_fts_insert;

-- Band keys without a foreign key or an index by entry: each new entry adds 64 rows at random
-- places of this table, and the checks and the second index doubled what that costs. Rows of
-- deleted entries may stay behind; they are never candidates (the entry's row is gone) and
-- `DELETE FROM entry_bands WHERE entry_id NOT IN (SELECT id FROM entries)` clears them.
CREATE TABLE entry_bands_lean (
    band     INTEGER NOT NULL,
    entry_id INTEGER NOT NULL,
    PRIMARY KEY (band, entry_id)
) WITHOUT ROWID;
INSERT INTO entry_bands_lean (band, entry_id) SELECT band, entry_id FROM entry_bands;
DROP TABLE entry_bands;
ALTER TABLE entry_bands_lean RENAME TO entry_bands;

-- Lookups that must not read whole rows: the record paths a poll checks against the corpus
-- folder, and the text hash of known entries (columns stored after the article text, which
-- otherwise means reading every overflow page of every row).
CREATE INDEX entries_record_path ON entries(record_path) WHERE record_path IS NOT NULL;
CREATE INDEX entries_key_state ON entries(key, feed_hash, text_source);
