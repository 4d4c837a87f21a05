//! The PostgreSQL statements of a batch of fetches ([`crate::store::batch`] decides what they
//! store). Batches travel as one JSON parameter read with `json_to_recordset`, or as arrays.
//! Another instance may be storing the same keys at the same moment: inserts skip a key that
//! is already there (waiting for the other transaction to end first, which the unique index
//! does by itself), and rows are written in key order so two such inserts cannot deadlock.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;

use super::text::{clean, json, stored_key, stored_time};
use super::{Col, Context};
use crate::ingest::cluster::Stored;
use crate::model::entry::{NewEntry, TextSource};
use crate::store::StoreError;
use crate::store::batch::{BatchSql, EntryRow, FeedWrite, KnownRow, Revision};

/// Ids come from the table's sequence; rows are marked with the instance storing them.
pub(super) struct PgBatch {
    pub(super) stored_by: Option<i64>,
}

/// A new row as PostgreSQL stores it (see [`super::text`]).
#[derive(serde::Serialize)]
struct PgEntry<'a> {
    id: i64,
    key: Cow<'a, str>,
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
    #[serde(serialize_with = "crate::store::batch::hex_bytes")]
    fingerprint: Option<&'a [u8]>,
    excluded: Option<&'a str>,
    cluster_id: i64,
    stored_by: Option<i64>,
}

impl<'a> PgEntry<'a> {
    fn of(r: &'a EntryRow<'a>, stored_by: Option<i64>) -> PgEntry<'a> {
        PgEntry {
            id: r.id,
            key: stored_key(r.key),
            guid: r.guid,
            url: r.url,
            title: r.title,
            author: r.author,
            published: r.published.and_then(stored_time),
            updated: r.updated.and_then(stored_time),
            record_date: r.record_date,
            content_text: r.content_text,
            content_hash: r.content_hash,
            first_seen_at: r.first_seen_at,
            content_html: r.content_html,
            feed_text: r.feed_text,
            feed_hash: r.feed_hash,
            text_source: r.text_source,
            language: r.language,
            fingerprint: r.fingerprint,
            excluded: r.excluded,
            cluster_id: r.cluster_id,
            stored_by,
        }
    }
}

impl BatchSql for PgBatch {
    type Db = sqlx::Postgres;
    type Conn = PgConnection;

    async fn update_feeds(
        &mut self,
        conn: &mut PgConnection,
        updates: &[FeedWrite<'_>],
        now: &str,
    ) -> Result<(), StoreError> {
        super::update_feeds(conn, updates, now, self.stored_by).await
    }

    async fn known_rows(
        &mut self,
        conn: &mut PgConnection,
        keys: &[&str],
    ) -> Result<HashMap<String, KnownRow>, StoreError> {
        let stored: HashMap<Cow<'_, str>, &str> =
            keys.iter().map(|k| (stored_key(k), *k)).collect();
        let list: Vec<&str> = stored.keys().map(|k| k.as_ref()).collect();
        let rows = sqlx::query(
            "SELECT id, feed_hash, text_source, key FROM entries WHERE key = ANY($1::text[])",
        )
        .bind(&list)
        .fetch_all(&mut *conn)
        .await
        .ctx("looking up known entries")?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            let key: String = r.col(3)?;
            let Some(original) = stored.get(key.as_str()) else {
                continue;
            };
            out.insert(
                (*original).to_string(),
                KnownRow {
                    id: r.col(0)?,
                    feed_hash: r.col(1)?,
                    text_source: TextSource::from_column(&r.col::<String>(2)?),
                },
            );
        }
        Ok(out)
    }

