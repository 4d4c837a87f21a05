//! The PostgreSQL backend: the only code that speaks PostgreSQL's SQL.
//!
//! Several instances may share one database, so nothing here assumes it is the only writer:
//! entry ids and record numbers come from sequences, a key another instance stored first is
//! linked instead of inserted (`ON CONFLICT DO NOTHING`, then read back), and syncing the feed
//! list takes a transaction-scoped advisory lock. Fetches that arrive together share one
//! transaction, each in its own savepoint, as on SQLite. Times are `timestamptz`; the text the
//! rest of the program sees is RFC 3339 in UTC (the `rfc3339()` SQL function). PostgreSQL
//! text cannot hold U+0000, so a NUL from a feed is stored as U+FFFD.

mod fingerprints;
mod fleet;
mod ingest;
mod report;
mod text;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Postgres, Transaction};

use super::batch::{FeedStateRow, FeedWrite, store_fetches};
use super::rows::{self, Col, Context};
use super::{
    EntryFilter, EntryRow, FeedRow, FeedSpec, FetchWrite, IngestRules, IngestStats, SearchHit,
    SearchQuery, StoreError, Totals, now_rfc3339,
};
use crate::model::feed::FeedState;
use crate::model::record::PendingRecord;
use ingest::PgBatch;
use text::{clean, json, stored_key};

/// Connections per process: the writer, the fetch tasks' reads, the corpus writer, a report.
const POOL_CONNECTIONS: u32 = 4;

/// The advisory lock that serialises feed-list syncs of instances starting together.
const FEED_SYNC_LOCK: i64 = 0x6665_6564_636f_7270; // "feedcorp"

/// The columns of a feed's polling state, in `state_of`'s order.
macro_rules! state_columns {
    () => {
        "etag, last_modified, body_hash, fetch_url, redirect_target, redirect_count, error_count,
         disabled_reason, interval_secs, last_success_at, next_poll_at, retry_until, hints"
    };
}

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Set once this process joined the fleet ([`PgStore::join`]): writers only.
    me: Option<std::sync::Arc<fleet::Me>>,
}

