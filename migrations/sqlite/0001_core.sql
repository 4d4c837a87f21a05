-- Core schema: feeds, unique entries, and which feed carried which entry.
-- Dates are RFC 3339 text in UTC ("2026-06-15T18:23:24Z").

CREATE TABLE feeds (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,      -- as in the config file
    url              TEXT NOT NULL,
    active           INTEGER NOT NULL DEFAULT 1, -- 0 once removed from the config
    title            TEXT,                       -- the feed's own title
    site_url         TEXT,
    added_at         TEXT NOT NULL,
    last_fetch_at    TEXT,
    last_success_at  TEXT,
    last_status      TEXT,                       -- 'ok' or 'error'
    last_http_status INTEGER,
    last_error       TEXT,
    error_count      INTEGER NOT NULL DEFAULT 0, -- consecutive failed fetches
    last_new_entries INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE entries (
    id            INTEGER PRIMARY KEY,
    key           TEXT NOT NULL UNIQUE,  -- dedup key (README: "How dedup works")
    guid          TEXT,                  -- GUID / Atom id exactly as the feed gives it
    url           TEXT,
    title         TEXT,
    author        TEXT,
    published     TEXT,                  -- RFC 3339 UTC
    updated       TEXT,                  -- RFC 3339 UTC
    record_date   TEXT NOT NULL,         -- YYYY-MM-DD written in the record
    content_text  TEXT NOT NULL,         -- normalized text, paragraphs separated by a blank line
    content_hash  TEXT NOT NULL,         -- SHA-256 hex of content_text
    first_seen_at TEXT NOT NULL,
    record_path   TEXT                   -- record file relative to corpus_dir; NULL until durable
);

CREATE INDEX entries_published ON entries(published);
CREATE INDEX entries_pending ON entries(id) WHERE record_path IS NULL;

CREATE TABLE feed_entries (
    feed_id       INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    entry_id      INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (feed_id, entry_id)
) WITHOUT ROWID;

CREATE INDEX feed_entries_entry ON feed_entries(entry_id);