    async fn candidates(
        &mut self,
        conn: &mut PgConnection,
        bands: &[i64],
    ) -> Result<Stored, StoreError> {
        let mut out = Stored::default();
        let pairs = sqlx::query(
            "SELECT band, entry_id FROM entry_bands WHERE band = ANY($1) ORDER BY band, entry_id",
        )
        .bind(bands)
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
            "SELECT id, coalesce(cluster_id, id), fingerprint FROM entries
             WHERE id = ANY($1) AND fingerprint IS NOT NULL",
        )
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await
        .ctx("reading near-duplicate candidates")?;
        for r in &rows {
            out.add_entry(r.col(0)?, r.col(1)?, r.col(2)?);
        }
        Ok(out)
    }

    async fn new_ids(&mut self, conn: &mut PgConnection, n: usize) -> Result<Vec<i64>, StoreError> {
        sqlx::query_scalar(
            "SELECT nextval(pg_get_serial_sequence('entries', 'id')) FROM generate_series(1, $1)",
        )
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .ctx("taking entry ids")
    }

    async fn insert_rows(
        &mut self,
        conn: &mut PgConnection,
        rows: &[EntryRow<'_>],
    ) -> Result<HashSet<i64>, StoreError> {
        let mut rows: Vec<PgEntry<'_>> = rows
            .iter()
            .map(|r| PgEntry::of(r, self.stored_by))
            .collect();
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        let ids: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO entries (id, key, guid, url, title, author, published, updated,
                                  record_date, content_text, content_hash, first_seen_at,
                                  content_html, feed_text, feed_hash, text_source, language,
                                  fingerprint, excluded, cluster_id, stored_by, record_seq)
             SELECT id, key, guid, url, title, author, published, updated, record_date,
                    content_text, content_hash, first_seen_at, content_html, feed_text,
                    feed_hash, text_source, language, decode(fingerprint, 'hex'), excluded,
                    cluster_id, stored_by,
                    -- The record's number, for the entries that get one.
                    CASE WHEN excluded IS NULL AND content_text <> ''
                         THEN nextval('record_numbers') END
             FROM json_to_recordset($1::json) AS r(
                 id bigint, key text, guid text, url text, title text, author text,
                 published timestamptz, updated timestamptz, record_date text,
                 content_text text, content_hash text, first_seen_at timestamptz,
                 content_html text, feed_text text, feed_hash text, text_source text,
                 language text, fingerprint text, excluded text, cluster_id bigint,
                 stored_by bigint)
             ON CONFLICT (key) DO NOTHING
             RETURNING id",
        )
        .bind(json(&rows))
        .fetch_all(&mut *conn)
        .await
        .ctx("inserting entries")?;
        Ok(ids.into_iter().collect())
    }

    async fn revise(
        &mut self,
        conn: &mut PgConnection,
        id: i64,
        e: &NewEntry,
        now: &str,
        how: Revision,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO entry_revisions (entry_id, title, content_text, content_hash, replaced_at)
             SELECT id, title, content_text, content_hash, $2::timestamptz FROM entries WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await
        .ctx("keeping a revision")?;
        match how {
            Revision::TeaserOnly => sqlx::query(
                "UPDATE entries SET feed_text = $2, feed_hash = $3, updated_at = $4::timestamptz,
                        stored_by = coalesce($5, stored_by)
                 WHERE id = $1",
            )
            .bind(id)
            .bind(clean(&e.content_text))
            .bind(&e.feed_hash)
            .bind(now)
            .bind(self.stored_by),
            Revision::Full { stale } => sqlx::query(
                "UPDATE entries SET title = $2, content_text = $3, content_hash = $4,
                        content_html = $5, feed_text = $6, feed_hash = $7, text_source = $8,
                        language = $9, fingerprint = $10, updated_at = $11::timestamptz,
                        record_stale = CASE WHEN $12 AND record_path IS NOT NULL THEN true
                                            ELSE record_stale END,
                        stored_by = coalesce($13, stored_by)
                 WHERE id = $1",
            )
            .bind(id)
            .bind(e.title.as_deref().map(clean))
            .bind(clean(&e.content_text))
            .bind(&e.content_hash)
            .bind(e.content_html.as_deref().map(clean))
            .bind(e.feed_text.as_deref().map(clean))
            .bind(&e.feed_hash)
            .bind(e.text_source.as_str())
            .bind(e.language.as_deref().map(clean))
            .bind(&e.fingerprint)
            .bind(now)
            .bind(stale)
            .bind(self.stored_by),
        }
        .execute(&mut *conn)
        .await
        .ctx("updating an entry")?;
        Ok(())
    }

    async fn link(
        &mut self,
        conn: &mut PgConnection,
        feed_id: i64,
        ids: &[i64],
        now: &str,
    ) -> Result<usize, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(
            "INSERT INTO feed_entries (feed_id, entry_id, first_seen_at)
             SELECT $1, id, $2::timestamptz FROM unnest($3::bigint[]) AS id
             ON CONFLICT DO NOTHING",
        )
        .bind(feed_id)
        .bind(now)
        .bind(ids)
        .execute(&mut *conn)
        .await
        .ctx("linking entries to their feed")?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(0))
    }

    async fn write_bands(
        &mut self,
        conn: &mut PgConnection,
        pairs: &[(i64, i64)],
    ) -> Result<(), StoreError> {
        write_band_rows(conn, pairs).await
    }
}

/// Band rows (band, entry id) into `entry_bands`, in chunks; rows already there are skipped.
pub(super) async fn write_band_rows(
    conn: &mut PgConnection,
    pairs: &[(i64, i64)],
) -> Result<(), StoreError> {
    for chunk in pairs.chunks(BAND_CHUNK) {
        let (bands, ids): (Vec<i64>, Vec<i64>) = chunk.iter().copied().unzip();
        sqlx::query(
            "INSERT INTO entry_bands (band, entry_id)
             SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING",
        )
        .bind(&bands)
        .bind(&ids)
        .execute(&mut *conn)
        .await
        .ctx("indexing band keys")?;
    }
    Ok(())
}

/// Band keys written per statement.
const BAND_CHUNK: usize = 8192;
