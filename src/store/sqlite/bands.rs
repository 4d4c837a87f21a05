//! Which band keys the near-duplicate index may hold, in memory: most band keys of a new entry
//! are in no stored entry, and a Bloom filter answers that without a B-tree search each (64 per
//! entry), so only the few it cannot rule out are looked up in `entry_bands`.
//!
//! Only SQLite uses it: one process writes the file (the instance lock), so every band row the
//! filter has not seen was there when it was built. It is built from the table once enough
//! lookups have been paid for to cover the scan, grows by rebuilding, and is given up above
//! [`MAX_BANDS`] rows (lookups in SQL then, as without it). A false positive costs one lookup;
//! there are no false negatives.

use fastbloom::BloomFilter;
use futures_util::TryStreamExt;
use sqlx::SqliteConnection;

use crate::store::StoreError;
use crate::store::rows::{Col, Context};

/// Band rows above which no filter is kept (about 10 MB of filter at this size).
pub(super) const MAX_BANDS: u64 = 8_000_000;
/// A filter is made for at least this many band keys.
const MIN_CAPACITY: u64 = 1 << 20;
const FALSE_POSITIVES: f64 = 0.01;

#[derive(Default)]
pub(super) struct BandFilter {
    bloom: Option<BloomFilter>,
    /// Keys the filter was sized for, and keys in it.
    capacity: u64,
    items: u64,
    /// Band rows the table held when last counted (the filter's build cost).
    rows: u64,
    /// Keys looked up in SQL since the table was last counted.
    looked_up: u64,
    counted: bool,
}

impl BandFilter {
    /// Prepares the filter for a batch that will look up `probes` band keys: builds or
    /// rebuilds it when the lookups it saves outweigh reading the table. Call it outside any
    /// uncommitted band writes of this process (at a transaction's start).
    pub(super) async fn prepare(
        &mut self,
        conn: &mut SqliteConnection,
        probes: u64,
    ) -> Result<(), StoreError> {
        let full = self.bloom.is_some() && self.items > self.capacity;
        if self.bloom.is_some() && !full {
            return Ok(());
        }
        if !self.counted || full {
            let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM entry_bands")
                .fetch_one(&mut *conn)
                .await
                .ctx("counting band keys")?;
            self.rows = u64::try_from(rows).unwrap_or(0);
            self.counted = true;
            self.bloom = None;
        }
        // A lookup costs several times reading one row: build once the lookups paid for
        // (and about to be) reach a quarter of the table.
        let paid = self.looked_up.saturating_add(probes).saturating_mul(4);
        if self.rows > MAX_BANDS || (paid < self.rows && !full) {
            self.looked_up = self.looked_up.saturating_add(probes);
            return Ok(());
        }
        let capacity = self.rows.saturating_mul(4).max(MIN_CAPACITY);
        let mut bloom = BloomFilter::with_false_pos(FALSE_POSITIVES)
            .expected_items(usize::try_from(capacity).unwrap_or(usize::MAX));
        let mut items = 0u64;
        let mut rows = sqlx::query("SELECT band FROM entry_bands").fetch(&mut *conn);
        while let Some(row) = rows.try_next().await.ctx("reading band keys")? {
            bloom.insert(&row.col::<i64>(0)?);
            items += 1;
        }
        self.bloom = Some(bloom);
        self.capacity = capacity;
        self.items = items;
        self.looked_up = 0;
        Ok(())
    }

    /// The keys of `bands` the index may hold (all of them without a filter).
    pub(super) fn maybe_stored(&self, bands: &[i64]) -> Vec<i64> {
        match &self.bloom {
            Some(b) => bands.iter().copied().filter(|k| b.contains(k)).collect(),
            None => bands.to_vec(),
        }
    }

    /// Band keys this process writes: in the filter from now on.
    pub(super) fn add(&mut self, bands: impl Iterator<Item = i64>) {
        if let Some(b) = &mut self.bloom {
            for k in bands {
                b.insert(&k);
                self.items += 1;
            }
        } else {
            self.rows = self.rows.saturating_add(bands.count() as u64);
        }
    }

    /// Forget everything: the table was changed behind the filter's back.
    pub(super) fn reset(&mut self) {
        *self = BandFilter::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_filter_every_key_is_looked_up_and_with_one_none_is_missed() {
        let mut f = BandFilter::default();
        assert_eq!(f.maybe_stored(&[1, 2, 3]), vec![1, 2, 3]);
        f.bloom = Some(BloomFilter::with_false_pos(FALSE_POSITIVES).expected_items(1000));
        f.capacity = 1000;
        f.add([5i64, 7, -9].into_iter());
        let keys: Vec<i64> = (-500..500).collect();
        let maybe = f.maybe_stored(&keys);
        for k in [5, 7, -9] {
            assert!(maybe.contains(&k), "{k} is never ruled out");
        }
        assert!(
            maybe.len() < 30,
            "most absent keys are ruled out: {}",
            maybe.len()
        );
        f.reset();
        assert_eq!(f.maybe_stored(&[4]), vec![4]);
    }
}
