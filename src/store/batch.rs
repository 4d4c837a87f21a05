//! Storing a batch of fetches, the same on every backend: which entries are new, which are
//! known (and changed), which arrived twice in one transaction, which near-duplicate cluster a
//! new one joins, and what is linked to the feed. No SQL here: a backend supplies the
//! statements through [`BatchSql`], on the connection (or savepoint) it passes in.
//!
//! Ids of new entries are asked for before their rows are written ([`BatchSql::new_ids`]), so a
//! row is written once, cluster included. A row whose key another writer stored after this
//! transaction looked (a second instance on a shared database) is not inserted
//! ([`BatchSql::insert_rows`] says which were) and is then treated like a known entry: one
//! entry, linked to both feeds.

use std::collections::{HashMap, HashSet};

use crate::ingest::cluster::{Fresh, FreshIndex, Stored, cluster_of};
use crate::model::entry::{Exclusion, NewEntry, TextSource};
use crate::store::{FetchWrite, IngestRules, IngestStats, StoreError};

/// A stored entry as an update check needs it.
#[derive(Debug, Clone)]
pub(crate) struct KnownRow {
    pub id: i64,
    pub feed_hash: Option<String>,
    pub text_source: TextSource,
}

/// How a known entry whose feed text changed is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revision {
    /// The record holds the article page's text; only the feed's teaser changed.
    TeaserOnly,
    /// Text, title, HTML, language and fingerprint are replaced; `stale` marks a written
    /// record to be rewritten.
    Full { stale: bool },
}

/// A new entry row, as the backends' batched inserts read it (bound values, or JSON).
#[derive(Debug, serde::Serialize)]
pub(crate) struct EntryRow<'a> {
    pub id: i64,
    pub key: &'a str,
    pub guid: Option<&'a str>,
    pub url: Option<&'a str>,
    pub title: Option<&'a str>,
    pub author: Option<&'a str>,
    pub published: Option<&'a str>,
    pub updated: Option<&'a str>,
    pub record_date: &'a str,
    pub content_text: &'a str,
    pub content_hash: &'a str,
    pub first_seen_at: &'a str,
    pub content_html: Option<&'a str>,
    pub feed_text: Option<&'a str>,
    pub feed_hash: &'a str,
    pub text_source: &'a str,
    pub language: Option<&'a str>,
    /// Hex in JSON, which has no bytes.
    #[serde(serialize_with = "hex_bytes")]
    pub fingerprint: Option<&'a [u8]>,
    pub excluded: Option<&'a str>,
    pub cluster_id: i64,
}

impl<'a> EntryRow<'a> {
    fn new(
        id: i64,
        e: &'a NewEntry,
        now: &'a str,
        excluded: Option<&'a str>,
        cluster_id: i64,
    ) -> EntryRow<'a> {
        EntryRow {
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
            text_source: e.text_source.as_str(),
            language: e.language.as_deref(),
            fingerprint: e.fingerprint.as_deref(),
            excluded,
            cluster_id,
        }
    }
}

/// Bytes as a hex string (or null).
pub(crate) fn hex_bytes<S: serde::Serializer>(
    bytes: &Option<&[u8]>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => s.serialize_str(&hex::encode(b)),
        None => s.serialize_none(),
    }
}

/// The statements a backend runs for a batch, each on the connection it is given (the
/// transaction, or a fetch's savepoint).
pub(crate) trait BatchSql {
    type Db: sqlx::Database<Connection = Self::Conn>;
    type Conn: sqlx::Connection<Database = Self::Db>;

    /// The stored rows among these keys, by key.
    async fn known_rows(
        &mut self,
        conn: &mut Self::Conn,
        keys: &[&str],
    ) -> Result<HashMap<String, KnownRow>, StoreError>;

    /// Stored entries carrying any of these band keys (see [`Stored`]).
    async fn candidates(
        &mut self,
        conn: &mut Self::Conn,
        bands: &[i64],
    ) -> Result<Stored, StoreError>;

