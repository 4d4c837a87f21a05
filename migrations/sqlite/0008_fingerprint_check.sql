-- Near-duplicate fingerprints changed format (one-permutation MinHash, 517-byte BLOBs with a
-- version byte). A writer opening the database computes earlier-format fingerprints again; this
-- row remembers how far entries were checked, so the check reads only entries added since. One
-- row.
CREATE TABLE fingerprint_check (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_to INTEGER NOT NULL -- entries with an id up to this hold current-format fingerprints
);
INSERT INTO fingerprint_check (id, checked_to) VALUES (1, 0);
