//! The database: the only module that speaks SQL.
//!
//! SQLite in WAL mode lets `sqlite3` and other readers query while the daemon writes, and a busy
//! timeout rides out their brief locks. Fetches that arrive together share one transaction, each in
//! its own savepoint, so a crash leaves a feed either fully ingested or untouched, and one commit
//! pays for many feeds. A record path is stored only after the corpus has
//! made the file durable; entries without one are the corpus's to-do list. Everything
//! SQLite-specific stays here, so another backend can implement the same methods.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteConnection, Transaction};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("database {path}: {message}")]
    Schema { path: PathBuf, message: String },
    #[error("no database at {path} yet: run `feedcorpus poll` first")]
    Missing { path: PathBuf },
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot migrate database {path}: {source}")]
    Migrate {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("database error while {context}: {source}")]
    Query {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

trait Context<T> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { context, source })
    }
}

/// A pool on `path` with the settings every connection shares, plus `mode`'s.
async fn connect(
    path: &Path,
    mode: impl FnOnce(SqliteConnectOptions) -> SqliteConnectOptions,
) -> Result<SqlitePool, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let opts = SqliteConnectOptions::from_str("sqlite://")
        .map_err(open_err)?
        .filename(path)
        .busy_timeout(Duration::from_secs(30))
        .pragma("cache_size", "-4096")
        .pragma("temp_store", "memory");
    SqlitePoolOptions::new()
        .max_connections(POOL_CONNECTIONS)
        .connect_with(mode(opts))
        .await
        .map_err(open_err)
}

/// Reads a column, with a type check instead of a panic: a value of the wrong type (written by
/// a user's own tool, say) is an error naming the column.
trait Col {
    fn col<'r, T>(&'r self, index: usize) -> Result<T, StoreError>
    where
        T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>;
}

impl Col for sqlx::sqlite::SqliteRow {
    fn col<'r, T>(&'r self, index: usize) -> Result<T, StoreError>
    where
        T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
    {
        self.try_get(index)
            .ctx("reading a row (a value of an unexpected type?)")
    }
}

/// A feed as the config names it.
#[derive(Debug, Clone)]
pub struct FeedSpec<'a> {
    pub name: &'a str,
    pub url: &'a str,
}

/// An entry ready to store: normalized, with its dedup key.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub key: String,
    pub guid: Option<String>,
    pub url: Option<String>,
    pub title: Option<String>,
    pub author: Option<String>,
    /// RFC 3339 UTC.
    pub published: Option<String>,
    pub updated: Option<String>,
    pub record_date: String,
    pub content_text: String,
    pub content_hash: String,
    /// The HTML the text was made from (kept so Markdown records keep their links).
    pub content_html: Option<String>,
    /// The feed's own text, when `content_text` comes from the article page.
    pub feed_text: Option<String>,
    /// SHA-256 of the feed's own text: a change means the entry was updated.
    pub feed_hash: String,
    /// `feed` or `page`.
    pub text_source: String,
    pub language: Option<String>,
    /// Near-duplicate fingerprint and its LSH band keys.
    pub fingerprint: Option<Vec<u8>>,
    pub bands: Vec<i64>,
    /// Why the entry gets no record (e.g. `language`), decided before storing.
    pub excluded: Option<String>,
}

/// How stored entries react to near-duplicates and updates.
pub struct IngestRules<'a> {
    /// Later copies of a near-duplicate cluster get no record.
    pub skip_near_duplicates: bool,
    /// A changed entry's record is rewritten (else it keeps its first version).
    pub rewrite_on_update: bool,
    /// Decides whether two fingerprints (new, stored) are near-duplicates.
    pub near_duplicate: &'a (dyn Fn(&[u8], &[u8]) -> bool + Sync),
}

impl IngestRules<'_> {
    pub fn plain() -> IngestRules<'static> {
        IngestRules {
            skip_near_duplicates: false,
            rewrite_on_update: false,
            near_duplicate: &|_, _| false,
        }
    }
}

/// What a successful fetch says about its feed.
#[derive(Debug, Clone, Default)]
pub struct FeedInfo {
    pub title: Option<String>,
    pub site_url: Option<String>,
    pub http_status: Option<u16>,
}

/// A feed's polling state, read before each fetch.
#[derive(Debug, Clone, Default)]
pub struct FeedState {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub body_hash: Option<String>,
    /// Where the feed moved to after repeated permanent redirects.
    pub fetch_url: Option<String>,
    pub redirect_target: Option<String>,
    pub redirect_count: i64,
    pub error_count: i64,
    pub disabled_reason: Option<String>,
    /// Interval in force (adaptive mode and gap shortening move it), seconds.
    pub interval_secs: Option<i64>,
    pub last_success_at: Option<String>,
    pub next_poll_at: Option<String>,
    pub retry_until: Option<String>,
    /// JSON of the last document's polling hints.
    pub hints: Option<String>,
    /// JSON of the feed's learned boilerplate model.
    pub boilerplate: Option<String>,
}

/// Outcome of one fetch, as the feed row records it.
#[derive(Debug, Clone, Default)]
pub struct FeedUpdate {
    /// `ok`, `not_modified`, `unchanged`, `error` or `gone`.
    pub status: String,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// New validators (only with a 200).
    pub validators: Option<(Option<String>, Option<String>)>,
    pub body_hash: Option<String>,
    pub hints: Option<String>,
    pub next_poll_at: Option<String>,
    pub retry_until: Option<String>,
    pub interval_secs: Option<i64>,
    /// This fetch may have missed entries.
    pub gap: bool,
    pub recovered: bool,
    pub duration_ms: Option<i64>,
    pub redirect_target: Option<String>,
    pub redirect_count: i64,
    /// Set once a permanent redirect has repeated: poll this URL from now on.
    pub fetch_url: Option<String>,
    pub disabled_reason: Option<String>,
    /// Info from the document (title, site URL), with a 200.
    pub info: Option<FeedInfo>,
    /// The feed's learned boilerplate model, JSON.
    pub boilerplate: Option<String>,
}

/// One fetch's writes for [`Store::apply_fetches`].
#[derive(Debug, Clone, Copy)]
pub struct FetchWrite<'a> {
    pub feed_id: i64,
    /// The feed's new state; `None` stores entries only (archive backfill).
    pub update: Option<&'a FeedUpdate>,
    pub entries: &'a [NewEntry],
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Entries never seen before.
    pub new: usize,
    /// Entries already stored from another feed, now linked to this one as well.
    pub linked: usize,
    /// Entries in the fetch.
    pub total: usize,
    /// Known entries whose content changed.
    pub updated: usize,
}

/// An entry whose record file has to be written (or written again).
#[derive(Debug, Clone)]
pub struct PendingRecord {
    pub entry_id: i64,
    pub key: String,
    pub record_date: String,
    pub content_text: String,
    /// Set when the record was written before (file missing, or to be rewritten).
    pub record_path: Option<String>,
    pub title: Option<String>,
    pub author: Option<String>,
    pub url: Option<String>,
    pub content_html: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchQuery<'a> {
    /// FTS5 query syntax.
    pub query: &'a str,
    pub feed: Option<&'a str>,
    /// RFC 3339 lower bound on publication time.
    pub since: Option<&'a str>,
    pub limit: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SearchHit {
    pub entry_id: i64,
    pub title: Option<String>,
    pub url: Option<String>,
    pub published: Option<String>,
    pub record_path: Option<String>,
    /// Best-matching passage, matches in `[` `]`.
    pub snippet: String,
    /// bm25: lower is better.
    pub rank: f64,
    pub feeds: String,
}

#[derive(Debug, Clone, Default)]
pub struct EntryFilter<'a> {
    pub feed: Option<&'a str>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub language: Option<&'a str>,
}