    /// `n` entry ids never used.
    async fn new_ids(&mut self, conn: &mut Self::Conn, n: usize) -> Result<Vec<i64>, StoreError>;

    /// Inserts the rows; returns the ids of those inserted (a key stored meanwhile by another
    /// writer is skipped, never an error).
    async fn insert_rows(
        &mut self,
        conn: &mut Self::Conn,
        rows: &[EntryRow<'_>],
    ) -> Result<HashSet<i64>, StoreError>;

    /// Keeps the stored version of entry `id` as a revision and stores `e`'s.
    async fn revise(
        &mut self,
        conn: &mut Self::Conn,
        id: i64,
        e: &NewEntry,
        now: &str,
        how: Revision,
    ) -> Result<(), StoreError>;

    /// Links entries to a feed; returns how many links are new.
    async fn link(
        &mut self,
        conn: &mut Self::Conn,
        feed_id: i64,
        ids: &[i64],
        now: &str,
    ) -> Result<usize, StoreError>;

    /// Stores fetches' new states of their feeds, in one statement (and the boilerplate
    /// models some of them learned).
    async fn update_feeds(
        &mut self,
        conn: &mut Self::Conn,
        updates: &[FeedWrite<'_>],
        now: &str,
    ) -> Result<(), StoreError>;

    /// Band keys (band, entry id) of the transaction's new entries, sorted.
    async fn write_bands(
        &mut self,
        conn: &mut Self::Conn,
        pairs: &[(i64, i64)],
    ) -> Result<(), StoreError>;
}

/// What one transaction of fetches knows beyond the database: the rows stored before it began
/// (read once for all its fetches), and the entries it inserted so far, indexed by band key in
/// memory. Band keys reach the table once, sorted, at the end: inserted one fetch at a time
/// they land on random pages of a large index, which costs more than the rest of the write.
pub(crate) struct Batch<'a> {
    /// Stored before the transaction, by key; dropped once this transaction changes the row.
    known: HashMap<String, KnownRow>,
    candidates: Stored,
    fresh: FreshIndex<'a>,
    fresh_keys: HashMap<&'a str, i64>,
    /// Ids of the entries this transaction inserted.
    pub inserted: Vec<i64>,
}

/// The entries one fetch inserted, kept apart until its savepoint is released.
#[derive(Default)]
struct Staged<'a> {
    /// Indexed by band key: matching inside one fetch is a lookup, not a scan.
    fresh: FreshIndex<'a>,
    /// Rows this fetch changed among the `known` ones: (key, id).
    changed: Vec<(&'a str, i64)>,
    /// Keys this fetch inserted: (key, id).
    inserted: Vec<(&'a str, i64)>,
    /// What the fetch did so far.
    pub stats: IngestStats,
}

impl Staged<'_> {
    /// A fetch of `total` entries, nothing stored yet.
    pub(crate) fn new(total: usize) -> Self {
        Staged {
            stats: IngestStats {
                total,
                ..IngestStats::default()
            },
            ..Staged::default()
        }
    }
}

impl<'a> Batch<'a> {
    async fn load<B: BatchSql>(
        sql: &mut B,
        conn: &mut B::Conn,
        writes: &[FetchWrite<'a>],
    ) -> Result<Batch<'a>, StoreError> {
        let keys: Vec<&str> = writes
            .iter()
            .flat_map(|w| w.entries)
            .map(|e| e.key.as_str())
            .collect();
        let known = if keys.is_empty() {
            HashMap::new()
        } else {
            sql.known_rows(conn, &keys).await?
        };
        let bands: Vec<i64> = writes
            .iter()
            .flat_map(|w| w.entries)
            .filter(|e| e.fingerprint.is_some() && !known.contains_key(&e.key))
            .flat_map(|e| e.bands.iter().copied())
            .collect();
        let candidates = if bands.is_empty() {
            Stored::default()
        } else {
            sql.candidates(conn, &bands).await?
        };
        Ok(Batch {
            known,
            candidates,
            fresh: FreshIndex::default(),
            fresh_keys: HashMap::new(),
            inserted: Vec::new(),
        })
    }

