-- Corpus quality: full article text, language, near-duplicate clusters, revisions.

ALTER TABLE entries ADD COLUMN content_html TEXT;       -- the body the record was made from (Markdown keeps its links)
ALTER TABLE entries ADD COLUMN feed_text TEXT;          -- the feed's own text when the record uses the article page's
ALTER TABLE entries ADD COLUMN feed_hash TEXT;          -- SHA-256 of the feed's own text (detects updates)
ALTER TABLE entries ADD COLUMN text_source TEXT NOT NULL DEFAULT 'feed'; -- 'feed' | 'page'
ALTER TABLE entries ADD COLUMN language TEXT;           -- ISO 639-1, NULL when undetected
ALTER TABLE entries ADD COLUMN fingerprint BLOB;        -- MinHash of content_text
ALTER TABLE entries ADD COLUMN cluster_id INTEGER;      -- near-duplicate cluster: id of its first entry
ALTER TABLE entries ADD COLUMN excluded TEXT;           -- why there is no record: 'language' | 'near-duplicate'
ALTER TABLE entries ADD COLUMN record_stale INTEGER NOT NULL DEFAULT 0; -- record to rewrite (on_update = "rewrite")
ALTER TABLE entries ADD COLUMN updated_at TEXT;         -- when the stored text last changed

UPDATE entries SET feed_hash = content_hash, cluster_id = id;

CREATE INDEX entries_cluster ON entries(cluster_id);

-- LSH band keys of each entry's fingerprint: entries sharing a key are near-duplicate candidates.
CREATE TABLE entry_bands (
    band     INTEGER NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    PRIMARY KEY (band, entry_id)
) WITHOUT ROWID;
CREATE INDEX entry_bands_entry ON entry_bands(entry_id);

-- Earlier versions of entries whose content changed.
CREATE TABLE entry_revisions (
    id           INTEGER PRIMARY KEY,
    entry_id     INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    title        TEXT,
    content_text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    replaced_at  TEXT NOT NULL
);
CREATE INDEX entry_revisions_entry ON entry_revisions(entry_id);

ALTER TABLE feeds ADD COLUMN boilerplate TEXT;          -- JSON: the feed's learned boilerplate lines

DROP INDEX entries_pending;
CREATE INDEX entries_pending ON entries(id) WHERE record_path IS NULL OR record_stale = 1;