/// Every stored field of an entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EntryRow {
    pub id: i64,
    pub key: String,
    pub guid: Option<String>,
    pub url: Option<String>,
    pub title: Option<String>,
    pub author: Option<String>,
    pub published: Option<String>,
    pub updated: Option<String>,
    pub record_date: String,
    pub text: String,
    pub record_path: Option<String>,
    pub first_seen_at: String,
    pub feeds: Vec<String>,
    pub language: Option<String>,
    pub cluster_id: Option<i64>,
    pub text_source: String,
    pub feed_text: Option<String>,
    pub excluded: Option<String>,
    pub content_hash: String,
    pub updated_at: Option<String>,
    pub content_html: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FeedRow {
    pub name: String,
    pub url: String,
    pub active: bool,
    pub last_status: Option<String>,
    pub error_count: i64,
    pub last_error: Option<String>,
    pub last_fetch_at: Option<String>,
    pub next_poll_at: Option<String>,
    pub disabled_reason: Option<String>,
    pub entries: i64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Totals {
    pub entries: i64,
    pub entries_today: i64,
    pub records: i64,
    pub records_pending: i64,
}

/// One connection for the writer, one for the readers (fetch state, pending records): more only
/// multiplied page caches.
const POOL_CONNECTIONS: u32 = 2;

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Store {
    /// Opens (creating if needed) and migrates the database.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, true).await
    }

    /// Opens an existing database read-only (for queries): it is never created or migrated,
    /// and a schema older or newer than this binary's is a clear error.
    pub async fn open_existing(path: &Path) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let pool = connect(path, |o| o.read_only(true)).await?;
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        let known: Vec<i64> = sqlx::migrate!("./migrations")
            .iter()
            .map(|m| m.version)
            .collect();
        let (have, want) = (applied.last().copied(), known.last().copied());
        if applied.iter().any(|v| !known.contains(v)) {
            return Err(StoreError::Schema {
                path: path.to_path_buf(),
                message: format!(
                    "its schema (version {}) is newer than this feedcorpus knows (version {}); use the newer binary",
                    have.unwrap_or(0),
                    want.unwrap_or(0)
                ),
            });
        }
        if have != want {
            return Err(StoreError::Schema {
                path: path.to_path_buf(),
                message: format!(
                    "its schema (version {}) is older than this feedcorpus (version {}); run `feedcorpus poll` once to migrate it",
                    have.unwrap_or(0),
                    want.unwrap_or(0)
                ),
            });
        }
        Ok(Store { pool })
    }

    async fn open_with(path: &Path, create: bool) -> Result<Store, StoreError> {
        // Only `open` comes here: the database is written and migrated.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let pool = connect(path, |o| {
            o.create_if_missing(create)
                .journal_mode(SqliteJournalMode::Wal)
                // NORMAL in WAL mode: a killed process loses nothing committed; a power loss can
                // lose the last commits, never consistency. Record files carry their own barrier,
                // and an entry whose row was lost is stored again by the next poll, adopting its
                // record.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // The WAL file is truncated back to 64 MiB after a checkpoint that grew it more.
                .pragma("journal_size_limit", "67108864")
        })
        .await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Store { pool })
    }

    /// Frees the page caches of the idle connections (the daemon between poll rounds).
    pub async fn release_memory(&self) {
        let mut held = Vec::new();
        for _ in 0..POOL_CONNECTIONS {
            // Only connections nobody uses: never wait for a busy one.
            match self.pool.try_acquire() {
                Some(c) => held.push(c),
                None => break,
            }
        }
        for c in &mut held {
            let _ = sqlx::query("PRAGMA shrink_memory").execute(&mut **c).await;
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        // IMMEDIATE takes the write lock up front, so the busy timeout applies to it instead of
        // failing later when a read transaction would have to be upgraded.
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .ctx("starting a write transaction")
    }

    /// Makes the `feeds` table match the config: one row per configured feed, keyed by name;
    /// feeds no longer configured are kept (their entries stay linked) but marked inactive.
    /// Returns the row id of each configured feed by name.
    pub async fn sync_feeds(
        &self,
        feeds: &[FeedSpec<'_>],
    ) -> Result<HashMap<String, i64>, StoreError> {
        let now = now_rfc3339();
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE feeds SET active = 0")
            .execute(&mut *tx)
            .await
            .ctx("marking feeds inactive")?;
        // Four statements whatever the number of feeds: a daemon with thousands of feeds
        // starts (and reloads) without thousands of round trips.
        let list: Vec<(&str, &str)> = feeds.iter().map(|f| (f.name, f.url)).collect();
        let list = json_array(&list);
        // A changed URL is a new source: forget validators, redirects, backoff and a 410.
        sqlx::query(
            "UPDATE feeds SET etag = NULL, last_modified = NULL, body_hash = NULL,
                    fetch_url = NULL, redirect_target = NULL, redirect_count = 0,
                    error_count = 0, disabled_at = NULL, disabled_reason = NULL,
                    next_poll_at = NULL, retry_until = NULL
             FROM json_each(?1) AS f
             WHERE feeds.name = f.value ->> 0 AND feeds.url <> f.value ->> 1",
        )
        .bind(&list)
        .execute(&mut *tx)
        .await
        .ctx("resetting feeds whose URL changed")?;
        sqlx::query(
            "INSERT INTO feeds (name, url, active, added_at)
             SELECT value ->> 0, value ->> 1, 1, ?2 FROM json_each(?1) WHERE true
             ON CONFLICT(name) DO UPDATE SET url = excluded.url, active = 1",
        )
        .bind(&list)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .ctx("registering feeds")?;
        let rows = sqlx::query(
            "SELECT name, id FROM feeds WHERE name IN (SELECT value ->> 0 FROM json_each(?1))",
        )
        .bind(&list)
        .fetch_all(&mut *tx)
        .await
        .ctx("reading feed ids")?;
        let ids: HashMap<String, i64> = rows
            .iter()
            .map(|r| -> Result<_, StoreError> { Ok((r.col::<String>(0)?, r.col::<i64>(1)?)) })
            .collect::<Result<_, _>>()?;
        tx.commit().await.ctx("committing the feed list")?;
        Ok(ids)
    }

    /// Reads a feed's polling state.
    pub async fn feed_state(&self, feed_id: i64) -> Result<FeedState, StoreError> {
        let r = sqlx::query(
            "SELECT etag, last_modified, body_hash, fetch_url, redirect_target, redirect_count,
                    error_count, disabled_reason, interval_secs, last_success_at, next_poll_at,
                    retry_until, hints, boilerplate
             FROM feeds WHERE id = ?1",
        )
        .bind(feed_id)
        .fetch_one(&self.pool)
        .await
        .ctx("reading a feed's state")?;
        Ok(FeedState {
            etag: r.col(0)?,
            last_modified: r.col(1)?,
            body_hash: r.col(2)?,
            fetch_url: r.col(3)?,
            redirect_target: r.col(4)?,
            redirect_count: r.col(5)?,
            error_count: r.col(6)?,
            disabled_reason: r.col(7)?,
            interval_secs: r.col(8)?,
            last_success_at: r.col(9)?,
            next_poll_at: r.col(10)?,
            retry_until: r.col(11)?,
            hints: r.col(12)?,
            boilerplate: r.col(13)?,
        })
    }

    /// The stored feed-text hash of each of these keys that is stored.
    pub async fn known_feed_hashes(
        &self,
        keys: &[&str],
    ) -> Result<HashMap<String, String>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(
            "SELECT key, feed_hash FROM entries
             WHERE key IN (SELECT value FROM json_each(?1)) AND feed_hash IS NOT NULL",
        )
        .bind(json_array(keys))
        .fetch_all(&self.pool)
        .await
        .ctx("looking up known entries")?;
        rows.iter()
            .map(|r| -> Result<_, StoreError> { Ok((r.col::<String>(0)?, r.col::<String>(1)?)) })
            .collect::<Result<_, _>>()
    }

    /// How many of these keys are already stored.
    pub async fn count_known(&self, keys: &[&str]) -> Result<usize, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let json = serde_json::to_string(keys).unwrap_or_else(|_| "[]".into());
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM entries WHERE key IN (SELECT value FROM json_each(?1))",
        )
        .bind(json)
        .fetch_one(&self.pool)
        .await
        .ctx("counting known entries")?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Stores one fetch — its entries (if any), their links to the feed, and the feed's new
    /// state — in one transaction.
    pub async fn apply_fetch(
        &self,
        feed_id: i64,
        update: &FeedUpdate,
        entries: &[NewEntry],
        rules: &IngestRules<'_>,
    ) -> Result<IngestStats, StoreError> {
        let write = FetchWrite {
            feed_id,
            update: Some(update),
            entries,
        };
        one_result(self.apply_fetches(&[write], rules).await?)
    }

    /// Stores several fetches in one transaction, each inside its own savepoint: a fetch whose
    /// writes fail is rolled back alone and reported in its slot, the others are kept. One
    /// commit (one WAL sync, one full-text index flush) then covers them all, which is what
    /// makes a poll round of many feeds cheap. `Err` means nothing was stored.
    pub async fn apply_fetches(
        &self,
        writes: &[FetchWrite<'_>],
        rules: &IngestRules<'_>,
    ) -> Result<Vec<Result<IngestStats, StoreError>>, StoreError> {
        let now = now_rfc3339();
        let mut tx = self.write_tx().await?;
        let mut batch = Batch::load(&mut tx, writes).await?;
        let first_id = batch.next_id;
        let mut out = Vec::with_capacity(writes.len());
        for w in writes {
            let mut sp = sqlx::Connection::begin(&mut *tx)
                .await
                .ctx("starting a savepoint")?;
            let mut stats = IngestStats {
                total: w.entries.len(),
                ..IngestStats::default()
            };
            let mut staged = Staged::default();
            let mut written =
                insert_entries(&mut sp, w, &now, rules, &mut stats, &mut batch, &mut staged).await;
            if let (Ok(()), Some(update)) = (&written, w.update) {
                written = update_feed(&mut sp, w.feed_id, update, &now, stats.new).await;
            }
            match written {
                Ok(()) => {
                    sp.commit().await.ctx("releasing a savepoint")?;
                    batch.accept(staged);
                    out.push(Ok(stats));
                }
                Err(e) => {
                    // Nothing of the fetch was stored; its staged entries are dropped with it.
                    sp.rollback().await.ctx("rolling back a savepoint")?;
                    out.push(Err(e));
                }
            }
        }
        batch.write_bands(&mut tx).await?;
        if batch.next_id > first_id {
            // The full-text index is fed once per transaction rather than by a per-row trigger:
            // FTS5 flushes its buffer at every statement savepoint, and one flush per entry
            // costs more than the rest of the insert.
            sqlx::query(
                "INSERT INTO entries_fts (rowid, title, content_text)
                 SELECT id, coalesce(title, ''), content_text FROM entries WHERE id >= ?1",
            )
            .bind(first_id)
            .execute(&mut *tx)
            .await
            .ctx("indexing new entries for search")?;
        }
        tx.commit().await.ctx("committing fetches")?;
        Ok(out)
    }

    /// Stores entries for a feed without touching its polling state (archive backfill).
    pub async fn ingest_entries(
        &self,
        feed_id: i64,
        entries: &[NewEntry],
        rules: &IngestRules<'_>,
    ) -> Result<IngestStats, StoreError> {
        let write = FetchWrite {
            feed_id,
            update: None,
            entries,
        };
        one_result(self.apply_fetches(&[write], rules).await?)
    }

    /// Entries without a durable record, oldest publication first. Entries whose text is empty
    /// have nothing to write and are never pending. `with_html` reads the HTML body too (only
    /// Markdown records need it).
    pub async fn pending_records(
        &self,
        limit: usize,
        with_html: bool,
    ) -> Result<Vec<PendingRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, key, record_date, content_text, record_path, title, author, url,
                    CASE WHEN ?2 THEN content_html END
             FROM entries
             WHERE (record_path IS NULL OR record_stale = 1) AND content_text <> '' AND excluded IS NULL
             ORDER BY COALESCE(published, first_seen_at), id
             LIMIT ?1",
        )
        .bind(limit as i64)
        .bind(with_html)
        .fetch_all(&self.pool)
        .await
        .ctx("listing entries without a record")?;
        rows.iter().map(pending_from_row).collect::<Result<_, _>>()
    }

    /// Every written record: (entry id, record path).
    pub async fn record_paths(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query("SELECT id, record_path FROM entries WHERE record_path IS NOT NULL")
            .fetch_all(&self.pool)
            .await
            .ctx("listing record paths")?;
        rows.iter()
            .map(|r| -> Result<_, StoreError> { Ok((r.col::<i64>(0)?, r.col::<String>(1)?)) })
            .collect::<Result<_, _>>()
    }

    /// Full rows for the given entries (used to re-emit records whose file went missing).
    pub async fn records_by_id(&self, ids: &[i64]) -> Result<Vec<PendingRecord>, StoreError> {
        let ids_json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let rows = sqlx::query(
            "SELECT id, key, record_date, content_text, record_path, title, author, url, content_html
             FROM entries WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id",
        )
        .bind(ids_json)
        .fetch_all(&self.pool)
        .await
        .ctx("reading entries for records")?;
        let out = rows
            .iter()
            .map(pending_from_row)
            .collect::<Result<_, _>>()?;
        Ok(out)
    }

    /// Marks records as durable. Call only after the corpus's durability barrier.
    pub async fn set_record_paths(&self, written: &[(i64, String)]) -> Result<(), StoreError> {
        if written.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE entries SET record_path = w.value ->> 1, record_stale = 0
             FROM json_each(?1) AS w WHERE entries.id = w.value ->> 0",
        )
        .bind(json_array(written))
        .execute(&mut *tx)
        .await
        .ctx("storing record paths")?;
        let next = written
            .iter()
            .filter_map(|(_, name)| crate::corpus::parse_record_name(name))
            .map(|(seq, _)| seq.saturating_add(1))
            .max();
        if let Some(next) = next.and_then(|n| i64::try_from(n).ok()) {
            sqlx::query(
                "INSERT INTO corpus_state (id, next_record_seq) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET next_record_seq = max(next_record_seq, excluded.next_record_seq)",
            )
            .bind(next)
            .execute(&mut *tx)
            .await
            .ctx("storing the next record number")?;
        }
        tx.commit().await.ctx("committing record paths")?;
        Ok(())
    }

    /// The lowest number a new record may get: above every number ever given.
    pub async fn next_record_seq(&self) -> Result<u64, StoreError> {
        let next: Option<i64> =
            sqlx::query_scalar("SELECT next_record_seq FROM corpus_state WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .ctx("reading the next record number")?;
        Ok(next.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }

    /// Full-text search, best match first. `query` is FTS5 syntax; a title match weighs ten
    /// times a body match.
    pub async fn search(&self, q: &SearchQuery<'_>) -> Result<Vec<SearchHit>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.id, e.title, e.url, e.published, e.record_path,
                    snippet(entries_fts, -1, '[', ']', '…', 16),
                    bm25(entries_fts, 10.0, 1.0) AS rank,
                    (SELECT group_concat(f.name, ', ') FROM feed_entries fe
                       JOIN feeds f ON f.id = fe.feed_id WHERE fe.entry_id = e.id)
             FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid
             WHERE entries_fts MATCH ?1
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM feed_entries fe JOIN feeds f ON f.id = fe.feed_id
                                          WHERE fe.entry_id = e.id AND f.name = ?2))
               AND (?3 IS NULL OR coalesce(e.published, e.first_seen_at) >= ?3)
             ORDER BY rank LIMIT ?4",
        )
        .bind(q.query)
        .bind(q.feed)
        .bind(q.since)
        .bind(i64::try_from(q.limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .ctx("searching")?;
        rows.iter()
            .map(|r| -> Result<_, StoreError> {
                Ok(SearchHit {
                    entry_id: r.col(0)?,
                    title: r.col(1)?,
                    url: r.col(2)?,
                    published: r.col(3)?,
                    record_path: r.col(4)?,
                    snippet: r.col::<Option<String>>(5)?.unwrap_or_default(),
                    rank: r.col(6)?,
                    feeds: r.col::<Option<String>>(7)?.unwrap_or_default(),
                })
            })
            .collect::<Result<_, _>>()
    }

    /// Streams entries in publication order to `each`, optionally filtered by feed and by a
    /// half-open time range `[since, until)` over publication (else first-seen) time.
    pub async fn for_each_entry(
        &self,
        filter: &EntryFilter<'_>,
        mut each: impl FnMut(EntryRow) -> std::io::Result<()>,
    ) -> Result<usize, StoreError> {
        use futures_util::TryStreamExt;
        let mut rows = sqlx::query(
            "SELECT e.id, e.key, e.guid, e.url, e.title, e.author, e.published, e.updated,
                    e.record_date, e.content_text, e.record_path, e.first_seen_at,
                    (SELECT group_concat(f.name, char(10)) FROM feed_entries fe
                       JOIN feeds f ON f.id = fe.feed_id WHERE fe.entry_id = e.id),
                    e.language, e.cluster_id, e.text_source, e.feed_text, e.excluded,
                    e.content_hash, e.updated_at, e.content_html
             FROM entries e
             WHERE (?1 IS NULL OR EXISTS (SELECT 1 FROM feed_entries fe JOIN feeds f ON f.id = fe.feed_id
                                          WHERE fe.entry_id = e.id AND f.name = ?1))
               AND (?2 IS NULL OR coalesce(e.published, e.first_seen_at) >= ?2)
               AND (?3 IS NULL OR coalesce(e.published, e.first_seen_at) < ?3)
               AND (?4 IS NULL OR e.language = ?4)
             ORDER BY coalesce(e.published, e.first_seen_at), e.id",
        )
        .bind(filter.feed)
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.language)
        .fetch(&self.pool);
        let mut n = 0;
        while let Some(r) = rows.try_next().await.ctx("listing entries")? {
            let feeds: Option<String> = r.col(12)?;
            let row = EntryRow {
                id: r.col(0)?,
                key: r.col(1)?,
                guid: r.col(2)?,
                url: r.col(3)?,
                title: r.col(4)?,
                author: r.col(5)?,
                published: r.col(6)?,
                updated: r.col(7)?,
                record_date: r.col(8)?,
                text: r.col(9)?,
                record_path: r.col(10)?,
                first_seen_at: r.col(11)?,
                feeds: feeds
                    .map(|f| f.split('\n').map(str::to_string).collect())
                    .unwrap_or_default(),
                language: r.col(13)?,
                cluster_id: r.col(14)?,
                text_source: r.col(15)?,
                feed_text: r.col(16)?,
                excluded: r.col(17)?,
                content_hash: r.col(18)?,
                updated_at: r.col(19)?,
                content_html: r.col(20)?,
            };
            n += 1;
            if let Err(e) = each(row) {
                // A closed pipe (`| head`) ends the listing; it is not a database error.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    break;
                }
                return Err(StoreError::Output(e));
            }
        }
        Ok(n)
    }

    /// One row per configured or formerly configured feed, with its health and size.
    pub async fn feed_rows(&self) -> Result<Vec<FeedRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, url, active, last_status, error_count, last_error, last_fetch_at,
                    next_poll_at, disabled_reason, entries
             FROM feed_health ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .ctx("listing feeds")?;
        rows.iter()
            .map(|r| -> Result<_, StoreError> {
                Ok(FeedRow {
                    name: r.col(0)?,
                    url: r.col(1)?,
                    active: r.col::<i64>(2)? != 0,
                    last_status: r.col(3)?,
                    error_count: r.col(4)?,
                    last_error: r.col(5)?,
                    last_fetch_at: r.col(6)?,
                    next_poll_at: r.col(7)?,
                    disabled_reason: r.col(8)?,
                    entries: r.col(9)?,
                })
            })
            .collect::<Result<_, _>>()
    }

    /// Each feed's site URL (from its document), by feed name.
    pub async fn site_urls(&self) -> Result<HashMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT name, site_url FROM feeds WHERE site_url IS NOT NULL")
            .fetch_all(&self.pool)
            .await
            .ctx("reading site URLs")?;
        rows.iter()
            .map(|r| -> Result<_, StoreError> { Ok((r.col::<String>(0)?, r.col::<String>(1)?)) })
            .collect::<Result<_, _>>()
    }

    /// Totals for `status`: entries, entries first seen since `today` (RFC 3339), records.
    pub async fn totals(&self, today: &str) -> Result<Totals, StoreError> {
        let r = sqlx::query(
            "SELECT count(*),
                    count(*) FILTER (WHERE first_seen_at >= ?1),
                    count(record_path),
                    count(*) FILTER (WHERE record_path IS NULL AND content_text <> '')
             FROM entries",
        )
        .bind(today)
        .fetch_one(&self.pool)
        .await
        .ctx("counting entries")?;
        Ok(Totals {
            entries: r.col(0)?,
            entries_today: r.col(1)?,
            records: r.col(2)?,
            records_pending: r.col(3)?,
        })
    }

    /// `PRAGMA integrity_check` result ("ok" when healthy).
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        let row = sqlx::query("PRAGMA integrity_check")
            .fetch_one(&self.pool)
            .await
            .ctx("checking integrity")?;
        row.col::<String>(0)
    }
}