    /// A fetch's savepoint was released: its entries are part of the transaction now.
    fn accept(&mut self, staged: Staged<'a>) {
        for (key, id) in staged.changed {
            // Later fetches check against the row as it is now.
            self.known.remove(key);
            self.fresh_keys.insert(key, id);
        }
        self.inserted
            .extend(staged.inserted.iter().map(|(_, id)| *id));
        self.fresh_keys.extend(staged.inserted);
        self.fresh.append(staged.fresh);
    }

    /// Band keys of every entry the transaction inserted, in key order.
    fn band_pairs(&self) -> Vec<(i64, i64)> {
        let mut pairs: Vec<(i64, i64)> = self
            .fresh
            .iter()
            .flat_map(|f| f.bands.iter().map(move |b| (*b, f.id)))
            .collect();
        pairs.sort_unstable();
        pairs
    }
}

/// Stores several fetches on `conn` (a transaction), each inside its own savepoint: a fetch
/// whose writes fail is rolled back alone and reported in its slot, the others are kept. The
/// band keys of everything stored are written last. Returns each fetch's result and the batch
/// (what it inserted), for the caller's own last steps before its commit.
pub(crate) async fn store_fetches<'a, B: BatchSql>(
    sql: &mut B,
    conn: &mut B::Conn,
    writes: &[FetchWrite<'a>],
    now: &str,
    rules: &IngestRules<'_>,
) -> Result<(Vec<Result<IngestStats, StoreError>>, Batch<'a>), StoreError> {
    let query = |context: &'static str| move |source| StoreError::Query { context, source };
    let mut batch = Batch::load(sql, conn, writes).await?;
    let mut out: Vec<Option<Result<IngestStats, StoreError>>> = Vec::with_capacity(writes.len());
    // Fetches that only change their feed's status (a 304, the same bytes, an error: most
    // fetches) are stored together in one statement; the others one savepoint each.
    let mut status_only: Vec<usize> = Vec::new();
    // A feed twice in one batch (never in one round) keeps its writes in order, one at a time.
    let mut times: HashMap<i64, usize> = HashMap::new();
    for w in writes {
        *times.entry(w.feed_id).or_default() += 1;
    }
    for (i, w) in writes.iter().enumerate() {
        if w.entries.is_empty()
            && w.update.is_some_and(|u| u.boilerplate.is_none())
            && times.get(&w.feed_id) == Some(&1)
        {
            status_only.push(i);
            out.push(None);
        } else {
            out.push(Some(store_one(sql, conn, w, now, rules, &mut batch).await?));
        }
    }
    if !status_only.is_empty() {
        let updates: Vec<FeedWrite<'_>> = status_only
            .iter()
            .filter_map(|&i| FeedWrite::of(&writes[i], 0))
            .collect();
        let mut sp = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(query("starting a savepoint"))?;
        match sql.update_feeds(&mut sp, &updates, now).await {
            Ok(()) => {
                sp.commit().await.map_err(query("releasing a savepoint"))?;
                for &i in &status_only {
                    out[i] = Some(Ok(IngestStats::default()));
                }
            }
            Err(_) => {
                // One of them the database refuses: each alone, so it fails by itself.
                sp.rollback()
                    .await
                    .map_err(query("rolling back a savepoint"))?;
                for &i in &status_only {
                    out[i] = Some(store_one(sql, conn, &writes[i], now, rules, &mut batch).await?);
                }
            }
        }
    }
    sql.write_bands(conn, &batch.band_pairs()).await?;
    let out = out
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(StoreError::Internal("a fetch was not stored".into()))))
        .collect();
    Ok((out, batch))
}

