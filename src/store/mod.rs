//! The storage interface: what the rest of the program may ask of a database, and the one
//! place that picks the backend.
//!
//! [`Store`] is an enum of backends ([`sqlite`], embedded, one process; [`postgres`], shared by
//! several instances), picked by the `[storage] database` value; every method matches on
//! it and calls the backend directly: no boxing, no dynamic dispatch on the hot path. Only
//! `store/<backend>/` speaks SQL or names a database type. What a backend must do:
//!
//! - **Feed list.** [`Store::sync_feeds`] makes the feed rows match the config (by name; a
//!   changed URL forgets validators, redirects, backoff and a 410; removed feeds become
//!   inactive, their entries stay) and returns each feed's id.
//! - **Polling state.** [`Store::feed_state`] reads what the next fetch needs (validators, body
//!   hash, moved URL, error streak, holds, hints); [`Store::boilerplate_model`] the feed's
//!   learned boilerplate model, read only when there is a new document to clean. The model
//!   lives in a table of its own: a status update (every fetch, most of them 304s) then
//!   rewrites a small row, not several KB of model.
//! - **Known entries.** [`Store::known_feed_hashes`]: for a fetch's keys, the stored feed-text
//!   hash of those already stored (one read per fetch, before the text work).
//! - **Storing fetches atomically.** [`Store::apply_fetches`] stores a burst of fetches in one
//!   transaction, each in its own savepoint: a fetch whose writes fail is rolled back alone.
//!   Inside, dedup by key is exact (the key is unique in the table), a changed entry keeps a
//!   revision, every entry is linked to the feed, and a new entry's near-duplicate cluster is
//!   decided against stored entries that share a band key and against entries inserted
//!   earlier in the same transaction ([`crate::ingest::cluster`]). The search index is fed in
//!   the same transaction.
//! - **Records.** [`Store::pending_records`] (entries without a durable record),
//!   [`Store::set_record_paths`] (marks them after the corpus made them durable),
//!   [`Store::record_paths`]/[`Store::records_by_id`] (start-up repair) and
//!   [`Store::next_record_seq`] (record numbers never repeat).
//! - **Queries.** [`Store::search`], [`Store::for_each_entry`], [`Store::feed_rows`],
//!   [`Store::site_urls`], [`Store::totals`], [`Store::report_data`].
//!
//! Read-only commands open with [`Store::open_existing`]: never created, never migrated, and a
//! schema older or newer than the binary's is a clear error.

mod batch;
pub mod postgres;
mod rows;
pub mod sqlite;

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};

pub use crate::config::Database;
use crate::model::entry::NewEntry;
use crate::model::feed::{FeedState, FeedUpdate};
use crate::model::record::PendingRecord;

/// What the last complete record check of a corpus folder left: the folder's state (a
/// [`crate::corpus::FolderState`] in its stored form) when it held the record of each of
/// `records` entries. A start that finds the folder in that state and as many entries with a
/// record path (`records_now`) skips listing the folder.
#[derive(Debug, Clone)]
pub struct CorpusMark {
    pub folder_state: String,
    pub records: i64,
    pub checked_at: DateTime<Utc>,
    pub records_now: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {db}: {source}")]
    Open {
        db: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database {db}: {message}")]
    Schema { db: String, message: String },
    #[error("no database at {db} yet: run `feedcorpus poll` first")]
    Missing { db: String },
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot migrate database {db}: {source}")]
    Migrate {
        db: String,
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

/// A feed as the config names it.
#[derive(Debug, Clone)]
pub struct FeedSpec<'a> {
    pub name: &'a str,
    pub url: &'a str,
    /// The `host:port` its requests go to (per-host limits across instances).
    pub host: String,
}

/// What a claim took ([`Store::claim_due`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    /// The feeds this instance now holds.
    pub ids: Vec<i64>,
    /// When the next of the other feeds becomes claimable (`None`: none will).
    pub next: Option<chrono::DateTime<Utc>>,
    /// Of the other feeds, how many are still to fetch in this round but held back (claimed
    /// by another instance, or their host is full): [`ClaimMode::Round`] only.
    pub waiting: usize,
}

/// Which feeds a claim takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimMode {
    /// Feeds whose next poll is due (`run`).
    Due,
    /// Every feed nobody fetched since `since`, due or not (`poll`: one round, shared by the
    /// instances polling at the same time).
    Round { since: chrono::DateTime<Utc> },
}