/// Inserts new entries (clustering near-duplicates), records revisions of changed ones, and
/// links every entry to the feed, counting what was new.
fn one_result(
    mut results: Vec<Result<IngestStats, StoreError>>,
) -> Result<IngestStats, StoreError> {
    results.pop().unwrap_or_else(|| Ok(IngestStats::default()))
}

async fn update_feed(
    conn: &mut SqliteConnection,
    feed_id: i64,
    update: &FeedUpdate,
    now: &str,
    new_entries: usize,
) -> Result<(), StoreError> {
    let ok = matches!(update.status.as_str(), "ok" | "not_modified" | "unchanged");
    let info = update.info.clone().unwrap_or_default();
    let (etag, last_modified) = update.validators.clone().unwrap_or_default();
    sqlx::query(
        "UPDATE feeds SET
            last_fetch_at = ?2,
            last_success_at = CASE WHEN ?3 THEN ?2 ELSE last_success_at END,
            last_status = ?4,
            last_http_status = ?5,
            last_error = ?6,
            error_count = CASE WHEN ?3 THEN 0 ELSE error_count + 1 END,
            last_new_entries = ?7,
            title = COALESCE(?8, title),
            site_url = COALESCE(?9, site_url),
            etag = CASE WHEN ?10 THEN ?11 ELSE etag END,
            last_modified = CASE WHEN ?10 THEN ?12 ELSE last_modified END,
            body_hash = COALESCE(?13, body_hash),
            hints = COALESCE(?14, hints),
            next_poll_at = ?15,
            retry_until = ?16,
            interval_secs = COALESCE(?17, interval_secs),
            gap_count = gap_count + ?18,
            last_recovered = CASE WHEN ?4 = 'ok' THEN ?19 ELSE last_recovered END,
            last_duration_ms = ?20,
            redirect_target = ?21,
            redirect_count = ?22,
            fetch_url = COALESCE(?23, fetch_url),
            disabled_at = CASE WHEN ?24 IS NOT NULL THEN ?2 ELSE disabled_at END,
            disabled_reason = COALESCE(?24, disabled_reason),
            boilerplate = COALESCE(?25, boilerplate)
         WHERE id = ?1",
    )
    .bind(feed_id)
    .bind(now)
    .bind(ok)
    .bind(&update.status)
    .bind(update.http_status.map(i64::from))
    .bind(&update.error)
    .bind(new_entries as i64)
    .bind(&info.title)
    .bind(&info.site_url)
    .bind(update.validators.is_some())
    .bind(&etag)
    .bind(&last_modified)
    .bind(&update.body_hash)
    .bind(&update.hints)
    .bind(&update.next_poll_at)
    .bind(&update.retry_until)
    .bind(update.interval_secs)
    .bind(i64::from(update.gap))
    .bind(update.recovered)
    .bind(update.duration_ms)
    .bind(&update.redirect_target)
    .bind(update.redirect_count)
    .bind(&update.fetch_url)
    .bind(&update.disabled_reason)
    .bind(&update.boilerplate)
    .execute(&mut *conn)
    .await
    .ctx("updating the feed's status")?;
    Ok(())
}