impl PgStore {
    /// Connects and migrates the schema (instances starting together migrate once: the
    /// migrator holds an advisory lock).
    pub async fn open(url: &str, shown: &str) -> Result<PgStore, StoreError> {
        let store = PgStore::connect(url, shown, false).await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&store.pool)
            .await
            .map_err(|source| StoreError::Migrate {
                db: shown.to_string(),
                source,
            })?;
        Ok(store)
    }

    /// Connects read-only; a schema older or newer than this binary's is a clear error.
    pub async fn open_existing(url: &str, shown: &str) -> Result<PgStore, StoreError> {
        let store = PgStore::connect(url, shown, true).await?;
        let applied: Vec<i64> = match sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&store.pool)
        .await
        {
            Ok(v) => v,
            Err(_) => {
                return Err(StoreError::Missing {
                    db: shown.to_string(),
                });
            }
        };
        let known: Vec<i64> = sqlx::migrate!("./migrations/postgres")
            .iter()
            .map(|m| m.version)
            .collect();
        super::check_versions(&applied, &known, shown)?;
        Ok(store)
    }

    async fn connect(url: &str, shown: &str, read_only: bool) -> Result<PgStore, StoreError> {
        let open_err = |source| StoreError::Open {
            db: shown.to_string(),
            source,
        };
        let mut opts = PgConnectOptions::from_str(url)
            .map_err(open_err)?
            .application_name("feedcorpus");
        if read_only {
            opts = opts.options([("default_transaction_read_only", "on")]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await
            .map_err(open_err)?;
        Ok(PgStore { pool, me: None })
    }

    /// Nothing to free: the server holds the caches.
    pub async fn release_memory(&self) {}

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.ctx("starting a transaction")
    }

    /// Makes the `feeds` table match the config (see [`crate::store::Store::sync_feeds`]).
    /// Instances starting together take turns (an advisory lock for the transaction).
    pub async fn sync_feeds(
        &self,
        feeds: &[FeedSpec<'_>],
    ) -> Result<HashMap<String, i64>, StoreError> {
        let list: Vec<(String, String, String)> = feeds
            .iter()
            .map(|f| {
                (
                    clean(f.name).into_owned(),
                    clean(f.url).into_owned(),
                    clean(&f.host).into_owned(),
                )
            })
            .collect();
        let list = json(&list);
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FEED_SYNC_LOCK)
            .execute(&mut *tx)
            .await
            .ctx("waiting for another instance's feed-list sync")?;
        sqlx::query(
            "UPDATE feeds SET active = false
             WHERE active AND name NOT IN (SELECT v ->> 0 FROM json_array_elements($1::json) v)",
        )
        .bind(&list)
        .execute(&mut *tx)
        .await
        .ctx("marking feeds inactive")?;
        // A changed URL is a new source: forget validators, redirects, backoff and a 410.
        sqlx::query(
            "UPDATE feeds SET etag = NULL, last_modified = NULL, body_hash = NULL,
                    fetch_url = NULL, redirect_target = NULL, redirect_count = 0,
                    error_count = 0, disabled_at = NULL, disabled_reason = NULL,
                    next_poll_at = NULL, retry_until = NULL
             FROM json_array_elements($1::json) AS f
             WHERE feeds.name = f ->> 0 AND feeds.url <> f ->> 1",
        )
        .bind(&list)
        .execute(&mut *tx)
        .await
        .ctx("resetting feeds whose URL changed")?;
        let rows = sqlx::query(
            "INSERT INTO feeds (name, url, host, active, added_at)
             SELECT v ->> 0, v ->> 1, v ->> 2, true, now() FROM json_array_elements($1::json) v
             ON CONFLICT (name) DO UPDATE SET url = excluded.url, host = excluded.host, active = true
             RETURNING name, id",
        )
        .bind(&list)
        .fetch_all(&mut *tx)
        .await
        .ctx("registering feeds")?;
        let by_clean: HashMap<String, i64> = rows
            .iter()
            .map(|r| -> Result<_, StoreError> { Ok((r.col::<String>(0)?, r.col::<i64>(1)?)) })
            .collect::<Result<_, _>>()?;
        tx.commit().await.ctx("committing the feed list")?;
        Ok(feeds
            .iter()
            .filter_map(|f| {
                let id = by_clean.get(clean(f.name).as_ref())?;
                Some((f.name.to_string(), *id))
            })
            .collect())
    }

    pub async fn feed_id(&self, name: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT id FROM feeds WHERE name = $1")
            .bind(clean(name))
            .fetch_optional(&self.pool)
            .await
            .ctx("looking up a feed")
    }

    pub async fn feed_state(&self, feed_id: i64) -> Result<FeedState, StoreError> {
        let r = sqlx::query(concat!(
            "SELECT ",
            state_columns!(),
            " FROM feeds WHERE id = $1"
        ))
        .bind(feed_id)
        .fetch_one(&self.pool)
        .await
        .ctx("reading a feed's state")?;
        state_of(&r, 0)
    }

    pub async fn feed_states(&self) -> Result<HashMap<i64, FeedState>, StoreError> {
        let rows = sqlx::query(concat!("SELECT id, ", state_columns!(), " FROM feeds"))
            .fetch_all(&self.pool)
            .await
            .ctx("reading the feeds' states")?;
        // A row that does not read (a value edited by hand) is left out: that feed's own read
        // reports it, failing that feed alone.
        Ok(rows
            .iter()
            .filter_map(|r| Some((r.col::<i64>(0).ok()?, state_of(r, 1).ok()?)))
            .collect())
    }

    /// The feed's learned boilerplate model (JSON), if it has one.
    pub async fn boilerplate_model(&self, feed_id: i64) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT model FROM feed_boilerplate WHERE feed_id = $1")
            .bind(feed_id)
            .fetch_optional(&self.pool)
            .await
            .ctx("reading a feed's boilerplate model")
    }

    pub async fn known_feed_hashes(
        &self,
        keys: &[&str],
    ) -> Result<HashMap<String, String>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let stored: HashMap<String, &str> = keys
            .iter()
            .map(|k| (stored_key(k).into_owned(), *k))
            .collect();
        let list: Vec<&str> = stored.keys().map(String::as_str).collect();
        let rows = sqlx::query(
            "SELECT key, coalesce(feed_hash, '') FROM entries WHERE key = ANY($1::text[])",
        )
        .bind(&list)
        .fetch_all(&self.pool)
        .await
        .ctx("looking up known entries")?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            let key: String = r.col(0)?;
            if let Some(original) = stored.get(&key) {
                out.insert((*original).to_string(), r.col::<String>(1)?);
            }
        }
        Ok(out)
    }

    /// Stores several fetches in one transaction, each inside its own savepoint (see
    /// [`crate::store::Store::apply_fetches`]).
    pub async fn apply_fetches(
        &self,
        writes: &[FetchWrite<'_>],
        rules: &IngestRules<'_>,
    ) -> Result<Vec<Result<IngestStats, StoreError>>, StoreError> {
        let now = now_rfc3339();
        let mut tx = self.begin().await?;
        let mut sql = PgBatch {
            stored_by: self.me_id(),
        };
        let (out, _) = store_fetches(&mut sql, &mut tx, writes, &now, rules).await?;
        tx.commit().await.ctx("committing fetches")?;
        Ok(out)
    }

    /// Entries without a durable record, oldest publication first, each with its record
    /// number (from the sequence).
    pub async fn pending_records(
        &self,
        limit: usize,
        with_html: bool,
    ) -> Result<Vec<PendingRecord>, StoreError> {
        let select = "SELECT id, key, record_date, content_text, record_path, title, author, url,
                    CASE WHEN $2 THEN content_html END, record_seq
             FROM entries
             WHERE (record_path IS NULL OR record_stale) AND content_text <> ''
                   AND excluded IS NULL
                   -- This instance's own, and those of instances that are gone.
                   AND (stored_by IS NULL OR stored_by = $3 OR NOT EXISTS (
                          SELECT 1 FROM instances i WHERE i.id = entries.stored_by
                             AND i.stopped_at IS NULL
                             AND i.heartbeat_at > now() - make_interval(secs => $4)))
             ORDER BY coalesce(published, first_seen_at), id
             LIMIT $1";
        let read = || {
            sqlx::query(select)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .bind(with_html)
                .bind(self.me_id())
                .bind(fleet::gone_after(self.me.as_deref()))
        };
        let rows = read()
            .fetch_all(&self.pool)
            .await
            .ctx("listing entries without a record")?;
        let mut records: Vec<PendingRecord> = rows
            .iter()
            .map(pending_from_row)
            .collect::<Result<_, _>>()?;
        // Numbers are given at insert; an entry that had no text then gets its number now. Two
        // instances numbering the same row: the second finds it numbered (the row lock makes it
        // wait and check again), so both read back the one number.
        let unnumbered: Vec<i64> = records
            .iter()
            .filter(|r| r.record_seq.is_none())
            .map(|r| r.entry_id)
            .collect();
        if !unnumbered.is_empty() {
            let numbered = sqlx::query(
                "UPDATE entries SET record_seq = nextval('record_numbers')
                 WHERE id = ANY($1) AND record_seq IS NULL",
            )
            .bind(&unnumbered)
            .execute(&self.pool)
            .await;
            numbered.ctx("numbering records")?;
            let seqs = sqlx::query("SELECT id, record_seq FROM entries WHERE id = ANY($1)")
                .bind(&unnumbered)
                .fetch_all(&self.pool)
                .await
                .ctx("reading record numbers")?;
            let mut by_id = HashMap::with_capacity(seqs.len());
            for r in &seqs {
                by_id.insert(r.col::<i64>(0)?, r.col::<Option<i64>>(1)?);
            }
            for rec in records.iter_mut().filter(|r| r.record_seq.is_none()) {
                rec.record_seq = by_id
                    .get(&rec.entry_id)
                    .copied()
                    .flatten()
                    .and_then(|n| u64::try_from(n).ok());
            }
        }
        Ok(records)
    }

    pub async fn record_paths(&self) -> Result<Vec<(i64, String)>, StoreError> {
        // Only the files of this instance's own folder.
        let rows = sqlx::query(
            "SELECT id, record_path FROM entries
             WHERE record_path IS NOT NULL AND (record_corpus IS NULL OR record_corpus = $1)",
        )
        .bind(self.me.as_ref().map(|m| m.corpus.as_str()))
        .fetch_all(&self.pool)
        .await
        .ctx("listing record paths")?;
        rows.iter()
            .map(|r| -> Result<_, StoreError> { Ok((r.col::<i64>(0)?, r.col::<String>(1)?)) })
            .collect()
    }

    pub async fn records_by_id(&self, ids: &[i64]) -> Result<Vec<PendingRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, key, record_date, content_text, record_path, title, author, url,
                    content_html, record_seq
             FROM entries WHERE id = ANY($1) ORDER BY id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .ctx("reading entries for records")?;
        rows.iter().map(pending_from_row).collect()
    }

    /// Marks records as durable. Call only after the corpus's durability barrier.
    pub async fn set_record_paths(&self, written: &[(i64, String)]) -> Result<(), StoreError> {
        if written.is_empty() {
            return Ok(());
        }
        let (ids, paths): (Vec<i64>, Vec<String>) = written
            .iter()
            .map(|(id, p)| (*id, clean(p).into_owned()))
            .unzip();
        sqlx::query(
            "UPDATE entries SET record_path = w.path, record_stale = false, record_corpus = $3
             FROM unnest($1::bigint[], $2::text[]) AS w(id, path) WHERE entries.id = w.id",
        )
        .bind(&ids)
        .bind(&paths)
        .bind(self.me.as_ref().map(|m| clean(&m.corpus).into_owned()))
        .execute(&self.pool)
        .await
        .ctx("storing record paths")?;
        Ok(())
    }

    /// The lowest record number the sequence has not handed out.
    pub async fn next_record_seq(&self) -> Result<u64, StoreError> {
        let next: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM record_numbers",
        )
        .fetch_one(&self.pool)
        .await
        .ctx("reading the next record number")?;
        Ok(u64::try_from(next).unwrap_or(0))
    }

    /// Raises the record sequence to `floor` (never lowers it).
    pub async fn raise_record_seq(&self, floor: u64) -> Result<(), StoreError> {
        let floor = i64::try_from(floor).unwrap_or(i64::MAX);
        sqlx::query(
            "SELECT setval('record_numbers', $1, false)
             WHERE $1 > (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END
                         FROM record_numbers)",
        )
        .bind(floor)
        .execute(&self.pool)
        .await
        .ctx("raising the record numbers past the corpus folder's")?;
        Ok(())
    }

    /// Full-text search, best match first: `websearch_to_tsquery` on the words (`--raw`:
    /// `to_tsquery` syntax), ranked by `ts_rank_cd` with the title weighted, and a
    /// `ts_headline` passage. `rank` is negated so that lower is better, as on SQLite.
    pub async fn search(&self, q: &SearchQuery<'_>) -> Result<Vec<SearchHit>, StoreError> {
        let rows = sqlx::query(
            "WITH q AS (SELECT CASE WHEN $5 THEN to_tsquery('simple', $1)
                                    ELSE websearch_to_tsquery('simple', $1) END AS q)
             SELECT e.id, e.title, e.url, rfc3339(e.published), e.record_path,
                    ts_headline('simple', left(e.content_text, 100000), q.q,
                                'StartSel=[, StopSel=], MaxWords=16, MinWords=6, MaxFragments=1, FragmentDelimiter=…'),
                    (-ts_rank_cd(e.search, q.q))::float8 AS rank,
                    (SELECT string_agg(f.name, ', ' ORDER BY f.name) FROM feed_entries fe
                       JOIN feeds f ON f.id = fe.feed_id WHERE fe.entry_id = e.id)
             FROM entries e, q
             WHERE e.search @@ q.q
               AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM feed_entries fe JOIN feeds f ON f.id = fe.feed_id
                                                WHERE fe.entry_id = e.id AND f.name = $2))
               AND ($3::timestamptz IS NULL OR coalesce(e.published, e.first_seen_at) >= $3::timestamptz)
             ORDER BY rank, e.id LIMIT $4",
        )
        .bind(clean(q.words))
        .bind(q.feed.map(clean))
        .bind(q.since)
        .bind(i64::try_from(q.limit).unwrap_or(i64::MAX))
        .bind(q.raw)
        .fetch_all(&self.pool)
        .await
        .ctx("searching")?;
        rows.iter().map(rows::search_hit).collect()
    }

    /// Streams entries in publication order to `each` (see
    /// [`crate::store::Store::for_each_entry`]).
    pub async fn for_each_entry(
        &self,
        filter: &EntryFilter<'_>,
        each: impl FnMut(EntryRow) -> std::io::Result<()>,
    ) -> Result<usize, StoreError> {
        let rows = sqlx::query(
            "SELECT e.id, e.key, e.guid, e.url, e.title, e.author, rfc3339(e.published),
                    rfc3339(e.updated), e.record_date, e.content_text, e.record_path,
                    rfc3339(e.first_seen_at),
                    (SELECT string_agg(f.name, chr(10) ORDER BY fe.first_seen_at, f.id)
                       FROM feed_entries fe JOIN feeds f ON f.id = fe.feed_id
                      WHERE fe.entry_id = e.id),
                    e.language, e.cluster_id, e.text_source, e.feed_text, e.excluded,
                    e.content_hash, rfc3339(e.updated_at), e.content_html
             FROM entries e
             WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM feed_entries fe JOIN feeds f ON f.id = fe.feed_id
                                                WHERE fe.entry_id = e.id AND f.name = $1))
               AND ($2::timestamptz IS NULL OR coalesce(e.published, e.first_seen_at) >= $2::timestamptz)
               AND ($3::timestamptz IS NULL OR coalesce(e.published, e.first_seen_at) < $3::timestamptz)
               AND ($4::text IS NULL OR e.language = $4)
             ORDER BY coalesce(e.published, e.first_seen_at), e.id",
        )
        .bind(filter.feed.map(clean))
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.language.map(clean))
        .fetch(&self.pool);
        rows::each_entry(rows, each).await
    }

    pub async fn feed_rows(&self) -> Result<Vec<FeedRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT h.name, h.url, h.active, h.last_status, h.error_count, h.last_error,
                    rfc3339(h.last_fetch_at), rfc3339(h.next_poll_at), h.disabled_reason,
                    h.entries, i.name
             FROM feed_health h JOIN feeds f ON f.name = h.name
             LEFT JOIN instances i ON i.id = f.lease_owner AND f.lease_until > now()
             ORDER BY h.name",
        )
        .fetch_all(&self.pool)
        .await
        .ctx("listing feeds")?;
        rows.iter().map(|r| rows::feed_row(r, Some(10))).collect()
    }

    pub async fn site_urls(&self) -> Result<HashMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT name, site_url FROM feeds WHERE site_url IS NOT NULL")
            .fetch_all(&self.pool)
            .await
            .ctx("reading site URLs")?;
        rows.iter()
            .map(|r| -> Result<_, StoreError> { Ok((r.col::<String>(0)?, r.col::<String>(1)?)) })
            .collect()
    }

    pub async fn totals(&self, today: &str) -> Result<Totals, StoreError> {
        let r = sqlx::query(
            "SELECT count(*),
                    count(*) FILTER (WHERE first_seen_at >= $1::timestamptz),
                    count(record_path),
                    count(*) FILTER (WHERE record_path IS NULL AND content_text <> '')
             FROM entries",
        )
        .bind(today)
        .fetch_one(&self.pool)
        .await
        .ctx("counting entries")?;
        rows::totals(&r)
    }

    /// The server keeps its own pages consistent; what can go wrong here is a schema edited by
    /// hand, so this checks that the tables and the sequence answer.
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        sqlx::query(
            "SELECT (SELECT count(*) FROM feeds), (SELECT count(*) FROM entries),
                    (SELECT last_value FROM record_numbers)",
        )
        .fetch_one(&self.pool)
        .await
        .ctx("checking the schema")?;
        Ok("ok".into())
    }
}

