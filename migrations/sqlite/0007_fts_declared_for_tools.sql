-- The full-text index declared the way SQLite tools look for it: Datasette and sqlite-utils find
-- the index of a table by the text `content="entries"` in its declaration (the first one wrote
-- `content = 'entries'`, so `?_search=` on `entries` was silently ignored there). Same columns,
-- same tokenizer, same rows; the index is rebuilt once. The triggers on `entries` name the
-- index by its name and keep working.
DROP TABLE entries_fts;

CREATE VIRTUAL TABLE entries_fts USING fts5(
    title,
    content_text,
    content="entries",
    content_rowid="id",
    tokenize='unicode61 remove_diacritics 2'
);

INSERT INTO entries_fts (rowid, title, content_text)
    SELECT id, coalesce(title, ''), content_text FROM entries;
