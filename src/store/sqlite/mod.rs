//! The SQLite backend: the only code that speaks SQLite's SQL.
//!
//! WAL mode lets `sqlite3` and other readers query while the daemon writes, and a busy timeout
//! rides out their brief locks. Fetches that arrive together share one transaction, each in its
//! own savepoint, so a crash leaves a feed either fully ingested or untouched, and one commit
//! pays for many feeds. A record path is stored only after the corpus has made the file
//! durable; entries without one are the corpus's to-do list. Batches travel as JSON arrays read
//! with `json_each`: one statement per step of a fetch, whatever its size.

mod bands;
mod fingerprints;
mod ingest;
mod report;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use super::batch::store_fetches;
use super::rows::{self, Col, Context};
use super::{
    CorpusMark, EntryFilter, EntryRow, FeedRow, FeedSpec, FetchWrite, IngestRules, IngestStats,
    SearchHit, SearchQuery, StoreError, Totals, now_rfc3339,
};
use crate::model::feed::FeedState;
use crate::model::record::PendingRecord;
use crate::model::rfc3339;
use crate::store::batch::{FeedStateRow, FeedWrite};
use ingest::{SqliteBatch, json_array};

/// A pool on `path` with the settings every connection shares, plus `mode`'s.
async fn connect(
    path: &Path,
    mode: impl FnOnce(SqliteConnectOptions) -> SqliteConnectOptions,
) -> Result<SqlitePool, StoreError> {
    let open_err = |source| StoreError::Open {
        db: path.display().to_string(),
        source,
    };
    let opts = SqliteConnectOptions::from_str("sqlite://")
        .map_err(open_err)?
        .filename(path)
        .busy_timeout(Duration::from_secs(30))
        .pragma("cache_size", "-4096")
        // Statement journals of the batched inserts in temporary files (the OS caches them),
        // not on the heap: 10 MB less at the peak of a cold poll, no measurable time.
        .pragma("temp_store", "file");
    SqlitePoolOptions::new()
        .max_connections(POOL_CONNECTIONS)
        // A connection to a local file does not go stale: the ping before each use cost a round
        // trip to its worker thread per statement batch (a poll of 1,000 unchanged feeds made
        // 2,000 of them).
        .test_before_acquire(false)
        .connect_with(mode(opts))
        .await
        .map_err(open_err)
}

/// One connection for the writer, one for the readers (fetch state, pending records): more only
/// multiplied page caches.
const POOL_CONNECTIONS: u32 = 2;

