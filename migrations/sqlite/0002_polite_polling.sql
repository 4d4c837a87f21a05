-- Polite polling: validators, schedule state, backoff, redirects, gaps.

ALTER TABLE feeds ADD COLUMN etag TEXT;                 -- ETag of the last 200 response
ALTER TABLE feeds ADD COLUMN last_modified TEXT;        -- Last-Modified of the last 200 response
ALTER TABLE feeds ADD COLUMN body_hash TEXT;            -- SHA-256 of the last body parsed
ALTER TABLE feeds ADD COLUMN next_poll_at TEXT;         -- RFC 3339 UTC: when the feed is due
ALTER TABLE feeds ADD COLUMN disabled_at TEXT;          -- set when the server said 410 Gone
ALTER TABLE feeds ADD COLUMN disabled_reason TEXT;
ALTER TABLE feeds ADD COLUMN fetch_url TEXT;            -- where the feed moved (repeated 301/308); NULL = url
ALTER TABLE feeds ADD COLUMN redirect_target TEXT;      -- last permanent redirect target seen
ALTER TABLE feeds ADD COLUMN redirect_count INTEGER NOT NULL DEFAULT 0; -- consecutive fetches redirected there
ALTER TABLE feeds ADD COLUMN gap_count INTEGER NOT NULL DEFAULT 0;      -- fetches that may have missed entries
ALTER TABLE feeds ADD COLUMN last_recovered INTEGER NOT NULL DEFAULT 0; -- last parse needed XML recovery
ALTER TABLE feeds ADD COLUMN interval_secs INTEGER;     -- the interval in force (adaptive mode moves it)
ALTER TABLE feeds ADD COLUMN last_duration_ms INTEGER;  -- duration of the last fetch
ALTER TABLE feeds ADD COLUMN retry_until TEXT;          -- server asked (Retry-After) not to be polled before this
ALTER TABLE feeds ADD COLUMN hints TEXT;                -- JSON: ttl, skipHours, skipDays, sy:update* of the last document