/// A feed's new state as [`BatchSql::update_feeds`] writes it.
pub(crate) struct FeedWrite<'a> {
    pub feed_id: i64,
    pub update: &'a crate::model::feed::FeedUpdate,
    /// How many entries the fetch added.
    pub new_entries: usize,
}

impl<'a> FeedWrite<'a> {
    fn of(w: &FetchWrite<'a>, new_entries: usize) -> Option<FeedWrite<'a>> {
        w.update.map(|update| FeedWrite {
            feed_id: w.feed_id,
            update,
            new_entries,
        })
    }
}

/// A feed's new state as the backends' batched updates read it (bound values, or JSON).
#[derive(serde::Serialize)]
pub(crate) struct FeedStateRow<'a> {
    pub(crate) id: i64,
    pub(crate) fetched_at: String,
    pub(crate) ok: bool,
    pub(crate) status: &'static str,
    pub(crate) http_status: Option<i64>,
    pub(crate) error: Option<&'a str>,
    pub(crate) new_entries: i64,
    pub(crate) title: Option<&'a str>,
    pub(crate) site_url: Option<&'a str>,
    pub(crate) has_validators: bool,
    pub(crate) etag: Option<&'a str>,
    pub(crate) last_modified: Option<&'a str>,
    pub(crate) body_hash: Option<&'a str>,
    pub(crate) hints: Option<&'a str>,
    pub(crate) next_poll_at: Option<String>,
    pub(crate) retry_until: Option<String>,
    pub(crate) interval_secs: Option<i64>,
    pub(crate) gap: i64,
    pub(crate) recovered: bool,
    pub(crate) duration_ms: Option<i64>,
    pub(crate) redirect_target: Option<&'a str>,
    pub(crate) redirect_count: i64,
    pub(crate) fetch_url: Option<&'a str>,
    pub(crate) disabled_reason: Option<&'a str>,
}

impl<'a> FeedStateRow<'a> {
    /// `time` writes a time as the backend reads it.
    pub(crate) fn new(
        w: &FeedWrite<'a>,
        now: &str,
        time: fn(chrono::DateTime<chrono::Utc>) -> String,
    ) -> FeedStateRow<'a> {
        let u = w.update;
        let info = u.info.as_ref();
        let validators = u.validators.as_ref();
        FeedStateRow {
            id: w.feed_id,
            fetched_at: u.fetched_at.map(time).unwrap_or_else(|| now.to_string()),
            ok: u.status.is_success(),
            status: u.status.as_str(),
            http_status: u.http_status.map(i64::from),
            error: u.error.as_deref(),
            new_entries: i64::try_from(w.new_entries).unwrap_or(i64::MAX),
            title: info.and_then(|i| i.title.as_deref()),
            site_url: info.and_then(|i| i.site_url.as_deref()),
            has_validators: validators.is_some(),
            etag: validators.and_then(|v| v.0.as_deref()),
            last_modified: validators.and_then(|v| v.1.as_deref()),
            body_hash: u.body_hash.as_deref(),
            hints: u.hints.as_deref(),
            next_poll_at: u.next_poll_at.map(time),
            retry_until: u.retry_until.map(time),
            interval_secs: u.interval_secs,
            gap: i64::from(u.gap),
            recovered: u.recovered,
            duration_ms: u.duration_ms,
            redirect_target: u.redirect_target.as_deref(),
            redirect_count: u.redirect_count,
            fetch_url: u.fetch_url.as_deref(),
            disabled_reason: u.disabled_reason.as_deref(),
        }
    }
}

