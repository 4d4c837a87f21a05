-- The writer's to-do list in the order it writes records: entries that need a record (none yet,
-- or one to write again), oldest publication first. The list is read many times during a poll
-- that stores thousands of entries; with an index of pending entries by id only, each read
-- evaluated the rest of the condition on every pending row (the text and the columns stored
-- after it, through the row's overflow pages) and sorted them all to take the first batch. This
-- index holds just the pending rows that get a record, in record order, so a read walks the
-- first batch of the index and then reads those rows only.
DROP INDEX entries_pending;
CREATE INDEX entries_pending ON entries(COALESCE(published, first_seen_at), id)
    WHERE (record_path IS NULL OR record_stale = 1) AND content_text <> '' AND excluded IS NULL;