/// A stored entry as an update check needs it.
#[derive(Clone)]
struct KnownRow {
    id: i64,
    feed_hash: Option<String>,
    text_source: String,
}

/// Files `slot` under each of `bands`, keeping at most [`CANDIDATES_PER_BAND`] slots per key
/// (the first ones): a key that countless texts share costs a bounded number of comparisons.
fn index_bands(index: &mut HashMap<i64, Vec<usize>>, bands: &[i64], slot: usize) {
    for b in bands {
        let slots = index.entry(*b).or_default();
        if slots.len() < CANDIDATES_PER_BAND {
            slots.push(slot);
        }
    }
}

/// The cluster of the first (oldest) entry among `fresh` that shares a band key with `e` and
/// is its near-duplicate.
fn first_match(
    e: &NewEntry,
    fp: &[u8],
    index: &HashMap<i64, Vec<usize>>,
    fresh: &[Fresh<'_>],
    rules: &IngestRules<'_>,
) -> Option<i64> {
    let mut slots: Vec<usize> = e
        .bands
        .iter()
        .filter_map(|b| index.get(b))
        .flatten()
        .copied()
        .collect();
    slots.sort_unstable();
    slots.dedup();
    slots.iter().find_map(|&i| {
        let f = fresh.get(i)?;
        (rules.near_duplicate)(fp, f.fingerprint).then_some(f.cluster_id)
    })
}

/// An entry inserted in this transaction, for near-duplicate checks before its band keys reach
/// the table.
struct Fresh<'a> {
    id: i64,
    cluster_id: i64,
    fingerprint: &'a [u8],
    bands: &'a [i64],
}