/// The per-host limits a claim keeps for the whole fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimLimits {
    /// Feeds of one host held at once by all instances together.
    pub per_host: usize,
    /// Non-zero: one feed per host per claim, and none before this much after the last.
    pub min_gap: std::time::Duration,
}

/// A running instance, for `status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstanceRow {
    /// "host:pid".
    pub name: String,
    pub started_at: String,
    pub heartbeat_at: String,
    /// Feeds it holds now.
    pub leases: i64,
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

/// How [`Store::refresh_fingerprints`] brings stored near-duplicate fingerprints to the current
/// format (the store does not know the format, only how to recognise it).
pub struct Refingerprint<'a> {
    /// Length of a current fingerprint's stored form.
    pub bytes: usize,
    /// Its first byte, the format's version.
    pub version: u8,
    /// The stored form and band ids of a text's fingerprint; `None` when the text has none.
    pub compute: &'a (dyn Fn(&str) -> Option<StoredFingerprint> + Sync),
    /// The band ids of a stored fingerprint of the current format.
    pub bands: &'a (dyn Fn(&[u8]) -> Option<Vec<i64>> + Sync),
}

/// A fingerprint's stored form and its band ids.
pub type StoredFingerprint = (Vec<u8>, Vec<i64>);

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

#[derive(Debug, Clone, Default)]
pub struct SearchQuery<'a> {
    /// What the user typed.
    pub words: &'a str,
    /// `words` is in the backend's own query syntax (FTS5's, PostgreSQL's tsquery); else every
    /// word must appear.
    pub raw: bool,
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
    /// The instance holding the feed now (shared databases).
    pub leased_by: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Totals {
    pub entries: i64,
    pub entries_today: i64,
    pub records: i64,
    pub records_pending: i64,
}

/// A count per day (`YYYY-MM-DD`, UTC) and key (a feed's name, a language).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DayCount {
    pub day: String,
    pub key: String,
    pub n: i64,
}

/// New entries of one week (it starts on the Monday `week`) and how many were near-duplicates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WeekShare {
    pub week: String,
    pub entries: i64,
    pub near_duplicates: i64,
}

/// What the corpus report counts ([`crate::corpus::report`]), from `since` on.
#[derive(Debug, Clone, Default)]
pub struct ReportData {
    /// New entries per day by the feed that brought each first (an entry counts once).
    pub by_feed: Vec<DayCount>,
    /// New entries per day by language (`unknown` when none was detected).
    pub by_language: Vec<DayCount>,
    /// Entries linked to each feed per day (an entry counts for every feed carrying it).
    pub feed_days: Vec<DayCount>,
    /// Per week, oldest first.
    pub weeks: Vec<WeekShare>,
    pub feeds: Vec<FeedRow>,
    /// Feed name → last successful fetch (RFC 3339).
    pub last_success: HashMap<String, String>,
    pub totals: Totals,
}