/// Stores one fetch in its own savepoint: a fetch whose writes fail is rolled back alone and
/// reported as `Ok(Err)`; `Err` is a savepoint that could not be handled (the transaction is
/// lost).
async fn store_one<'a, B: BatchSql>(
    sql: &mut B,
    conn: &mut B::Conn,
    w: &FetchWrite<'a>,
    now: &str,
    rules: &IngestRules<'_>,
    batch: &mut Batch<'a>,
) -> Result<Result<IngestStats, StoreError>, StoreError> {
    let query = |context: &'static str| move |source| StoreError::Query { context, source };
    let mut sp = sqlx::Connection::begin(&mut *conn)
        .await
        .map_err(query("starting a savepoint"))?;
    let mut staged = Staged::new(w.entries.len());
    let mut written = store_entries(sql, &mut sp, w, now, rules, batch, &mut staged).await;
    if let (Ok(()), Some(update)) = (&written, FeedWrite::of(w, staged.stats.new)) {
        written = sql.update_feeds(&mut sp, &[update], now).await;
    }
    match written {
        Ok(()) => {
            sp.commit().await.map_err(query("releasing a savepoint"))?;
            let stats = staged.stats;
            batch.accept(staged);
            Ok(Ok(stats))
        }
        Err(e) => {
            // Nothing of the fetch was stored; its staged entries are dropped with it.
            sp.rollback()
                .await
                .map_err(query("rolling back a savepoint"))?;
            Ok(Err(e))
        }
    }
}

/// Stores one fetch's entries inside its savepoint: updates of known entries, new rows, links.
async fn store_entries<'a, B: BatchSql>(
    sql: &mut B,
    conn: &mut B::Conn,
    w: &FetchWrite<'a>,
    now: &str,
    rules: &IngestRules<'_>,
    batch: &Batch<'a>,
    staged: &mut Staged<'a>,
) -> Result<(), StoreError> {
    // A handful of statements per fetch, whatever its size.
    let entries: &'a [NewEntry] = w.entries;
    if entries.is_empty() {
        return Ok(());
    }
    let mut fresh: Vec<&'a NewEntry> = Vec::new();
    let mut again: Vec<&'a NewEntry> = Vec::new();
    let mut known_ids: Vec<i64> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for e in entries {
        if let Some(row) = batch.known.get(e.key.as_str()) {
            if update_known(sql, conn, e, row, now, rules, &mut staged.stats).await? {
                staged.changed.push((&e.key, row.id));
            }
            known_ids.push(row.id);
        } else if seen.contains(e.key.as_str()) || batch.fresh_keys.contains_key(e.key.as_str()) {
            // Stored earlier in this transaction (by another feed, or the same key twice in
            // one document): an update check against the row as it is now.
            again.push(e);
        } else if !e.unchanged {
            seen.insert(&e.key);
            fresh.push(e);
        }
        // An unchanged entry is known when the poll read it; one whose row is gone since (a
        // hand edit) has no text here and is made again by the next poll.
    }
    let ids = if fresh.is_empty() {
        Vec::new()
    } else {
        sql.new_ids(conn, fresh.len()).await?
    };
    let mut rows: Vec<EntryRow<'_>> = Vec::with_capacity(fresh.len());
    let mut own = FreshIndex::default();
    for (e, &id) in fresh.iter().zip(&ids) {
        let cluster_id = e
            .fingerprint
            .as_deref()
            .and_then(|fp| {
                cluster_of(
                    &e.bands,
                    fp,
                    &batch.candidates,
                    &batch.fresh,
                    &own,
                    rules.near_duplicate,
                )
            })
            .unwrap_or(id);
        let excluded = e
            .excluded
            .or((rules.skip_near_duplicates && cluster_id != id)
                .then_some(Exclusion::NearDuplicate))
            .map(Exclusion::as_str);
        if let Some(fp) = &e.fingerprint
            && !e.bands.is_empty()
        {
            own.push(Fresh {
                id,
                cluster_id,
                fingerprint: fp,
                bands: &e.bands,
            });
        }
        rows.push(EntryRow::new(id, e, now, excluded, cluster_id));
    }
    let inserted = if rows.is_empty() {
        HashSet::new()
    } else {
        sql.insert_rows(conn, &rows).await?
    };
    let mut new_ids = Vec::with_capacity(inserted.len());
    for (e, &id) in fresh.iter().zip(&ids) {
        if inserted.contains(&id) {
            staged.inserted.push((&e.key, id));
            new_ids.push(id);
        } else {
            // Another writer stored this key since the batch looked: it is known now.
            again.push(e);
        }
    }
    staged.stats.new += new_ids.len();
    for f in own.into_entries() {
        if inserted.contains(&f.id) {
            staged.fresh.push(f);
        }
    }
    for e in again {
        let row = sql
            .known_rows(conn, &[e.key.as_str()])
            .await?
            .remove(&e.key);
        if let Some(row) = row {
            update_known(sql, conn, e, &row, now, rules, &mut staged.stats).await?;
            known_ids.push(row.id);
        }
    }
    sql.link(conn, w.feed_id, &new_ids, now).await?;
    staged.stats.linked += sql.link(conn, w.feed_id, &known_ids, now).await?;
    Ok(())
}