/// What one transaction of fetches knows beyond the database: the rows stored before it began
/// (read once for all its fetches), and the entries it inserted so far, indexed by band key in
/// memory. Band keys reach the table once, sorted, at the end: inserted one fetch at a time
/// they land on random pages of a large index, which costs more than the rest of the write.
struct Batch<'a> {
    next_id: i64,
    /// Stored before the transaction, by key; dropped once this transaction changes the row.
    known: HashMap<String, KnownRow>,
    candidates: Candidates,
    fresh: Vec<Fresh<'a>>,
    fresh_by_band: HashMap<i64, Vec<usize>>,
    fresh_keys: HashMap<&'a str, i64>,
}

/// The entries one fetch inserted, kept apart until its savepoint is released.
#[derive(Default)]
struct Staged<'a> {
    fresh: Vec<Fresh<'a>>,
    /// Band key → positions in `fresh`: matching inside one fetch is a lookup, not a scan.
    fresh_by_band: HashMap<i64, Vec<usize>>,
    /// Rows this fetch changed among the `known` ones: (key, id).
    changed: Vec<(&'a str, i64)>,
    /// Keys this fetch inserted: (key, id).
    inserted: Vec<(&'a str, i64)>,
    next_id: Option<i64>,
}

impl<'a> Batch<'a> {
    async fn load(
        conn: &mut SqliteConnection,
        writes: &[FetchWrite<'a>],
    ) -> Result<Batch<'a>, StoreError> {
        // One process writes (the instance lock), so ids can be handed out here; knowing the id
        // before the insert lets the row be written once, cluster included.
        let next_id: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) + 1 FROM entries")
            .fetch_one(&mut *conn)
            .await
            .ctx("reading the next entry id")?;
        let entries: Vec<&NewEntry> = writes.iter().flat_map(|w| w.entries).collect();
        let known = known_rows(conn, &entries).await?;
        let candidates = Candidates::load(conn, &entries, &known).await?;
        Ok(Batch {
            next_id,
            known,
            candidates,
            fresh: Vec::new(),
            fresh_by_band: HashMap::new(),
            fresh_keys: HashMap::new(),
        })
    }

    /// A fetch's savepoint was released: its entries are part of the transaction now.
    fn accept(&mut self, staged: Staged<'a>) {
        if let Some(id) = staged.next_id {
            self.next_id = id;
        }
        for (key, id) in staged.changed {
            // Later fetches check against the row as it is now.
            self.known.remove(key);
            self.fresh_keys.insert(key, id);
        }
        self.fresh_keys.extend(staged.inserted);
        for f in staged.fresh {
            index_bands(&mut self.fresh_by_band, f.bands, self.fresh.len());
            self.fresh.push(f);
        }
    }

    /// The cluster of the first near-duplicate among the entries that share one of the new
    /// entry's band keys — stored ones first, oldest first, then those inserted in this
    /// transaction, then earlier in this fetch — if any.
    fn cluster_of(
        &self,
        e: &NewEntry,
        staged: &Staged<'_>,
        rules: &IngestRules<'_>,
    ) -> Option<i64> {
        let fp = e.fingerprint.as_deref()?;
        let stored = &self.candidates;
        let mut ids: Vec<i64> = e
            .bands
            .iter()
            .filter_map(|b| stored.by_band.get(b))
            .flatten()
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let stored_match = ids.iter().find_map(|id| {
            let (cluster, theirs) = stored.entries.get(id)?;
            (rules.near_duplicate)(fp, theirs).then_some(*cluster)
        });
        if stored_match.is_some() {
            return stored_match;
        }
        let in_batch = first_match(e, fp, &self.fresh_by_band, &self.fresh, rules);
        if in_batch.is_some() {
            return in_batch;
        }
        first_match(e, fp, &staged.fresh_by_band, &staged.fresh, rules)
    }

    /// Band keys of every entry the transaction inserted, in key order, in one statement.
    async fn write_bands(&self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        let mut pairs: Vec<(i64, i64)> = self
            .fresh
            .iter()
            .flat_map(|f| f.bands.iter().map(move |b| (*b, f.id)))
            .collect();
        if pairs.is_empty() {
            return Ok(());
        }
        pairs.sort_unstable();
        // In chunks: a statement that changes pages all over a large index keeps a copy of each
        // in its statement journal until it ends, and one statement for the whole transaction
        // made that copy the largest thing in memory.
        for chunk in pairs.chunks(BAND_CHUNK) {
            sqlx::query(
                "INSERT OR IGNORE INTO entry_bands (band, entry_id)
                 SELECT value ->> 0, value ->> 1 FROM json_each(?1)",
            )
            .bind(json_array(chunk))
            .execute(&mut *conn)
            .await
            .ctx("indexing band keys")?;
        }
        Ok(())
    }
}