/// A database, by backend.
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Calls the same method on whichever backend the store is.
macro_rules! backend {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            Store::Sqlite($s) => $call,
            Store::Postgres($s) => $call,
        }
    };
}

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Store {
    /// Opens (creating if needed) and migrates the database.
    pub async fn open(db: &Database) -> Result<Store, StoreError> {
        Ok(match db {
            Database::Sqlite(path) => Store::Sqlite(sqlite::SqliteStore::open(path).await?),
            Database::Postgres(url) => {
                Store::Postgres(postgres::PgStore::open(url, &db.to_string()).await?)
            }
        })
    }

    /// Opens an existing database read-only (for queries): it is never created or migrated,
    /// and a schema older or newer than this binary's is a clear error.
    pub async fn open_existing(db: &Database) -> Result<Store, StoreError> {
        Ok(match db {
            Database::Sqlite(path) => {
                Store::Sqlite(sqlite::SqliteStore::open_existing(path).await?)
            }
            Database::Postgres(url) => {
                Store::Postgres(postgres::PgStore::open_existing(url, &db.to_string()).await?)
            }
        })
    }

    /// Opens the database for writing as one instance of a fleet: on a shared backend the
    /// process registers itself (its id marks what it claims and stores; `corpus_dir` is where
    /// its record files go), elsewhere this is [`Store::open`].
    pub async fn open_instance(
        db: &Database,
        corpus_dir: &std::path::Path,
        lease: std::time::Duration,
    ) -> Result<Store, StoreError> {
        Ok(match Store::open(db).await? {
            Store::Postgres(s) => Store::Postgres(s.join(corpus_dir, lease).await?),
            other => other,
        })
    }

    /// Several instances may write this database at once (PostgreSQL): record numbers come
    /// from it, due feeds are claimed in it, and no instance owns the corpus folder alone.
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    /// Claims up to `limit` of `feeds` that `mode` selects and no other instance holds, within
    /// the fleet's per-host `limits`. Due times are judged at `now` (the scheduler's clock,
    /// which wrote them); leases by the database's clock. Only shared backends claim (one SQLite process schedules
    /// in memory).
    pub async fn claim(
        &self,
        feeds: &[i64],
        limit: usize,
        limits: &ClaimLimits,
        mode: ClaimMode,
        now: chrono::DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        match self {
            Store::Sqlite(_) => Err(StoreError::Internal("SQLite does not claim feeds".into())),
            Store::Postgres(s) => s.claim(feeds, limit, limits, mode, now).await,
        }
    }

    /// A `poll` starts its round at `since`; on a shared database it joins the round a
    /// running `poll` of another instance began earlier. Returns the round's start.
    pub async fn join_round(
        &self,
        since: chrono::DateTime<Utc>,
    ) -> Result<chrono::DateTime<Utc>, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(since),
            Store::Postgres(s) => s.join_round(since).await,
        }
    }

    /// Renews this instance's heartbeat and leases.
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(s) => s.heartbeat().await,
        }
    }

    /// Gives up this instance's claims on these feeds.
    pub async fn release(&self, feeds: &[i64]) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(s) => s.release(feeds).await,
        }
    }

    /// A 429 from `host`: every instance leaves its feeds alone until `until`.
    pub async fn hold_host(
        &self,
        host: &str,
        until: chrono::DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(s) => s.hold_host(host, until).await,
        }
    }

    /// A clean shutdown of this instance: its claims go back.
    pub async fn leave(&self) -> Result<(), StoreError> {
        match self {
            Store::Postgres(s) if s.me_id().is_some() => s.leave().await,
            _ => Ok(()),
        }
    }

    /// The running instances (heartbeat younger than `stale`); none on SQLite.
    pub async fn instances(
        &self,
        stale: std::time::Duration,
    ) -> Result<Vec<InstanceRow>, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(Vec::new()),
            Store::Postgres(s) => s.instances(stale).await,
        }
    }

    /// Frees what idle connections cache (the daemon between poll rounds).
    pub async fn release_memory(&self) {
        backend!(self, s => s.release_memory().await)
    }

    pub async fn close(&self) {
        backend!(self, s => s.close().await)
    }

    /// Makes the feed rows match the config; returns the row id of each configured feed by name.
    pub async fn sync_feeds(
        &self,
        feeds: &[FeedSpec<'_>],
    ) -> Result<HashMap<String, i64>, StoreError> {
        backend!(self, s => s.sync_feeds(feeds).await)
    }

    /// The row id of the feed with this name, if it has one.
    pub async fn feed_id(&self, name: &str) -> Result<Option<i64>, StoreError> {
        backend!(self, s => s.feed_id(name).await)
    }

    /// Reads a feed's polling state.
    pub async fn feed_state(&self, feed_id: i64) -> Result<FeedState, StoreError> {
        backend!(self, s => s.feed_state(feed_id).await)
    }

    /// Every feed's polling state, by feed id, in one query. Feeds whose row does not read (a
    /// value edited by hand) are missing: [`Store::feed_state`] gives their error.
    pub async fn feed_states(&self) -> Result<HashMap<i64, FeedState>, StoreError> {
        backend!(self, s => s.feed_states().await)
    }

    /// The feed's learned boilerplate model (JSON), if it has one.
    pub async fn boilerplate_model(&self, feed_id: i64) -> Result<Option<String>, StoreError> {
        backend!(self, s => s.boilerplate_model(feed_id).await)
    }

    /// Every one of these keys that is stored, with its feed-text hash (empty when the row has
    /// none): one read per fetch, before the text work.
    pub async fn known_feed_hashes(
        &self,
        keys: &[&str],
    ) -> Result<HashMap<String, String>, StoreError> {
        backend!(self, s => s.known_feed_hashes(keys).await)
    }

    /// Stores several fetches in one transaction, each inside its own savepoint: a fetch whose
    /// writes fail is rolled back alone and reported in its slot, the others are kept. `Err`
    /// means nothing was stored.
    pub async fn apply_fetches(
        &self,
        writes: &[FetchWrite<'_>],
        rules: &IngestRules<'_>,
    ) -> Result<Vec<Result<IngestStats, StoreError>>, StoreError> {
        backend!(self, s => s.apply_fetches(writes, rules).await)
    }

    /// Stores one fetch — its entries, their links to the feed, and the feed's new state — in
    /// one transaction.
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

    /// Entries without a durable record, oldest publication first (never those with empty
    /// text or an exclusion). `with_html` reads the HTML body too (Markdown records).
    pub async fn pending_records(
        &self,
        limit: usize,
        with_html: bool,
    ) -> Result<Vec<PendingRecord>, StoreError> {
        backend!(self, s => s.pending_records(limit, with_html).await)
    }

    /// Every written record: (entry id, record path).
    pub async fn record_paths(&self) -> Result<Vec<(i64, String)>, StoreError> {
        backend!(self, s => s.record_paths().await)
    }

    /// The mark the last complete record check of `corpus_dir` left (see [`CorpusMark`]).
    /// Only SQLite keeps one: a shared folder is written by several instances, and each start
    /// checks it in full.
    pub async fn corpus_mark(&self, corpus_dir: &str) -> Result<Option<CorpusMark>, StoreError> {
        match self {
            Store::Sqlite(s) => s.corpus_mark(corpus_dir).await,
            Store::Postgres(_) => Ok(None),
        }
    }

    /// Saves the mark of `corpus_dir`: in `folder_state`, the folder holds the record of every
    /// entry that has a record path now; `checked_at` is when a check last compared them all.
    pub async fn save_corpus_mark(
        &self,
        corpus_dir: &str,
        folder_state: &str,
        checked_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => {
                s.save_corpus_mark(corpus_dir, folder_state, checked_at)
                    .await
            }
            Store::Postgres(_) => Ok(()),
        }
    }

    /// The records of these entries, to write again under their recorded names.
    pub async fn records_by_id(&self, ids: &[i64]) -> Result<Vec<PendingRecord>, StoreError> {
        backend!(self, s => s.records_by_id(ids).await)
    }

    /// Marks records as durable under these paths (and raises the record counter past them).
    pub async fn set_record_paths(&self, written: &[(i64, String)]) -> Result<(), StoreError> {
        backend!(self, s => s.set_record_paths(written).await)
    }

    /// The lowest record number never handed out.
    pub async fn next_record_seq(&self) -> Result<u64, StoreError> {
        backend!(self, s => s.next_record_seq().await)
    }

    /// New record numbers start at `floor` at least (records already in the corpus folder
    /// when a shared database first numbers into it). SQLite: the corpus numbers its own.
    pub async fn raise_record_seq(&self, floor: u64) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(s) => s.raise_record_seq(floor).await,
        }
    }

    pub async fn search(&self, q: &SearchQuery<'_>) -> Result<Vec<SearchHit>, StoreError> {
        backend!(self, s => s.search(q).await)
    }

    /// Calls `each` for every entry the filter selects, in publication order; returns how many.
    pub async fn for_each_entry(
        &self,
        filter: &EntryFilter<'_>,
        each: impl FnMut(EntryRow) -> std::io::Result<()>,
    ) -> Result<usize, StoreError> {
        backend!(self, s => s.for_each_entry(filter, each).await)
    }

    pub async fn feed_rows(&self) -> Result<Vec<FeedRow>, StoreError> {
        backend!(self, s => s.feed_rows().await)
    }

    /// Site URL of each feed that announced one, by feed name.
    pub async fn site_urls(&self) -> Result<HashMap<String, String>, StoreError> {
        backend!(self, s => s.site_urls().await)
    }

    /// Counts for `status`; `today` is the RFC 3339 start of the day.
    pub async fn totals(&self, today: &str) -> Result<Totals, StoreError> {
        backend!(self, s => s.totals(today).await)
    }

    /// The corpus report's counts from `since` (RFC 3339) on; `today` as for [`Store::totals`].
    pub async fn report_data(&self, since: &str, today: &str) -> Result<ReportData, StoreError> {
        backend!(self, s => s.report_data(since, today).await)
    }

    /// Computes again, from their entries' text, the fingerprints (and band keys) stored in
    /// another format than `how`'s: a new fingerprint never compares with an earlier
    /// format's. Returns how many were computed; 0 (one query) when all are current.
    pub async fn refresh_fingerprints(&self, how: &Refingerprint<'_>) -> Result<u64, StoreError> {
        backend!(self, s => s.refresh_fingerprints(how).await)
    }

    /// Writes band keys a backend holds in memory (SQLite holds new entries' for a while and
    /// writes them together); the writer calls it when a poll ends.
    pub async fn flush_bands(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.flush_bands().await,
            Store::Postgres(_) => Ok(()),
        }
    }

    /// The backend's own consistency check ("ok" when sound).
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        backend!(self, s => s.integrity_check().await)
    }
}

/// Compares a database's applied migrations with the binary's: a read-only open refuses a
/// schema older (run `poll` to migrate) or newer (use the newer binary) than its own.
pub(crate) fn check_versions(applied: &[i64], known: &[i64], db: &str) -> Result<(), StoreError> {
    let (have, want) = (applied.last().copied(), known.last().copied());
    let message = if applied.iter().any(|v| !known.contains(v)) {
        format!(
            "its schema (version {}) is newer than this feedcorpus knows (version {}); use the newer binary",
            have.unwrap_or(0),
            want.unwrap_or(0)
        )
    } else if have != want {
        format!(
            "its schema (version {}) is older than this feedcorpus (version {}); run `feedcorpus poll` once to migrate it",
            have.unwrap_or(0),
            want.unwrap_or(0)
        )
    } else {
        return Ok(());
    };
    Err(StoreError::Schema {
        db: db.to_string(),
        message,
    })
}

fn one_result(
    mut results: Vec<Result<IngestStats, StoreError>>,
) -> Result<IngestStats, StoreError> {
    results.pop().unwrap_or_else(|| Ok(IngestStats::default()))
}
