-- Full-text search over title and text, kept in sync by triggers, and views for common questions.

CREATE VIRTUAL TABLE entries_fts USING fts5(
    title,
    content_text,
    content = 'entries',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO entries_fts (rowid, title, content_text)
    SELECT id, coalesce(title, ''), content_text FROM entries;

CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entries_fts (rowid, title, content_text)
        VALUES (new.id, coalesce(new.title, ''), new.content_text);
END;

CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, title, content_text)
        VALUES ('delete', old.id, coalesce(old.title, ''), old.content_text);
END;

CREATE TRIGGER entries_fts_update AFTER UPDATE OF title, content_text ON entries BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, title, content_text)
        VALUES ('delete', old.id, coalesce(old.title, ''), old.content_text);
    INSERT INTO entries_fts (rowid, title, content_text)
        VALUES (new.id, coalesce(new.title, ''), new.content_text);
END;

-- Every entry with every feed that carried it.
CREATE VIEW entries_with_feeds AS
SELECT e.id, e.key, e.published, e.record_date, e.title, e.author, e.url, e.record_path,
       f.id AS feed_id, f.name AS feed, fe.first_seen_at AS seen_at
FROM entries e
JOIN feed_entries fe ON fe.entry_id = e.id
JOIN feeds f ON f.id = fe.feed_id;

-- Entries per feed and publication day (the day written in the record).
CREATE VIEW feed_daily_counts AS
SELECT f.name AS feed, e.record_date AS day, count(*) AS entries
FROM feed_entries fe
JOIN feeds f ON f.id = fe.feed_id
JOIN entries e ON e.id = fe.entry_id
GROUP BY f.id, e.record_date;

-- One row per feed: health and size.
CREATE VIEW feed_health AS
SELECT f.name, f.url, f.active, f.last_status, f.error_count, f.last_error,
       f.last_fetch_at, f.next_poll_at, f.disabled_reason,
       (SELECT count(*) FROM feed_entries fe WHERE fe.feed_id = f.id) AS entries
FROM feeds f;