async fn insert_entries<'a>(
    conn: &mut SqliteConnection,
    w: &FetchWrite<'a>,
    now: &str,
    rules: &IngestRules<'_>,
    stats: &mut IngestStats,
    batch: &mut Batch<'a>,
    staged: &mut Staged<'a>,
) -> Result<(), StoreError> {
    // A handful of statements per fetch, whatever its size: each statement is a round trip to
    // the database thread.
    let entries: &'a [NewEntry] = w.entries;
    if entries.is_empty() {
        return Ok(());
    }
    let mut next_id = batch.next_id;
    let mut rows: Vec<EntryJson<'_>> = Vec::new();
    let mut again: Vec<&NewEntry> = Vec::new();
    let mut known_ids: Vec<i64> = Vec::new();
    let mut own_keys: HashMap<&str, i64> = HashMap::new();
    for e in entries {
        if let Some(row) = batch.known.get(e.key.as_str()) {
            let row = row.clone();
            let (id, changed) = update_known(conn, e, row, now, rules, stats).await?;
            if changed {
                staged.changed.push((&e.key, id));
            }
            known_ids.push(id);
            continue;
        }
        if own_keys.contains_key(e.key.as_str()) || batch.fresh_keys.contains_key(e.key.as_str()) {
            // Stored earlier in this transaction (by another feed, or the same key twice in
            // one document): an update check against the row as it is now.
            again.push(e);
            continue;
        }
        let id = next_id;
        next_id += 1;
        let cluster_id = batch.cluster_of(e, staged, rules).unwrap_or(id);
        let excluded = e
            .excluded
            .as_deref()
            .or((rules.skip_near_duplicates && cluster_id != id).then_some("near-duplicate"));
        if let Some(fp) = &e.fingerprint
            && !e.bands.is_empty()
        {
            index_bands(&mut staged.fresh_by_band, &e.bands, staged.fresh.len());
            staged.fresh.push(Fresh {
                id,
                cluster_id,
                fingerprint: fp,
                bands: &e.bands,
            });
        }
        own_keys.insert(&e.key, id);
        rows.push(EntryJson::new(id, e, now, excluded, cluster_id));
        stats.new += 1;
    }
    if !rows.is_empty() {
        sqlx::query(
            "INSERT INTO entries (id, key, guid, url, title, author, published, updated,
                                  record_date, content_text, content_hash, first_seen_at,
                                  content_html, feed_text, feed_hash, text_source, language,
                                  fingerprint, excluded, cluster_id)
             SELECT value ->> '$.id', value ->> '$.key', value ->> '$.guid', value ->> '$.url',
                    value ->> '$.title', value ->> '$.author', value ->> '$.published',
                    value ->> '$.updated', value ->> '$.record_date', value ->> '$.content_text',
                    value ->> '$.content_hash', value ->> '$.first_seen_at',
                    value ->> '$.content_html', value ->> '$.feed_text', value ->> '$.feed_hash',
                    value ->> '$.text_source', value ->> '$.language',
                    unhex(value ->> '$.fingerprint'), value ->> '$.excluded',
                    value ->> '$.cluster_id'
             FROM json_each(?1)",
        )
        .bind(json_array(&rows))
        .execute(&mut *conn)
        .await
        .ctx("inserting entries")?;
    }
    for e in again {
        let row = known_rows(conn, &[e]).await?.remove(e.key.as_str());
        if let Some(row) = row {
            known_ids.push(update_known(conn, e, row, now, rules, stats).await?.0);
        }
    }
    let new_ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    link(conn, w.feed_id, &new_ids, now).await?;
    stats.linked += link(conn, w.feed_id, &known_ids, now).await?;
    staged.inserted.extend(own_keys);
    staged.next_id = Some(next_id);
    Ok(())
}

/// A new entry row as the batched insert reads it from JSON.
#[derive(serde::Serialize)]
struct EntryJson<'a> {
    id: i64,
    key: &'a str,
    guid: Option<&'a str>,
    url: Option<&'a str>,
    title: Option<&'a str>,
    author: Option<&'a str>,
    published: Option<&'a str>,
    updated: Option<&'a str>,
    record_date: &'a str,
    content_text: &'a str,
    content_hash: &'a str,
    first_seen_at: &'a str,
    content_html: Option<&'a str>,
    feed_text: Option<&'a str>,
    feed_hash: &'a str,
    text_source: &'a str,
    language: Option<&'a str>,
    /// Hex: JSON has no bytes.
    fingerprint: Option<String>,
    excluded: Option<&'a str>,
    cluster_id: i64,
}

impl<'a> EntryJson<'a> {
    fn new(
        id: i64,
        e: &'a NewEntry,
        now: &'a str,
        excluded: Option<&'a str>,
        cluster_id: i64,
    ) -> EntryJson<'a> {
        EntryJson {
            id,
            key: &e.key,
            guid: e.guid.as_deref(),
            url: e.url.as_deref(),
            title: e.title.as_deref(),
            author: e.author.as_deref(),
            published: e.published.as_deref(),
            updated: e.updated.as_deref(),
            record_date: &e.record_date,
            content_text: &e.content_text,
            content_hash: &e.content_hash,
            first_seen_at: now,
            content_html: e.content_html.as_deref(),
            feed_text: e.feed_text.as_deref(),
            feed_hash: &e.feed_hash,
            text_source: &e.text_source,
            language: e.language.as_deref(),
            fingerprint: e.fingerprint.as_deref().map(hex::encode),
            excluded,
            cluster_id,
        }
    }
}

/// Stored entries that share a band key with the fetch's new entries: the near-duplicate
/// candidates, read in two statements for the whole fetch.
struct Candidates {
    /// Band key → ids of the first stored entries carrying it, oldest first.
    by_band: HashMap<i64, Vec<i64>>,
    /// Id → (cluster, fingerprint).
    entries: HashMap<i64, (i64, Vec<u8>)>,
}

/// Band keys written per statement.
const BAND_CHUNK: usize = 4096;

/// Stored entries read per band key: enough for any real cluster, bounded for a key that
/// countless texts share.
const CANDIDATES_PER_BAND: usize = 16;

impl Candidates {
    async fn load(
        conn: &mut SqliteConnection,
        entries: &[&NewEntry],
        known: &HashMap<String, KnownRow>,
    ) -> Result<Candidates, StoreError> {
        let mut out = Candidates {
            by_band: HashMap::new(),
            entries: HashMap::new(),
        };
        let bands: Vec<i64> = entries
            .iter()
            .filter(|e| e.fingerprint.is_some() && !known.contains_key(&e.key))
            .flat_map(|e| e.bands.iter().copied())
            .collect();
        if bands.is_empty() {
            return Ok(out);
        }
        let pairs = sqlx::query(
            "SELECT band, entry_id FROM entry_bands
             WHERE band IN (SELECT value FROM json_each(?1)) ORDER BY band, entry_id",
        )
        .bind(json_array(&bands))
        .fetch_all(&mut *conn)
        .await
        .ctx("finding near-duplicate candidates")?;
        if pairs.is_empty() {
            return Ok(out);
        }
        let mut ids: Vec<i64> = Vec::with_capacity(pairs.len());
        for r in &pairs {
            let (band, id): (i64, i64) = (r.col(0)?, r.col(1)?);
            let ids_of_band = out.by_band.entry(band).or_default();
            if ids_of_band.len() < CANDIDATES_PER_BAND {
                ids_of_band.push(id);
                ids.push(id);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let rows = sqlx::query(
            // Band rows of deleted entries find no row here.
            "SELECT id, coalesce(cluster_id, id), fingerprint FROM entries
             WHERE id IN (SELECT value FROM json_each(?1)) AND fingerprint IS NOT NULL",
        )
        .bind(json_array(&ids))
        .fetch_all(&mut *conn)
        .await
        .ctx("reading near-duplicate candidates")?;
        for r in &rows {
            out.entries.insert(r.col(0)?, (r.col(1)?, r.col(2)?));
        }
        Ok(out)
    }
}

fn json_array<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// Links entries to a feed; returns how many links are new.
async fn link(
    conn: &mut SqliteConnection,
    feed_id: i64,
    ids: &[i64],
    now: &str,
) -> Result<usize, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(
        "INSERT INTO feed_entries (feed_id, entry_id, first_seen_at)
         SELECT ?1, value, ?2 FROM json_each(?3) WHERE true
         ON CONFLICT DO NOTHING",
    )
    .bind(feed_id)
    .bind(now)
    .bind(json_array(ids))
    .execute(&mut *conn)
    .await
    .ctx("linking entries to their feed")?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(0))
}

