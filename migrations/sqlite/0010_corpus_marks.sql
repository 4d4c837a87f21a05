-- What the last complete record check of a corpus folder saw. Each start compares every stored
-- record path with a listing of the folder (to write deleted records again); a start that finds
-- the folder unchanged since a check that found everything (same device, inode, modification
-- and change times) and as many entries with a record path skips the listing. A full check is
-- made at least once a day whatever the mark says.
CREATE TABLE corpus_marks (
    corpus_dir   TEXT PRIMARY KEY, -- the configured corpus folder
    folder_state TEXT NOT NULL,    -- dev:inode:mtime_ns:ctime_ns of the folder then
    records      INTEGER NOT NULL, -- entries with a record path then
    checked_at   TEXT NOT NULL     -- RFC 3339 UTC: when every record path was last compared
);
