//! Storing a batch of fetches in SQLite: known rows read once per transaction, new entries
//! inserted with one statement per fetch, revisions of changed ones, links to the feed, and
//! the band keys of the transaction's new entries written once, sorted, at the end. The
//! near-duplicate decisions themselves are [`crate::ingest::cluster`]'s.

use std::collections::HashMap;

use sqlx::SqliteConnection;

use super::{Col, Context};
use crate::ingest::cluster::{Fresh, FreshIndex, Stored, cluster_of};
use crate::model::entry::{Exclusion, NewEntry, TextSource};
use crate::store::{FetchWrite, IngestRules, IngestStats, StoreError};

/// A stored entry as an update check needs it.
#[derive(Clone)]
pub(super) struct KnownRow {
    id: i64,
    feed_hash: Option<String>,
    text_source: TextSource,
}

/// What one transaction of fetches knows beyond the database: the rows stored before it began
/// (read once for all its fetches), and the entries it inserted so far, indexed by band key in
/// memory. Band keys reach the table once, sorted, at the end: inserted one fetch at a time
/// they land on random pages of a large index, which costs more than the rest of the write.
pub(super) struct Batch<'a> {
    pub(super) next_id: i64,
    /// Stored before the transaction, by key; dropped once this transaction changes the row.
    known: HashMap<String, KnownRow>,
    candidates: Stored,
    fresh: FreshIndex<'a>,
    fresh_keys: HashMap<&'a str, i64>,
}

/// The entries one fetch inserted, kept apart until its savepoint is released.
#[derive(Default)]
pub(super) struct Staged<'a> {
    /// Indexed by band key: matching inside one fetch is a lookup, not a scan.
    fresh: FreshIndex<'a>,
    /// Rows this fetch changed among the `known` ones: (key, id).
    changed: Vec<(&'a str, i64)>,
    /// Keys this fetch inserted: (key, id).
    inserted: Vec<(&'a str, i64)>,
    next_id: Option<i64>,
}

impl<'a> Batch<'a> {
    pub(super) async fn load(
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
        let candidates = load_candidates(conn, &entries, &known).await?;
        Ok(Batch {
            next_id,
            known,
            candidates,
            fresh: FreshIndex::default(),
            fresh_keys: HashMap::new(),
        })
    }

    /// A fetch's savepoint was released: its entries are part of the transaction now.
    pub(super) fn accept(&mut self, staged: Staged<'a>) {
        if let Some(id) = staged.next_id {
            self.next_id = id;
        }
        for (key, id) in staged.changed {
            // Later fetches check against the row as it is now.
            self.known.remove(key);
            self.fresh_keys.insert(key, id);
        }
        self.fresh_keys.extend(staged.inserted);
        self.fresh.append(staged.fresh);
    }

    /// The cluster of the first near-duplicate of `e` among stored entries, this
    /// transaction's and this fetch's (see [`cluster_of`]).
    fn cluster_of(
        &self,
        e: &NewEntry,
        staged: &Staged<'_>,
        rules: &IngestRules<'_>,
    ) -> Option<i64> {
        let fp = e.fingerprint.as_deref()?;
        cluster_of(
            &e.bands,
            fp,
            &self.candidates,
            &self.fresh,
            &staged.fresh,
            rules.near_duplicate,
        )
    }

    /// Band keys of every entry the transaction inserted, in key order, in one statement.
    pub(super) async fn write_bands(&self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
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

pub(super) async fn insert_entries<'a>(
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
            .or((rules.skip_near_duplicates && cluster_id != id)
                .then_some(Exclusion::NearDuplicate))
            .map(Exclusion::as_str);
        if let Some(fp) = &e.fingerprint
            && !e.bands.is_empty()
        {
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
    insert_rows(conn, &rows).await?;
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

/// New entry rows, in one statement.
async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: &[EntryJson<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
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
    .bind(json_array(rows))
    .execute(&mut *conn)
    .await
    .ctx("inserting entries")?;
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
            text_source: e.text_source.as_str(),
            language: e.language.as_deref(),
            fingerprint: e.fingerprint.as_deref().map(hex::encode),
            excluded,
            cluster_id,
        }
    }
}

/// Band keys written per statement.
const BAND_CHUNK: usize = 4096;

/// Stored entries that share a band key with the batch's new entries: the near-duplicate
/// candidates, read in two statements for the whole batch.
async fn load_candidates(
    conn: &mut SqliteConnection,
    entries: &[&NewEntry],
    known: &HashMap<String, KnownRow>,
) -> Result<Stored, StoreError> {
    let mut out = Stored::default();
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
        if out.add_band(band, id) {
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
        out.add_entry(r.col(0)?, r.col(1)?, r.col(2)?);
    }
    Ok(out)
}

pub(super) fn json_array<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// Links entries to a feed; returns how many links are new.
pub(super) async fn link(
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
pub(super) fn known_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<KnownRow, StoreError> {
    Ok(KnownRow {
        id: r.col(0)?,
        feed_hash: r.col(1)?,
        text_source: TextSource::from_column(&r.col::<String>(2)?),
    })
}

/// The stored rows among these entries' keys, by key: one query per fetch.
pub(super) async fn known_rows(
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
pub(super) async fn update_known(
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
        if row.text_source == TextSource::Page && e.text_source == TextSource::Feed {
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
            .bind(e.text_source.as_str())
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