/// A known entry: keeps a revision when the feed's text changed. Returns whether the row
/// changed.
async fn update_known<B: BatchSql>(
    sql: &mut B,
    conn: &mut B::Conn,
    e: &NewEntry,
    row: &KnownRow,
    now: &str,
    rules: &IngestRules<'_>,
    stats: &mut IngestStats,
) -> Result<bool, StoreError> {
    let how = revision(row, e, rules.rewrite_on_update);
    let Some(how) = how else { return Ok(false) };
    sql.revise(conn, row.id, e, now, how).await?;
    stats.updated += 1;
    Ok(true)
}

/// Whether (and how) a known row is rewritten for a new version of its entry: only when the
/// feed's text changed and the new one is not empty.
pub(crate) fn revision(row: &KnownRow, e: &NewEntry, rewrite_on_update: bool) -> Option<Revision> {
    if row.feed_hash.as_deref() == Some(e.feed_hash.as_str()) || e.content_text.is_empty() {
        return None;
    }
    Some(
        if row.text_source == TextSource::Page && e.text_source == TextSource::Feed {
            Revision::TeaserOnly
        } else {
            Revision::Full {
                stale: rewrite_on_update,
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(hash: &str, text: &str, source: TextSource) -> NewEntry {
        NewEntry {
            key: "k".into(),
            guid: None,
            url: None,
            title: None,
            author: None,
            published: None,
            updated: None,
            record_date: "2026-01-01".into(),
            content_text: text.into(),
            content_hash: String::new(),
            content_html: None,
            feed_text: None,
            feed_hash: hash.into(),
            text_source: source,
            language: None,
            fingerprint: None,
            bands: Vec::new(),
            excluded: None,
            unchanged: false,
        }
    }

    #[test]
    fn a_known_row_is_revised_only_when_its_feed_text_changed() {
        use TextSource::{Feed, Page};
        let row = |hash: Option<&str>, source| KnownRow {
            id: 1,
            feed_hash: hash.map(str::to_string),
            text_source: source,
        };
        let cases = [
            (row(Some("a"), Feed), entry("a", "t", Feed), true, None),
            (row(Some("a"), Feed), entry("b", "", Feed), true, None),
            (
                row(Some("a"), Feed),
                entry("b", "t", Feed),
                true,
                Some(Revision::Full { stale: true }),
            ),
            (
                row(None, Feed),
                entry("b", "t", Page),
                false,
                Some(Revision::Full { stale: false }),
            ),
            (
                row(Some("a"), Page),
                entry("b", "t", Feed),
                true,
                Some(Revision::TeaserOnly),
            ),
            (
                row(Some("a"), Page),
                entry("b", "t", Page),
                false,
                Some(Revision::Full { stale: false }),
            ),
        ];
        for (i, (row, e, rewrite, want)) in cases.iter().enumerate() {
            assert_eq!(revision(row, e, *rewrite), *want, "case {i}");
        }
    }
}
