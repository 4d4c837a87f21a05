//! Stored near-duplicate fingerprints of an earlier format, computed again from their entries'
//! text with their band keys, when a writer opens the database. Instances starting together
//! take turns on an advisory lock: the first does the work, the others find none left.

use sqlx::Row;

use super::PgStore;
use crate::store::rows::{Col, Context};
use crate::store::{Refingerprint, StoreError};

/// The advisory lock of the upgrade ("fcfinger").
const LOCK: i64 = 0x6663_6669_6e67_6572;

/// Rows whose fingerprint is not of the current format ($1 its length, $2 its first byte).
macro_rules! stale {
    () => {
        "fingerprint IS NOT NULL AND (octet_length(fingerprint) <> $1 OR get_byte(fingerprint, 0) <> $2)"
    };
}

impl PgStore {
    pub async fn refresh_fingerprints(&self, how: &Refingerprint<'_>) -> Result<u64, StoreError> {
        let len = i32::try_from(how.bytes).unwrap_or(i32::MAX);
        let version = i32::from(how.version);
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
            "SELECT id FROM entries WHERE id > $3 AND ",
            stale!(),
            " LIMIT 1"
        ))
        .bind(len)
        .bind(version)
        .bind(checked)
        .fetch_optional(&self.pool)
        .await
        .ctx("looking for fingerprints of an earlier format")?;
        if any.is_none() {
            self.fingerprints_checked(top).await?;
            return Ok(0);
        }
        // One transaction: other instances wait on the lock, then see the work done.
        let mut tx = self
            .pool
            .begin()
            .await
            .ctx("starting to fingerprint again")?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOCK)
            .execute(&mut *tx)
            .await
            .ctx("waiting for another instance's fingerprint upgrade")?;
        sqlx::query(concat!(
            "DELETE FROM entry_bands WHERE entry_id IN (SELECT id FROM entries WHERE id > $3 AND ",
            stale!(),
            ")"
        ))
        .bind(len)
        .bind(version)
        .bind(checked)
        .execute(&mut *tx)
        .await
        .ctx("removing band keys of fingerprints of an earlier format")?;
        let mut last = checked;
        let mut done = 0u64;
        loop {
            let rows = sqlx::query(concat!(
                "SELECT id, content_text FROM entries WHERE id > $3 AND ",
                stale!(),
                " ORDER BY id LIMIT 500"
            ))
            .bind(len)
            .bind(version)
            .bind(last)
            .fetch_all(&mut *tx)
            .await
            .ctx("reading entries to fingerprint again")?;
            if rows.is_empty() {
                break;
            }
            let (mut ids, mut fps) = (Vec::new(), Vec::new());
            let mut pairs: Vec<(i64, i64)> = Vec::new();
            for row in &rows {
                let id: i64 = row.col(0)?;
                let text: &str = row.try_get(1).ctx("reading an entry's text")?;
                last = last.max(id);
                let (fp, b) = match (how.compute)(text) {
                    Some((fp, b)) => (Some(fp), b),
                    None => (None, Vec::new()),
                };
                ids.push(id);
                fps.push(fp);
                pairs.extend(b.into_iter().map(|band| (band, id)));
            }
            sqlx::query(
                "UPDATE entries e SET fingerprint = u.fp
                 FROM unnest($1::bigint[], $2::bytea[]) AS u(id, fp) WHERE e.id = u.id",
            )
            .bind(&ids)
            .bind(&fps)
            .execute(&mut *tx)
            .await
            .ctx("storing fingerprints")?;
            super::ingest::write_band_rows(&mut tx, &pairs).await?;
            done += rows.len() as u64;
        }
        tx.commit().await.ctx("committing fingerprints")?;
        self.fingerprints_checked(top).await?;
        Ok(done)
    }

    async fn fingerprints_checked(&self, to: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fingerprint_check (id, checked_to) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE
             SET checked_to = greatest(fingerprint_check.checked_to, excluded.checked_to)",
        )
        .bind(to)
        .execute(&self.pool)
        .await
        .ctx("noting how far fingerprints were checked")?;
        Ok(())
    }
}
