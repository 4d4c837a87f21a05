//! Stored near-duplicate fingerprints of an earlier format, computed again from their entries'
//! text with their band keys, when a writer opens the database.

use sqlx::Row;

use super::SqliteStore;
use crate::store::rows::{Col, Context};
use crate::store::{Refingerprint, StoreError};

/// Entries per transaction.
const CHUNK: i64 = 500;

/// Rows whose fingerprint is not of the current format (?1 its length, ?2 its first byte).
macro_rules! stale {
    () => {
        "fingerprint IS NOT NULL AND (length(fingerprint) <> ?1 OR substr(fingerprint, 1, 1) <> ?2)"
    };
}

impl SqliteStore {
    pub async fn refresh_fingerprints(&self, how: &Refingerprint<'_>) -> Result<u64, StoreError> {
        let len = i64::try_from(how.bytes).unwrap_or(i64::MAX);
        let version = vec![how.version];
        // Entries up to `checked` were checked by an earlier open: only later ones are read.
        let (checked, top): (i64, i64) = sqlx::query_as(
            "SELECT coalesce((SELECT checked_to FROM fingerprint_check WHERE id = 1), 0),
                    coalesce((SELECT max(id) FROM entries), 0)",
        )
        .fetch_one(&self.pool)
        .await
        .ctx("reading how far fingerprints were checked")?;
        if top <= checked {
            return Ok(0);
        }
        let any: Option<i64> = sqlx::query_scalar(concat!(
            "SELECT id FROM entries WHERE id > ?3 AND ",
            stale!(),
            " LIMIT 1"
        ))
        .bind(len)
        .bind(&version)
        .bind(checked)
        .fetch_optional(&self.pool)
        .await
        .ctx("looking for fingerprints of an earlier format")?;
        // Band rows are written below without the filter: a saved one no longer covers them.
        sqlx::query("DELETE FROM band_filter_state")
            .execute(&self.pool)
            .await
            .ctx("dropping the saved band filter")?;
        // Stale fingerprints' band keys go first, in one pass over the band index (which has no
        // index by entry). A crash after this leaves the fingerprints stale: the next open
        // starts again.
        if any.is_some() {
            sqlx::query(concat!(
            "DELETE FROM entry_bands WHERE entry_id IN (SELECT id FROM entries WHERE id > ?3 AND ",
            stale!(),
            ")"
        ))
        .bind(len)
        .bind(&version)
        .bind(checked)
        .execute(&self.pool)
        .await
        .ctx("removing band keys of fingerprints of an earlier format")?;
        }
        // Every entry above the mark: a stale fingerprint is computed again from the text, a
        // current one (an entry whose held band rows a crash lost) has its band rows written.
        let mut last = checked;
        let mut done = 0u64;
        loop {
            let rows = sqlx::query(concat!(
                "SELECT id, fingerprint, CASE WHEN ",
                stale!(),
                " THEN content_text END
                 FROM entries WHERE id > ?3 AND fingerprint IS NOT NULL ORDER BY id LIMIT ?4"
            ))
            .bind(len)
            .bind(&version)
            .bind(last)
            .bind(CHUNK)
            .fetch_all(&self.pool)
            .await
            .ctx("reading entries to check their fingerprints")?;
            if rows.is_empty() {
                break;
            }
            let mut tx = self
                .pool
                .begin()
                .await
                .ctx("starting to fingerprint again")?;
            let mut pairs: Vec<(i64, i64)> = Vec::new();
            for row in &rows {
                let id: i64 = row.col(0)?;
                last = last.max(id);
                let stale_text: Option<&str> = row.try_get(2).ctx("reading an entry's text")?;
                let bands = match stale_text {
                    Some(text) => {
                        let (fp, bands) = match (how.compute)(text) {
                            Some((fp, bands)) => (Some(fp), bands),
                            None => (None, Vec::new()),
                        };
                        sqlx::query("UPDATE entries SET fingerprint = ?1 WHERE id = ?2")
                            .bind(fp)
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .ctx("storing a fingerprint")?;
                        done += 1;
                        bands
                    }
                    None => {
                        let fp: &[u8] = row.try_get(1).ctx("reading a fingerprint")?;
                        (how.bands)(fp).unwrap_or_default()
                    }
                };
                pairs.extend(bands.into_iter().map(|b| (b, id)));
            }
            pairs.sort_unstable();
            super::write_band_rows(&mut tx, &pairs).await?;
            tx.commit().await.ctx("committing fingerprints")?;
        }
        self.bands.lock().await.reset();
        self.fingerprints_checked(top).await?;
        Ok(done)
    }

    async fn fingerprints_checked(&self, to: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fingerprint_check (id, checked_to) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET checked_to = max(checked_to, excluded.checked_to)",
        )
        .bind(to)
        .execute(&self.pool)
        .await
        .ctx("noting how far fingerprints were checked")?;
        Ok(())
    }
}