/// Reads `SELECT id, feed_hash, text_source, …`.
fn known_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<KnownRow, StoreError> {
    Ok(KnownRow {
        id: r.col(0)?,
        feed_hash: r.col(1)?,
        text_source: r.col(2)?,
    })
}

/// The stored rows among these entries' keys, by key: one query per fetch.
async fn known_rows(
    conn: &mut SqliteConnection,
    entries: &[&NewEntry],
) -> Result<HashMap<String, KnownRow>, StoreError> {
    let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    // Answered from the entries_key_state index: no article text is read.
    let rows = sqlx::query(
        "SELECT id, feed_hash, text_source, key
         FROM entries WHERE key IN (SELECT value FROM json_each(?1))",
    )
    .bind(json_array(&keys))
    .fetch_all(&mut *conn)
    .await
    .ctx("looking up known entries")?;
    rows.iter()
        .map(|r| -> Result<_, StoreError> { Ok((r.col::<String>(3)?, known_from_row(r)?)) })
        .collect::<Result<_, _>>()
}

/// A known entry: keeps a revision when the feed's text changed. Returns the entry's id and
/// whether the row changed.
async fn update_known(
    conn: &mut SqliteConnection,
    e: &NewEntry,
    row: KnownRow,
    now: &str,
    rules: &IngestRules<'_>,
    stats: &mut IngestStats,
) -> Result<(i64, bool), StoreError> {
    let id = row.id;
    if row.feed_hash.as_deref() != Some(e.feed_hash.as_str()) && !e.content_text.is_empty() {
        sqlx::query(
            "INSERT INTO entry_revisions (entry_id, title, content_text, content_hash, replaced_at)
             SELECT id, title, content_text, content_hash, ?2 FROM entries WHERE id = ?1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await
        .ctx("keeping a revision")?;
        if row.text_source == "page" && e.text_source == "feed" {
            // The record holds the article page's text; only the feed's teaser changed.
            sqlx::query(
                "UPDATE entries SET feed_text = ?2, feed_hash = ?3, updated_at = ?4 WHERE id = ?1",
            )
            .bind(id)
            .bind(&e.content_text)
            .bind(&e.feed_hash)
            .bind(now)
            .execute(&mut *conn)
            .await
            .ctx("updating an entry")?;
        } else {
            sqlx::query(
                "UPDATE entries SET title = ?2, content_text = ?3, content_hash = ?4, content_html = ?5,
                        feed_text = ?6, feed_hash = ?7, text_source = ?8, language = ?9,
                        fingerprint = ?10, updated_at = ?11,
                        record_stale = CASE WHEN ?12 AND record_path IS NOT NULL THEN 1 ELSE record_stale END
                 WHERE id = ?1",
            )
            .bind(id)
            .bind(&e.title)
            .bind(&e.content_text)
            .bind(&e.content_hash)
            .bind(&e.content_html)
            .bind(&e.feed_text)
            .bind(&e.feed_hash)
            .bind(&e.text_source)
            .bind(&e.language)
            .bind(&e.fingerprint)
            .bind(now)
            .bind(rules.rewrite_on_update)
            .execute(&mut *conn)
            .await
            .ctx("updating an entry")?;
        }
        stats.updated += 1;
        return Ok((id, true));
    }
    Ok((id, false))
}

fn pending_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<PendingRecord, StoreError> {
    Ok(PendingRecord {
        entry_id: r.col(0)?,
        key: r.col(1)?,
        record_date: r.col(2)?,
        content_text: r.col(3)?,
        record_path: r.col(4)?,
        title: r.col(5)?,
        author: r.col(6)?,
        url: r.col(7)?,
        content_html: r.col(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_update() -> FeedUpdate {
        FeedUpdate {
            status: "ok".into(),
            ..FeedUpdate::default()
        }
    }

    fn entry(key: &str, text: &str) -> NewEntry {
        NewEntry {
            key: key.into(),
            guid: Some(key.into()),
            url: None,
            title: Some("t".into()),
            author: None,
            published: Some("2026-06-15T18:23:24Z".into()),
            updated: None,
            record_date: "2026-06-15".into(),
            content_text: text.into(),
            content_hash: crate::model::entry::sha256_hex(text),
            content_html: None,
            feed_text: None,
            feed_hash: crate::model::entry::sha256_hex(text),
            text_source: "feed".into(),
            language: None,
            fingerprint: None,
            bands: Vec::new(),
            excluded: None,
        }
    }

    #[tokio::test]
    async fn ingest_dedups_and_links_across_feeds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db/f.db"))
            .await
            .expect("open");
        let ids = store
            .sync_feeds(&[
                FeedSpec {
                    name: "a",
                    url: "https://a/feed",
                },
                FeedSpec {
                    name: "b",
                    url: "https://b/feed",
                },
            ])
            .await
            .expect("sync");
        let batch = vec![entry("k1", "one"), entry("k2", "two"), entry("k3", "")];
        let s = store
            .apply_fetch(ids["a"], &ok_update(), &batch, &IngestRules::plain())
            .await
            .expect("ingest");
        assert_eq!((s.new, s.linked, s.total), (3, 0, 3));
        let s = store
            .apply_fetch(ids["a"], &ok_update(), &batch, &IngestRules::plain())
            .await
            .expect("again");
        assert_eq!((s.new, s.linked), (0, 0));
        let s = store
            .apply_fetch(ids["b"], &ok_update(), &batch[..1], &IngestRules::plain())
            .await
            .expect("b");
        assert_eq!((s.new, s.linked), (0, 1));

        let pending = store.pending_records(100, true).await.expect("pending");
        assert_eq!(pending.len(), 2, "the empty entry has no record to write");
        store
            .set_record_paths(&[(pending[0].entry_id, "005_x.txt".into())])
            .await
            .expect("mark");
        assert_eq!(
            store
                .pending_records(100, true)
                .await
                .expect("pending")
                .len(),
            1
        );
        assert_eq!(store.record_paths().await.expect("paths").len(), 1);
        assert_eq!(store.integrity_check().await.expect("check"), "ok");
    }

    #[tokio::test]
    async fn the_wal_is_bounded_and_read_only_opens_write_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("w.db");
        let store = Store::open(&path).await.expect("open");
        let limit: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
            .fetch_one(&store.pool)
            .await
            .expect("pragma");
        assert_eq!(limit, 64 * 1024 * 1024);
        store.close().await;
        let ro = Store::open_existing(&path).await.expect("open read-only");
        let write = sqlx::query("CREATE TABLE t (x)").execute(&ro.pool).await;
        assert!(write.is_err(), "a read-only store must refuse writes");
    }

    #[tokio::test]
    async fn removed_feeds_become_inactive_and_failures_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("f.db")).await.expect("open");
        let ids = store
            .sync_feeds(&[FeedSpec {
                name: "a",
                url: "https://a/feed",
            }])
            .await
            .expect("sync");
        let fail = FeedUpdate {
            status: "error".into(),
            http_status: Some(404),
            error: Some("HTTP status 404".into()),
            ..FeedUpdate::default()
        };
        store
            .apply_fetch(ids["a"], &fail, &[], &IngestRules::plain())
            .await
            .expect("fail");
        store
            .apply_fetch(ids["a"], &fail, &[], &IngestRules::plain())
            .await
            .expect("fail");
        assert_eq!(
            store.feed_state(ids["a"]).await.expect("state").error_count,
            2
        );
        store.sync_feeds(&[]).await.expect("resync");
        let row = sqlx::query("SELECT active, error_count, last_error FROM feeds WHERE name = 'a'")
            .fetch_one(&store.pool)
            .await
            .expect("row");
        assert_eq!(row.get::<i64, _>(0), 0);
        assert_eq!(row.get::<i64, _>(1), 2);
        assert_eq!(row.get::<String, _>(2), "HTTP status 404");
    }

    /// An entry with a real fingerprint, so near-duplicate checks have something to compare.
    fn fingerprinted(key: &str, text: &str) -> NewEntry {
        let fp = crate::pipeline::text::neardup::fingerprint(text);
        NewEntry {
            bands: crate::pipeline::text::neardup::band_ids(&fp),
            fingerprint: Some(fp.to_bytes()),
            ..entry(key, text)
        }
    }

    fn near_rules() -> IngestRules<'static> {
        IngestRules {
            skip_near_duplicates: true,
            rewrite_on_update: false,
            near_duplicate: &crate::pipeline::text::quality::near_duplicate,
        }
    }

    const STORY: &str = "The central bank of Uzbekistan cut its main interest rate by half a point to 13 percent on \
        Thursday, citing a steady slowdown in inflation and calmer food prices across the country. Annual \
        inflation fell to 8.1 percent in May from 9.6 percent at the start of the year, the bank said in a \
        statement, and it expects to reach its target by the end of 2027.";

    async fn two_feeds(dir: &tempfile::TempDir) -> (Store, i64, i64) {
        let store = Store::open(&dir.path().join("f.db")).await.expect("open");
        let ids = store
            .sync_feeds(&[
                FeedSpec {
                    name: "a",
                    url: "https://a/feed",
                },
                FeedSpec {
                    name: "b",
                    url: "https://b/feed",
                },
            ])
            .await
            .expect("sync");
        (store, ids["a"], ids["b"])
    }

    async fn count(store: &Store, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&store.pool)
            .await
            .expect("count")
    }

    #[tokio::test]
    async fn a_fetch_the_database_refuses_fails_alone_in_its_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, a, b) = two_feeds(&dir).await;
        let update = ok_update();
        let first = [entry("k1", "one"), entry("k2", "two")];
        let refused = [entry("k3", "three")];
        // The refused fetch's entry comes again in a later fetch of the same batch.
        let last = [entry("k4", "four"), entry("k3", "three")];
        let writes = [
            FetchWrite {
                feed_id: a,
                update: Some(&update),
                entries: &first,
            },
            // No such feed: its link violates the foreign key.
            FetchWrite {
                feed_id: 9999,
                update: Some(&update),
                entries: &refused,
            },
            FetchWrite {
                feed_id: b,
                update: Some(&update),
                entries: &last,
            },
        ];
        let results = store
            .apply_fetches(&writes, &IngestRules::plain())
            .await
            .expect("batch");
        assert_eq!(results.len(), 3);
        assert_eq!(results[0].as_ref().map(|s| s.new).ok(), Some(2));
        assert!(results[1].is_err(), "{:?}", results[1]);
        assert_eq!(results[2].as_ref().map(|s| s.new).ok(), Some(2));
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM entries ORDER BY id")
            .fetch_all(&store.pool)
            .await
            .expect("keys");
        assert_eq!(keys, ["k1", "k2", "k4", "k3"]);
        // Every stored entry reached the search index once.
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'one OR two OR four'"
            )
            .await,
            3
        );
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'three'"
            )
            .await,
            1
        );
        let links: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM feed_entries fe JOIN entries e ON e.id = fe.entry_id
             WHERE e.key = 'k3' AND fe.feed_id = ?1",
        )
        .bind(b)
        .fetch_one(&store.pool)
        .await
        .expect("links");
        assert_eq!(links, 1);
        assert_eq!(store.integrity_check().await.expect("check"), "ok");
    }

    #[tokio::test]
    async fn one_batch_stores_a_shared_entry_once_and_clusters_copies_across_its_fetches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, a, b) = two_feeds(&dir).await;
        let update = ok_update();
        let copy = STORY.replace("Thursday", "Thursday morning");
        let from_a = [fingerprinted("shared", STORY)];
        let from_b = [
            fingerprinted("shared", STORY),
            fingerprinted("copy", &copy),
            fingerprinted(
                "other",
                "Almaty opened a network of bicycle lanes separated from car traffic on Wednesday, the first \
                 of its kind in Kazakhstan. The lanes run along two avenues and connect the centre with the \
                 university district, the city said.",
            ),
        ];
        let writes = [
            FetchWrite {
                feed_id: a,
                update: Some(&update),
                entries: &from_a,
            },
            FetchWrite {
                feed_id: b,
                update: Some(&update),
                entries: &from_b,
            },
        ];
        let results = store
            .apply_fetches(&writes, &near_rules())
            .await
            .expect("batch");
        let b_stats = results[1].as_ref().expect("b stored");
        assert_eq!((b_stats.new, b_stats.linked), (2, 1));
        let rows: Vec<(String, i64, i64, Option<String>)> =
            sqlx::query_as("SELECT key, id, cluster_id, excluded FROM entries ORDER BY id")
                .fetch_all(&store.pool)
                .await
                .expect("rows");
        let shared_id = rows[0].1;
        assert_eq!(rows[0].0, "shared");
        assert_eq!((rows[1].0.as_str(), rows[1].2), ("copy", shared_id));
        assert_eq!(rows[1].3.as_deref(), Some("near-duplicate"));
        assert_eq!(rows[2].0, "other");
        assert_eq!(
            rows[2].2, rows[2].1,
            "an unrelated story starts its own cluster"
        );
        assert_eq!(count(&store, "SELECT count(*) FROM feed_entries").await, 4);

        // A later transaction finds the cluster through the stored band keys.
        let later = [fingerprinted(
            "late-copy",
            &STORY.replace("percent", "per cent"),
        )];
        let s = store
            .apply_fetch(a, &update, &later, &near_rules())
            .await
            .expect("later");
        assert_eq!(s.new, 1);
        let cluster: i64 =
            sqlx::query_scalar("SELECT cluster_id FROM entries WHERE key = 'late-copy'")
                .fetch_one(&store.pool)
                .await
                .expect("cluster");
        assert_eq!(cluster, shared_id);
    }

    #[tokio::test]
    async fn an_entry_changed_by_one_fetch_is_checked_against_its_new_text_by_the_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, a, b) = two_feeds(&dir).await;
        let update = ok_update();
        store
            .apply_fetch(a, &update, &[entry("k", "first")], &IngestRules::plain())
            .await
            .expect("first");
        let second = [entry("k", "second")];
        let third = [entry("k", "second")];
        let writes = [
            FetchWrite {
                feed_id: a,
                update: Some(&update),
                entries: &second,
            },
            FetchWrite {
                feed_id: b,
                update: Some(&update),
                entries: &third,
            },
        ];
        let results = store
            .apply_fetches(&writes, &IngestRules::plain())
            .await
            .expect("batch");
        assert_eq!(results[0].as_ref().map(|s| s.updated).ok(), Some(1));
        let b_stats = results[1].as_ref().expect("b");
        assert_eq!((b_stats.updated, b_stats.linked, b_stats.new), (0, 1, 0));
        assert_eq!(
            count(&store, "SELECT count(*) FROM entry_revisions").await,
            1
        );
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'second'"
            )
            .await,
            1
        );
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'first'"
            )
            .await,
            0
        );
    }
}
