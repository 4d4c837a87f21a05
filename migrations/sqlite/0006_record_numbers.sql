-- The highest record number ever given, kept apart from the files: a record file deleted by
-- hand (or lost with a disk) must never have its number handed out again. One row.
CREATE TABLE corpus_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    next_record_seq INTEGER NOT NULL -- the number the next new record gets, at least
);
INSERT INTO corpus_state (id, next_record_seq)
SELECT 1, coalesce(max(CAST(substr(record_path, 1, instr(record_path, '_') - 1) AS INTEGER)) + 1, 0)
FROM entries WHERE record_path IS NOT NULL AND instr(record_path, '_') > 1;
