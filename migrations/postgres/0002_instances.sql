-- Several instances on one database: who is alive, which instance holds which feed until
-- when, and what each host may take from the whole fleet.

CREATE TABLE instances (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,                  -- "host:pid"
    host         text NOT NULL,
    pid          bigint NOT NULL,
    pid_space    text NOT NULL,                  -- boot id + PID namespace: where `pid` means this process
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(), -- renewed every quarter of the lease
    stopped_at   timestamptz,                    -- set by a clean shutdown
    round_since  timestamptz                     -- a `poll` running: the start of its round
);

-- A feed is claimed by one instance at a time: lease_owner holds it until lease_until (renewed
-- while its fetch runs, cleared when its batch commits). An expired lease is free to take.
ALTER TABLE feeds ADD COLUMN host text;          -- "host:port" of the URL: politeness is per host
ALTER TABLE feeds ADD COLUMN lease_owner bigint REFERENCES instances (id) ON DELETE SET NULL;
ALTER TABLE feeds ADD COLUMN lease_until timestamptz;
CREATE INDEX feeds_due ON feeds (next_poll_at) WHERE active;
CREATE INDEX feeds_leased ON feeds (host) WHERE lease_until IS NOT NULL;

-- Per-host limits that hold for the whole fleet (claims take a lock, so they see each other).
CREATE TABLE hosts (
    host            text PRIMARY KEY,
    next_request_at timestamptz,                 -- per_host_min_gap: no claim before this
    hold_until      timestamptz                  -- a 429: none of its feeds before this
);

-- Which instance stored (or last changed) an entry: that instance writes its record; the
-- records of an instance that died are taken over once its heartbeat is older than a lease.
ALTER TABLE entries ADD COLUMN stored_by bigint;
-- Where a record file was written ("machine:corpus_dir"): start-up repair rewrites only the
-- files of its own folder.
ALTER TABLE entries ADD COLUMN record_corpus text;