/// The columns of a feed's polling state, in `state_of`'s order.
macro_rules! state_columns {
    () => {
        "etag, last_modified, body_hash, fetch_url, redirect_target, redirect_count, error_count,
         disabled_reason, interval_secs, last_success_at, next_poll_at, retry_until, hints"
    };
}

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Band keys the near-duplicate index may hold (see [`bands`]).
    bands: std::sync::Arc<tokio::sync::Mutex<bands::BandFilter>>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, true).await
    }

    /// Opens an existing database read-only (for queries): it is never created or migrated,
    /// and a schema older or newer than this binary's is a clear error.
    pub async fn open_existing(path: &Path) -> Result<SqliteStore, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing {
                db: path.display().to_string(),
            });
        }
        let pool = connect(path, |o| o.read_only(true)).await?;
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        let known: Vec<i64> = sqlx::migrate!("./migrations/sqlite")
            .iter()
            .map(|m| m.version)
            .collect();
        super::check_versions(&applied, &known, &path.display().to_string())?;
        Ok(SqliteStore {
            pool,
            bands: Default::default(),
        })
    }

    async fn open_with(path: &Path, create: bool) -> Result<SqliteStore, StoreError> {
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
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                db: path.display().to_string(),
                source,
            })?;
        Ok(SqliteStore {
            pool,
            bands: Default::default(),
        })
    }

    /// Frees the page caches of the idle connections (the daemon between poll rounds).
    pub async fn release_memory(&self) {
        if let Err(e) = self.flush_bands().await {
            tracing::warn!(error = %e, "cannot write the held band keys yet; they are kept for later");
        }
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
        // The band filter goes too: a daemon's next round is small, and it is rebuilt only
        // when its lookups would cost more than reading the index.
        if let Ok(mut f) = self.bands.try_lock() {
            f.reset();
        }
    }

    pub async fn close(&self) {
        if let Err(e) = self.flush_bands().await {
            tracing::warn!(error = %e, "band keys not written; the next start writes them from the stored fingerprints");
        }
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
        // A start with the feed list the table already has (most starts) reads it once and
        // writes nothing: the four statements below cost a write transaction and each parses
        // the whole list again (about 10 ms for 1,000 feeds, a sixth of a poll of 304s).
        if let Some(ids) = self.unchanged_feed_ids(feeds).await? {
            return Ok(ids);
        }
        let now = now_rfc3339();
        let mut tx = self.write_tx().await?;
        // Four statements whatever the number of feeds: a daemon with thousands of feeds
        // starts (and reloads) without thousands of round trips. Rows that stay as they are
        // are not written (a start with an unchanged feed list writes nothing).
        let list: Vec<(&str, &str)> = feeds.iter().map(|f| (f.name, f.url)).collect();
        let list = json_array(&list);
        sqlx::query(
            "UPDATE feeds SET active = 0
             WHERE active <> 0 AND name NOT IN (SELECT value ->> 0 FROM json_each(?1))",
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
             ON CONFLICT(name) DO UPDATE SET url = excluded.url, active = 1
                 WHERE feeds.url <> excluded.url OR feeds.active <> 1",
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

    /// The row ids of `feeds` when the table already matches them (each one there, with its
    /// URL, active; no other feed active), else `None`: [`SqliteStore::sync_feeds`] then
    /// writes. Names and URLs compare as SQL's `=` does (bytes).
    async fn unchanged_feed_ids(
        &self,
        feeds: &[FeedSpec<'_>],
    ) -> Result<Option<HashMap<String, i64>>, StoreError> {
        // One row of JSON (rows through the driver cost several microseconds each); a list
        // it cannot carry is written the long way.
        let json: Result<String, _> = sqlx::query_scalar(
            "SELECT json_group_array(json_array(id, name, url, active)) FROM feeds",
        )
        .fetch_one(&self.pool)
        .await;
        let Some(rows) = json
            .ok()
            .and_then(|j| serde_json::from_str::<Vec<(i64, String, String, i64)>>(&j).ok())
        else {
            return Ok(None);
        };
        let mut stored: HashMap<&str, (i64, &str, bool)> = HashMap::with_capacity(rows.len());
        let mut active = 0usize;
        for (id, name, url, is_active) in &rows {
            active += usize::from(*is_active != 0);
            stored.insert(name.as_str(), (*id, url.as_str(), *is_active != 0));
        }
        let mut ids = HashMap::with_capacity(feeds.len());
        for f in feeds {
            match stored.get(f.name) {
                Some((id, url, true)) if *url == f.url => {
                    ids.insert(f.name.to_string(), *id);
                }
                _ => return Ok(None),
            }
        }
        // Every active row is a configured feed (names are unique on both sides).
        Ok((active == ids.len()).then_some(ids))
    }

    pub async fn feed_id(&self, name: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT id FROM feeds WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .ctx("looking up a feed")
    }

    /// Reads a feed's polling state.
    pub async fn feed_state(&self, feed_id: i64) -> Result<FeedState, StoreError> {
        let r = sqlx::query(concat!(
            "SELECT ",
            state_columns!(),
            " FROM feeds WHERE id = ?1"
        ))
        .bind(feed_id)
        .fetch_one(&self.pool)
        .await
        .ctx("reading a feed's state")?;
        state_of(&r, 0)
    }

    pub async fn feed_states(&self) -> Result<HashMap<i64, FeedState>, StoreError> {
        // One row of JSON: 1,000 rows through the driver took 10 ms, a sixth of a poll of
        // 1,000 unchanged feeds.
        let json: Result<String, _> = sqlx::query_scalar(concat!(
            "SELECT json_group_array(json_array(id, ",
            state_columns!(),
            ")) FROM feeds"
        ))
        .fetch_one(&self.pool)
        .await;
        if let Ok(json) = json
            && let Ok(rows) = serde_json::from_str::<Vec<Vec<serde_json::Value>>>(&json)
        {
            return Ok(rows.iter().filter_map(|r| state_of_json(r)).collect());
        }
        // A value JSON cannot carry (bytes written by hand): row by row.
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
        sqlx::query_scalar("SELECT model FROM feed_boilerplate WHERE feed_id = ?1")
            .bind(feed_id)
            .fetch_optional(&self.pool)
            .await
            .ctx("reading a feed's boilerplate model")
    }

    /// The stored feed-text hash of each of these keys that is stored.
    pub async fn known_feed_hashes(
        &self,
        keys: &[&str],
    ) -> Result<HashMap<String, String>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut conn = self.pool.acquire().await.ctx("looking up known entries")?;
        let rows = fetch_by_key(&mut conn, KNOWN_FEED_HASHES, &json_array(keys))
            .await
            .ctx("looking up known entries")?;
        rows.iter()
            .map(|r| -> Result<_, StoreError> { Ok((r.col::<String>(0)?, r.col::<String>(1)?)) })
            .collect::<Result<_, _>>()
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
        // One writer: the filter is held for the whole transaction.
        let mut filter = self.bands.lock().await;
        let probes: usize = writes
            .iter()
            .flat_map(|w| w.entries)
            .map(|e| e.bands.len())
            .sum();
        filter.prepare(&mut tx, probes as u64).await?;
        let held_before = filter.held();
        // Rows held by earlier transactions, kept to hold again if this one fails after
        // taking them to write.
        let mut earlier: Option<Vec<(i64, i64)>> = None;
        let result = async {
            let mut sql = SqliteBatch::with_filter(&mut filter);
            let (out, batch) = store_fetches(&mut sql, &mut tx, writes, &now, rules).await?;
            if let Some(first_id) = sql.first_id.filter(|_| !batch.inserted.is_empty()) {
                // The full-text index is fed once per transaction rather than by a per-row
                // trigger: FTS5 flushes its buffer at every statement savepoint, and one flush
                // per entry costs more than the rest of the insert.
                sqlx::query(
                    "INSERT INTO entries_fts (rowid, title, content_text)
                     SELECT id, coalesce(title, ''), content_text FROM entries WHERE id >= ?1",
                )
                .bind(first_id)
                .execute(&mut *tx)
                .await
                .ctx("indexing new entries for search")?;
            }
            let mut ids: Vec<i64> = batch.inserted.clone();
            ids.extend(filter.unmarked.iter().flat_map(|&(a, b)| [a, b]));
            let mut written = 0;
            if filter.held() >= bands::PENDING_BANDS {
                earlier = Some(filter.held_prefix(held_before));
                let taken = filter.take_pending();
                written = write_band_rows(&mut tx, &taken).await?;
            }
            let marked = filter.held() == 0;
            if marked {
                mark_checked(&mut tx, &ids).await?;
            }
            tx.commit().await.ctx("committing fetches")?;
            filter.wrote(written);
            if marked {
                filter.unmarked = None;
            } else {
                filter.note_unmarked(&batch.inserted);
            }
            Ok(out)
        }
        .await;
        if result.is_err() {
            // Nothing of this transaction stands: its held rows go, the earlier ones it took to
            // write are held again.
            match earlier {
                Some(rows) => {
                    let _ = filter.take_pending();
                    filter.hold(&rows);
                }
                None => filter.discard_after(held_before),
            }
        }
        result
    }

    /// Writes the band rows held in memory (see [`bands`]): at the end of a poll, between the
    /// daemon's rounds, and at close.
    pub async fn flush_bands(&self) -> Result<(), StoreError> {
        let mut filter = self.bands.lock().await;
        if filter.held() == 0 && filter.unmarked.is_none() && !filter.to_save() {
            return Ok(());
        }
        let rows = filter.take_pending();
        let mut ids: Vec<i64> = rows.iter().map(|p| p.1).collect();
        ids.extend(filter.unmarked.iter().flat_map(|&(a, b)| [a, b]));
        let done = async {
            let mut tx = self.write_tx().await?;
            let written = write_band_rows(&mut tx, &rows).await?;
            mark_checked(&mut tx, &ids).await?;
            // The filter is saved with the rows it covers, for the next process.
            let saved = match filter.rows_after(written) {
                Some(band_rows) => match filter.save(&mut tx, band_rows).await {
                    Ok(saved) => saved,
                    Err(e) => {
                        // A cache: the band rows are written without it, and a half-saved
                        // filter is never loaded.
                        tracing::warn!(error = %e, "cannot save the band filter; the next process builds it");
                        let _ = sqlx::query("DELETE FROM band_filter_state")
                            .execute(&mut *tx)
                            .await;
                        false
                    }
                },
                None => false,
            };
            tx.commit().await.ctx("committing band keys")?;
            Ok::<_, StoreError>((written, saved))
        }
        .await;
        match done {
            Ok((written, saved)) => {
                filter.unmarked = None;
                filter.wrote(written);
                if saved {
                    filter.saved_as();
                }
                Ok(())
            }
            Err(e) => {
                filter.hold(&rows);
                Err(e)
            }
        }
    }

    /// Entries without a durable record, oldest publication first. Entries whose text is empty
    /// have nothing to write and are never pending. `with_html` reads the HTML body too (only
    /// Markdown records need it).
    pub async fn pending_records(
        &self,
        limit: usize,
        with_html: bool,
    ) -> Result<Vec<PendingRecord>, StoreError> {
        // Which entries, from the index `entries_pending` alone (it holds exactly the pending
        // rows that get a record, in this order), then their rows: reading the rows while
        // choosing meant reading every pending row's text to keep the first batch.
        let ids: Vec<i64> = sqlx::query_scalar(PENDING_IDS)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .ctx("listing entries without a record")?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT id, key, record_date, content_text, record_path, title, author, url,
                    CASE WHEN ?2 THEN content_html END
             FROM entries WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_array(&ids))
        .bind(with_html)
        .fetch_all(&self.pool)
        .await
        .ctx("reading entries without a record")?;
        let mut by_id: HashMap<i64, PendingRecord> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let p = pending_from_row(r)?;
            by_id.insert(p.entry_id, p);
        }
        // In the index's order; an entry gone between the two reads is left out.
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// Every written record: (entry id, record path).
    pub async fn record_paths(&self) -> Result<Vec<(i64, String)>, StoreError> {
        // Two JSON arrays in one row: a third of the time of 50,000 rows through the driver.
        let arrays: Result<(String, String), _> = sqlx::query_as(
            "SELECT json_group_array(id), json_group_array(CAST(record_path AS TEXT))
             FROM entries WHERE record_path IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await;
        if let Ok((ids, paths)) = arrays
            && let (Ok(ids), Ok(paths)) = (
                serde_json::from_str::<Vec<i64>>(&ids),
                serde_json::from_str::<Vec<String>>(&paths),
            )
            && ids.len() == paths.len()
        {
            return Ok(ids.into_iter().zip(paths).collect());
        }
        // A value JSON cannot carry (a path edited into bytes by hand): row by row, with the
        // error naming what is wrong.
        let rows = sqlx::query("SELECT id, record_path FROM entries WHERE record_path IS NOT NULL")
            .fetch_all(&self.pool)
            .await
            .ctx("listing record paths")?;
        rows.iter()
            .map(|r| -> Result<_, StoreError> { Ok((r.col::<i64>(0)?, r.col::<String>(1)?)) })
            .collect::<Result<_, _>>()
    }

    /// The mark of the last complete record check of `corpus_dir`, with the entries that have a
    /// record path now.
    pub async fn corpus_mark(&self, corpus_dir: &str) -> Result<Option<CorpusMark>, StoreError> {
        let row = sqlx::query(
            "SELECT folder_state, records, checked_at,
                    (SELECT count(*) FROM entries WHERE record_path IS NOT NULL)
             FROM corpus_marks WHERE corpus_dir = ?1",
        )
        .bind(corpus_dir)
        .fetch_optional(&self.pool)
        .await
        .ctx("reading the corpus folder's mark")?;
        let Some(r) = row else { return Ok(None) };
        // A checked_at edited into something else reads as never checked.
        Ok(Some(CorpusMark {
            folder_state: r.col(0)?,
            records: r.col(1)?,
            checked_at: r.time(2)?.unwrap_or_default(),
            records_now: r.col(3)?,
        }))
    }

    /// Saves (replacing) the mark of `corpus_dir`: its folder in `folder_state` holds the
    /// record of every entry that has a record path now.
    pub async fn save_corpus_mark(
        &self,
        corpus_dir: &str,
        folder_state: &str,
        checked_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO corpus_marks (corpus_dir, folder_state, records, checked_at)
             VALUES (?1, ?2, (SELECT count(*) FROM entries WHERE record_path IS NOT NULL), ?3)
             ON CONFLICT (corpus_dir) DO UPDATE SET folder_state = excluded.folder_state,
                 records = excluded.records, checked_at = excluded.checked_at",
        )
        .bind(corpus_dir)
        .bind(folder_state)
        .bind(rfc3339(checked_at))
        .execute(&self.pool)
        .await
        .ctx("saving the corpus folder's mark")?;
        Ok(())
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

    /// Full-text search, best match first (`--raw`: FTS5 syntax); a title match weighs ten
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
        .bind(fts_query(q.words, q.raw))
        .bind(q.feed)
        .bind(q.since)
        .bind(i64::try_from(q.limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .ctx("searching")?;
        rows.iter().map(rows::search_hit).collect::<Result<_, _>>()
    }

    /// Streams entries in publication order to `each`, optionally filtered by feed and by a
    /// half-open time range `[since, until)` over publication (else first-seen) time.
    pub async fn for_each_entry(
        &self,
        filter: &EntryFilter<'_>,
        each: impl FnMut(EntryRow) -> std::io::Result<()>,
    ) -> Result<usize, StoreError> {
        let rows = sqlx::query(
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
        rows::each_entry(rows, each).await
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
            .map(|r| rows::feed_row(r, None))
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
        rows::totals(&r)
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

/// Band rows into `entry_bands`, sorted, in chunks: a statement that changes pages all over a
/// large index keeps a copy of each in its statement journal until it ends.
/// Returns the rows added (a row the table holds already is not).
pub(super) async fn write_band_rows(
    conn: &mut SqliteConnection,
    pairs: &[(i64, i64)],
) -> Result<u64, StoreError> {
    // Bound values, a chunk of rows per statement (JSON cost more to write and read back).
    let mut added = 0u64;
    for chunk in pairs.chunks(BAND_INSERT.max_rows) {
        let mut q = sqlx::query(BAND_INSERT.text(chunk.len()));
        for &(band, id) in chunk {
            q = q.bind(band).bind(id);
        }
        let done = q.execute(&mut *conn).await.ctx("indexing band keys")?;
        added = added.saturating_add(done.rows_affected());
    }
    Ok(added)
}

/// Band rows: two values each, 512 rows per statement.
static BAND_INSERT: RowStatements = RowStatements::new(
    "INSERT OR IGNORE INTO entry_bands (band, entry_id) VALUES ",
    2,
    512,
    "",
);

/// A lookup of entries by dedup key (a JSON array bound as `?1`), planned on `$index`.
macro_rules! by_key {
    ($columns:literal, $index:literal) => {
        concat!(
            "SELECT ",
            $columns,
            " FROM entries ",
            $index,
            " WHERE key IN (SELECT value FROM json_each(?1))"
        )
    };
}

/// Known entries by key: id, feed-text hash and text source, then the key. Each statement comes
/// as a pair: first the one named `INDEXED BY entries_key_state`, whose columns that index
/// holds, then the same without the hint. Left to itself SQLite plans these on the unique index
/// of `key` (one row at most per key) and reads each entry's row for the rest, and in a row the
/// columns after the article text lie in its overflow pages: two or three page reads per known
/// entry where the covering index takes one. The plain form is for a database whose index was
/// dropped by hand (the hinted one then fails to prepare).
pub(super) const KNOWN_ROWS: [&str; 2] = [
    by_key!(
        "id, feed_hash, text_source, key",
        "INDEXED BY entries_key_state"
    ),
    by_key!("id, feed_hash, text_source, key", ""),
];
/// Known entries' feed-text hashes by key (see [`KNOWN_ROWS`]).
pub(super) const KNOWN_FEED_HASHES: [&str; 2] = [
    by_key!(
        "key, coalesce(feed_hash, '')",
        "INDEXED BY entries_key_state"
    ),
    by_key!("key, coalesce(feed_hash, '')", ""),
];

/// Runs the first of a pair of statements (see [`KNOWN_ROWS`]) with a JSON array of keys, and
/// the second when the first names an index the database no longer has.
pub(super) async fn fetch_by_key(
    conn: &mut SqliteConnection,
    statements: [&'static str; 2],
    keys: &str,
) -> Result<Vec<sqlx::sqlite::SqliteRow>, sqlx::Error> {
    match sqlx::query(statements[0])
        .bind(keys)
        .fetch_all(&mut *conn)
        .await
    {
        Err(sqlx::Error::Database(e)) if e.message().contains("no such index") => {
            sqlx::query(statements[1]).bind(keys).fetch_all(conn).await
        }
        other => other,
    }
}

/// The next entries that need a record, in record order (answered from `entries_pending`).
pub(super) const PENDING_IDS: &str = "SELECT id FROM entries
     WHERE (record_path IS NULL OR record_stale = 1) AND content_text <> '' AND excluded IS NULL
     ORDER BY COALESCE(published, first_seen_at), id
     LIMIT ?1";

/// The text of a statement that carries `n` rows of bound values (`n` from 1 to `max_rows`),
/// made when first used and kept: sqlx keeps prepared statements by their text, so each row
/// count is prepared once. Values are bound row after row; SQLite takes 32,766 in all.
pub(super) struct RowStatements {
    /// Before the rows, and after them.
    head: &'static str,
    tail: &'static str,
    /// Values per row.
    width: usize,
    pub(super) max_rows: usize,
    texts: std::sync::OnceLock<Vec<std::sync::OnceLock<String>>>,
}

impl RowStatements {
    pub(super) const fn new(
        head: &'static str,
        width: usize,
        max_rows: usize,
        tail: &'static str,
    ) -> RowStatements {
        RowStatements {
            head,
            tail,
            width,
            max_rows,
            texts: std::sync::OnceLock::new(),
        }
    }

    /// The statement for `n` rows: `head`, the rows' `(?, …)` lists, `tail` (empty for `n`
    /// outside 1..=`max_rows`).
    pub(super) fn text(&self, n: usize) -> &str {
        if n == 0 {
            return "";
        }
        let texts = self.texts.get_or_init(|| {
            (0..=self.max_rows)
                .map(|_| std::sync::OnceLock::new())
                .collect()
        });
        texts.get(n).map_or("", |t| {
            t.get_or_init(|| {
                let row = format!("({})", vec!["?"; self.width].join(", "));
                format!("{}{}{}", self.head, vec![row; n].join(", "), self.tail)
            })
        })
    }
}

/// Entries `ids` (inserted by this binary, their band rows written) hold current fingerprints:
/// when every entry below them was checked already, the next open need not read them again.
async fn mark_checked(conn: &mut SqliteConnection, ids: &[i64]) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (ids.iter().min(), ids.iter().max()) else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE fingerprint_check SET checked_to = max(checked_to, ?2)
         WHERE id = 1 AND checked_to >= ?1 - 1",
    )
    .bind(first)
    .bind(last)
    .execute(&mut *conn)
    .await
    .ctx("noting checked fingerprints")?;
    Ok(())
}

/// Turns what a user types into an FTS5 query: each word must appear (quoted, so punctuation
/// such as `don't` or `C++` cannot break the syntax). `raw` passes FTS5 syntax through.
fn fts_query(words: &str, raw: bool) -> String {
    if raw {
        return words.to_string();
    }
    words
        .split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Feed states: 24 values each ([`FeedStateRow`]'s fields in order), 64 feeds per statement.
static FEED_UPDATE: RowStatements = RowStatements::new(
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
            disabled_reason = COALESCE(u.disabled_reason, feeds.disabled_reason)
         FROM (SELECT column1 AS id, column2 AS fetched_at, column3 AS ok, column4 AS status,
                      column5 AS http_status, column6 AS error, column7 AS new_entries,
                      column8 AS title, column9 AS site_url, column10 AS has_validators,
                      column11 AS etag, column12 AS last_modified, column13 AS body_hash,
                      column14 AS hints, column15 AS next_poll_at, column16 AS retry_until,
                      column17 AS interval_secs, column18 AS gap, column19 AS recovered,
                      column20 AS duration_ms, column21 AS redirect_target,
                      column22 AS redirect_count, column23 AS fetch_url,
                      column24 AS disabled_reason
               FROM (VALUES ",
    24,
    64,
    ")) AS u
         WHERE feeds.id = u.id",
);

/// Stores fetches' new feed states, 64 feeds per statement (a poll of many unchanged feeds is
/// mostly these), then the boilerplate models some of them learned.
pub(super) async fn update_feeds(
    conn: &mut SqliteConnection,
    updates: &[FeedWrite<'_>],
    now: &str,
) -> Result<(), StoreError> {
    let rows: Vec<FeedStateRow<'_>> = updates
        .iter()
        .map(|w| FeedStateRow::new(w, now, rfc3339))
        .collect();
    // Bound values, a chunk of feeds per statement. JSON read back with two dozen `->>` per
    // row cost 0.15 ms a statement of 8 feeds, the writer's pace on a round of 304s.
    for chunk in rows.chunks(FEED_UPDATE.max_rows) {
        let mut q = sqlx::query(FEED_UPDATE.text(chunk.len()));
        for r in chunk {
            q = q
                .bind(r.id)
                .bind(&r.fetched_at)
                .bind(r.ok)
                .bind(r.status)
                .bind(r.http_status)
                .bind(r.error)
                .bind(r.new_entries)
                .bind(r.title)
                .bind(r.site_url)
                .bind(r.has_validators)
                .bind(r.etag)
                .bind(r.last_modified)
                .bind(r.body_hash)
                .bind(r.hints)
                .bind(&r.next_poll_at)
                .bind(&r.retry_until)
                .bind(r.interval_secs)
                .bind(r.gap)
                .bind(r.recovered)
                .bind(r.duration_ms)
                .bind(r.redirect_target)
                .bind(r.redirect_count)
                .bind(r.fetch_url)
                .bind(r.disabled_reason);
        }
        q.execute(&mut *conn)
            .await
            .ctx("updating the feeds' status")?;
    }
    for w in updates {
        if let Some(model) = &w.update.boilerplate {
            sqlx::query(
                "INSERT INTO feed_boilerplate (feed_id, model) VALUES (?1, ?2)
                 ON CONFLICT(feed_id) DO UPDATE SET model = excluded.model",
            )
            .bind(w.feed_id)
            .bind(model)
            .execute(&mut *conn)
            .await
            .ctx("storing the feed's boilerplate model")?;
        }
    }
    Ok(())
}

fn pending_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<PendingRecord, StoreError> {
    rows::pending_record(r, None)
}

/// The cells of a stored row, by column, as a feed's state reads them: from a row of the
/// driver, or from a row the database handed over as a JSON array.
trait StateCells {
    type Error;
    fn text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    /// A stored time (RFC 3339 text); a value that does not read as one (a hand edit) is no
    /// time.
    fn time(&self, i: usize) -> Result<Option<DateTime<Utc>>, Self::Error> {
        Ok(self
            .text(i)?
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|d| d.with_timezone(&Utc)))
    }
}

impl StateCells for sqlx::sqlite::SqliteRow {
    type Error = StoreError;
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.col(i)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.col(i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.col(i)
    }
}

/// A JSON array's values: a value not of its column's type does not read, as in the driver.
impl StateCells for [serde_json::Value] {
    type Error = ();
    fn text(&self, i: usize) -> Result<Option<String>, ()> {
        match self.get(i) {
            Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(()),
        }
    }
    fn int(&self, i: usize) -> Result<i64, ()> {
        self.get(i).and_then(serde_json::Value::as_i64).ok_or(())
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, ()> {
        match self.get(i) {
            Some(serde_json::Value::Null) => Ok(None),
            v => v.and_then(serde_json::Value::as_i64).map(Some).ok_or(()),
        }
    }
}

/// A feed's id and polling state from a JSON array of `id` and the columns `state_columns!`
/// names; `None` where a value is not of its column's type, as the row would not read.
fn state_of_json(v: &[serde_json::Value]) -> Option<(i64, FeedState)> {
    Some((v.int(0).ok()?, state_of(v, 1).ok()?))
}

/// A feed's polling state from the columns `state_columns!` names, starting at column `at`.
fn state_of<C: StateCells + ?Sized>(r: &C, at: usize) -> Result<FeedState, C::Error> {
    Ok(FeedState {
        etag: r.text(at)?,
        last_modified: r.text(at + 1)?,
        body_hash: r.text(at + 2)?,
        fetch_url: r.text(at + 3)?,
        redirect_target: r.text(at + 4)?,
        redirect_count: r.int(at + 5)?,
        error_count: r.int(at + 6)?,
        disabled_reason: r.text(at + 7)?,
        interval_secs: r.opt_int(at + 8)?,
        last_success_at: r.time(at + 9)?,
        next_poll_at: r.time(at + 10)?,
        retry_until: r.time(at + 11)?,
        hints: r.text(at + 12)?,
    })
}