/// PostgreSQL's full precision (microseconds), inside its range: a `poll` round compares fetch
/// times with its start. Truncated, as a time bound as a parameter is: PostgreSQL would round
/// the text of a finer time to the nearest microsecond, so a due time written from the clock
/// could land after the same clock time bound in a claim, and not be due when it is.
fn pg_time(t: DateTime<Utc>) -> String {
    text::in_range(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Stores fetches' new feed states in one statement (then the boilerplate models some of them
/// learned). A feed another instance claimed after this one's lease ran out keeps that one's
/// state.
pub(super) async fn update_feeds(
    conn: &mut PgConnection,
    updates: &[FeedWrite<'_>],
    now: &str,
    me: Option<i64>,
) -> Result<(), StoreError> {
    let rows: Vec<FeedStateRow<'_>> = updates
        .iter()
        .map(|w| FeedStateRow::new(w, now, pg_time))
        .collect();
    let done: Vec<i64> = sqlx::query_scalar(
        "UPDATE feeds SET
            last_fetch_at = u.fetched_at,
            last_success_at = CASE WHEN u.ok THEN u.fetched_at ELSE feeds.last_success_at END,
            last_status = u.status,
            last_http_status = u.http_status,
            last_error = u.error,
            error_count = CASE WHEN u.ok THEN 0 ELSE feeds.error_count + 1 END,
            last_new_entries = u.new_entries,
            title = COALESCE(u.title, feeds.title),
            site_url = COALESCE(u.site_url, feeds.site_url),
            etag = CASE WHEN u.has_validators THEN u.etag ELSE feeds.etag END,
            last_modified = CASE WHEN u.has_validators THEN u.last_modified ELSE feeds.last_modified END,
            body_hash = COALESCE(u.body_hash, feeds.body_hash),
            hints = COALESCE(u.hints, feeds.hints),
            next_poll_at = u.next_poll_at,
            retry_until = u.retry_until,
            interval_secs = COALESCE(u.interval_secs, feeds.interval_secs),
            gap_count = feeds.gap_count + u.gap,
            last_recovered = CASE WHEN u.status = 'ok' THEN u.recovered ELSE feeds.last_recovered END,
            last_duration_ms = u.duration_ms,
            redirect_target = u.redirect_target,
            redirect_count = u.redirect_count,
            fetch_url = COALESCE(u.fetch_url, feeds.fetch_url),
            disabled_at = CASE WHEN u.disabled_reason IS NOT NULL THEN u.fetched_at ELSE feeds.disabled_at END,
            disabled_reason = COALESCE(u.disabled_reason, feeds.disabled_reason),
            lease_owner = NULL,
            lease_until = NULL
         FROM jsonb_to_recordset($1::jsonb) AS u(
                id bigint, fetched_at timestamptz, ok boolean, status text, http_status bigint,
                error text, new_entries bigint, title text, site_url text,
                has_validators boolean, etag text, last_modified text, body_hash text,
                hints text, next_poll_at timestamptz, retry_until timestamptz,
                interval_secs bigint, gap bigint, recovered boolean, duration_ms bigint,
                redirect_target text, redirect_count bigint, fetch_url text,
                disabled_reason text)
         WHERE feeds.id = u.id
           AND (feeds.lease_owner IS NULL OR feeds.lease_owner = $2 OR feeds.lease_until <= now())
         RETURNING feeds.id",
    )
    .bind(json(&rows))
    .bind(me)
    .fetch_all(&mut *conn)
    .await
    .ctx("updating the feeds' status")?;
    let done: std::collections::HashSet<i64> = done.into_iter().collect();
    for w in updates {
        if !done.contains(&w.feed_id) {
            // Another instance took the feed over after this one's lease ran out: the entries
            // are stored (dedup is exact), the feed's state is the newer fetch's.
            tracing::warn!(
                feed_id = w.feed_id,
                "the feed was claimed by another instance meanwhile; its state is left to that one"
            );
        } else if let Some(model) = &w.update.boilerplate {
            sqlx::query(
                "INSERT INTO feed_boilerplate (feed_id, model) VALUES ($1, $2)
                 ON CONFLICT (feed_id) DO UPDATE SET model = excluded.model",
            )
            .bind(w.feed_id)
            .bind(clean(model))
            .execute(&mut *conn)
            .await
            .ctx("storing the feed's boilerplate model")?;
        }
    }
    Ok(())
}

fn pending_from_row(r: &PgRow) -> Result<PendingRecord, StoreError> {
    rows::pending_record(r, Some(9))
}

/// A feed's polling state from the columns `state_columns!` names, starting at column `at`.
fn state_of(r: &sqlx::postgres::PgRow, at: usize) -> Result<FeedState, StoreError> {
    Ok(FeedState {
        etag: r.col(at)?,
        last_modified: r.col(at + 1)?,
        body_hash: r.col(at + 2)?,
        fetch_url: r.col(at + 3)?,
        redirect_target: r.col(at + 4)?,
        redirect_count: r.col(at + 5)?,
        error_count: r.col(at + 6)?,
        disabled_reason: r.col(at + 7)?,
        interval_secs: r.col(at + 8)?,
        last_success_at: r.col::<Option<DateTime<Utc>>>(at + 9)?,
        next_poll_at: r.col::<Option<DateTime<Utc>>>(at + 10)?,
        retry_until: r.col::<Option<DateTime<Utc>>>(at + 11)?,
        hints: r.col(at + 12)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_truncated_to_microseconds() {
        let at = |nanos: u32| {
            DateTime::from_timestamp(1_780_000_000, nanos).unwrap_or_else(|| unreachable!())
        };
        for (nanos, text) in [
            (0, "2026-05-28T20:26:40.000000Z"),
            (123_456_789, "2026-05-28T20:26:40.123456Z"),
            (999_999_999, "2026-05-28T20:26:40.999999Z"),
        ] {
            assert_eq!(pg_time(at(nanos)), text, "{nanos} ns");
        }
    }
}
