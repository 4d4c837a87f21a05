//! The SQLite statements of a batch of fetches ([`crate::store::batch`] decides what they
//! store). Batches travel as JSON arrays read with `json_each`: one statement per step of a
//! fetch, whatever its size.

use std::collections::{HashMap, HashSet};

use sqlx::SqliteConnection;

use super::bands::BandFilter;
use super::{Col, Context, RowStatements};
use crate::ingest::cluster::Stored;
use crate::model::entry::{NewEntry, TextSource};
use crate::store::StoreError;
use crate::store::batch::{BatchSql, EntryRow, FeedWrite, KnownRow, Revision};

/// One process writes (the instance lock), so entry ids are handed out here: the first is read
/// once per transaction, the rest counted on.
#[derive(Default)]
pub(super) struct SqliteBatch<'f> {
    next_id: Option<i64>,
    /// The first id this transaction handed out (the search index is fed from it on).
    pub(super) first_id: Option<i64>,
    /// The store's band filter: rules out band keys no stored entry has.
    pub(super) filter: Option<&'f mut BandFilter>,
}

impl<'f> SqliteBatch<'f> {
    pub(super) fn with_filter(filter: &'f mut BandFilter) -> SqliteBatch<'f> {
        SqliteBatch {
            filter: Some(filter),
            ..SqliteBatch::default()
        }
    }
}

impl BatchSql for SqliteBatch<'_> {
    type Db = sqlx::Sqlite;
    type Conn = SqliteConnection;

    async fn update_feeds(
        &mut self,
        conn: &mut SqliteConnection,
        updates: &[FeedWrite<'_>],
        now: &str,
    ) -> Result<(), StoreError> {
        super::update_feeds(conn, updates, now).await
    }

    async fn known_rows(
        &mut self,
        conn: &mut SqliteConnection,
        keys: &[&str],
    ) -> Result<HashMap<String, KnownRow>, StoreError> {
        // Answered from the entries_key_state index: no article text is read.
        let rows = super::fetch_by_key(conn, super::KNOWN_ROWS, &json_array(keys))
            .await
            .ctx("looking up known entries")?;
        rows.iter()
            .map(|r| -> Result<_, StoreError> {
                let row = KnownRow {
                    id: r.col(0)?,
                    feed_hash: r.col(1)?,
                    text_source: TextSource::from_column(&r.col::<String>(2)?),
                };
                Ok((r.col::<String>(3)?, row))
            })
            .collect::<Result<_, _>>()
    }

    async fn candidates(
        &mut self,
        conn: &mut SqliteConnection,
        bands: &[i64],
    ) -> Result<Stored, StoreError> {
        let mut out = Stored::default();
        // Held band rows (not in the table yet) are candidates too, and newer than any row
        // there: they follow the table's rows of their band.
        let (maybe, mut held) = match &self.filter {
            Some(f) => (f.maybe_stored(bands), f.pending_under(bands)),
            None => (bands.to_vec(), Vec::new()),
        };
        let mut pairs: Vec<(i64, i64)> = Vec::new();
        if !maybe.is_empty() {
            let rows = sqlx::query(
                "SELECT band, entry_id FROM entry_bands
                 WHERE band IN (SELECT value FROM json_each(?1)) ORDER BY band, entry_id",
            )
            .bind(json_array(&maybe))
            .fetch_all(&mut *conn)
            .await
            .ctx("finding near-duplicate candidates")?;
            for r in &rows {
                pairs.push((r.col(0)?, r.col(1)?));
            }
        }
        pairs.append(&mut held);
        if pairs.is_empty() {
            return Ok(out);
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut ids: Vec<i64> = Vec::with_capacity(pairs.len());
        for &(band, id) in &pairs {
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

    async fn new_ids(
        &mut self,
        conn: &mut SqliteConnection,
        n: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let first = match self.next_id {
            Some(id) => id,
            None => {
                let id: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) + 1 FROM entries")
                    .fetch_one(&mut *conn)
                    .await
                    .ctx("reading the next entry id")?;
                self.first_id = Some(id);
                id
            }
        };
        let n = i64::try_from(n).map_err(|_| StoreError::Internal("too many entries".into()))?;
        let next = first
            .checked_add(n)
            .ok_or_else(|| StoreError::Internal("entry ids exhausted".into()))?;
        self.next_id = Some(next);
        Ok((first..next).collect())
    }

    async fn insert_rows(
        &mut self,
        conn: &mut SqliteConnection,
        rows: &[EntryRow<'_>],
    ) -> Result<HashSet<i64>, StoreError> {
        // No other writer: every row is new (a key stored twice is a bug, and fails the fetch).
        // Values are bound, a chunk of rows per statement: passing them as JSON cost an
        // escaped copy of every text and parsing it back, field by field.
        for chunk in rows.chunks(ENTRY_INSERT.max_rows) {
            let mut q = sqlx::query(ENTRY_INSERT.text(chunk.len()));
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(r.key)
                    .bind(r.guid)
                    .bind(r.url)
                    .bind(r.title)
                    .bind(r.author)
                    .bind(r.published)
                    .bind(r.updated)
                    .bind(r.record_date)
                    .bind(r.content_text)
                    .bind(r.content_hash)
                    .bind(r.first_seen_at)
                    .bind(r.content_html)
                    .bind(r.feed_text)
                    .bind(r.feed_hash)
                    .bind(r.text_source)
                    .bind(r.language)
                    .bind(r.fingerprint)
                    .bind(r.excluded)
                    .bind(r.cluster_id);
            }
            q.execute(&mut *conn).await.ctx("inserting entries")?;
        }
        Ok(rows.iter().map(|r| r.id).collect())
    }

    async fn revise(
        &mut self,
        conn: &mut SqliteConnection,
        id: i64,
        e: &NewEntry,
        now: &str,
        how: Revision,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO entry_revisions (entry_id, title, content_text, content_hash, replaced_at)
             SELECT id, title, content_text, content_hash, ?2 FROM entries WHERE id = ?1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await
        .ctx("keeping a revision")?;
        match how {
            Revision::TeaserOnly => sqlx::query(
                "UPDATE entries SET feed_text = ?2, feed_hash = ?3, updated_at = ?4 WHERE id = ?1",
            )
            .bind(id)
            .bind(&e.content_text)
            .bind(&e.feed_hash)
            .bind(now),
            Revision::Full { stale } => sqlx::query(
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
            .bind(stale),
        }
        .execute(&mut *conn)
        .await
        .ctx("updating an entry")?;
        Ok(())
    }

    async fn link(
        &mut self,
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

    async fn write_bands(
        &mut self,
        conn: &mut SqliteConnection,
        pairs: &[(i64, i64)],
    ) -> Result<(), StoreError> {
        match &mut self.filter {
            // Held with the store's band state, written with later ones (see `bands`).
            Some(f) => {
                f.add(pairs.iter().map(|p| p.0));
                f.hold(pairs);
                Ok(())
            }
            None => super::write_band_rows(conn, pairs).await.map(|_| ()),
        }
    }
}

/// New entries: 20 values each, 32 rows per statement.
static ENTRY_INSERT: RowStatements = RowStatements::new(
    "INSERT INTO entries (id, key, guid, url, title, author, published, updated,
                          record_date, content_text, content_hash, first_seen_at,
                          content_html, feed_text, feed_hash, text_source, language,
                          fingerprint, excluded, cluster_id)
     VALUES ",
    20,
    32,
    "",
);

pub(super) fn json_array<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}
