//! Which band keys the near-duplicate index may hold, in memory: most band keys of a new entry
//! are in no stored entry, and a Bloom filter answers that without a B-tree search each (64 per
//! entry), so only the few it cannot rule out are looked up in `entry_bands`.
//!
//! Only SQLite uses it: one process writes the file (the instance lock), so every band row the
//! filter has not seen was there when it was built. It is built from the table once enough
//! lookups have been paid for to cover the scan, grows by adding a layer as large as all before
//! it (every key this process writes goes into the filter, so growing needs no second scan: a
//! cold poll of 1,000 feeds read 3 million band rows twice to grow), and is given up above
//! [`MAX_BANDS`] rows (lookups in SQL then, as without it). A false positive costs one lookup
//! (each layer adds its rate); there are no false negatives.
//!
//! Band rows of new entries are also held here for a while ([`PENDING_BANDS`] at most) and
//! written together: each write touches pages all over the index, so one write per poll's batch
//! of fetches rewrote most of the index every transaction. Held rows are candidates like
//! written ones. A crash loses only held rows, whose entries are above `fingerprint_check`'s
//! mark: the next open writes their band rows from their stored fingerprints.

use fastbloom::BloomFilter;
use futures_util::TryStreamExt;
use sqlx::SqliteConnection;

use crate::store::StoreError;
use crate::store::rows::{Col, Context};

/// Band rows held before they are written (about 1 MB).
pub(super) const PENDING_BANDS: usize = 65_536;

/// Bits of the bitmap that rules out held rows a lookup does not want (a transaction looks
/// up a few thousand band keys at most).
const PROBE_BITS: usize = 16_384;

/// Band rows above which no filter is kept (about 10 MB of filter at this size).
pub(super) const MAX_BANDS: u64 = 8_000_000;
/// A filter is made for at least this many band keys.
const MIN_CAPACITY: u64 = 1 << 20;
const FALSE_POSITIVES: f64 = 0.01;

#[derive(Default)]
pub(super) struct BandFilter {
    /// The filter's layers, oldest first; new keys go into the last. Empty: no filter.
    layers: Vec<BloomFilter>,
    /// Keys the layers were sized for (all of them), and keys in them.
    capacity: u64,
    items: u64,
    /// Band rows the table held when last counted (the filter's build cost).
    rows: u64,
    /// Keys looked up in SQL since the table was last counted.
    looked_up: u64,
    counted: bool,
    /// Band rows (band, entry id) of committed entries, not written yet, in id order.
    pending: Vec<(i64, i64)>,
    /// Ids of the entries committed since `fingerprint_check` was last moved (first, last).
    pub(super) unmarked: Option<(i64, i64)>,
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
        let built = !self.layers.is_empty();
        // Nothing to look up (a round of 304s): not even the table is counted.
        if probes == 0 || (built && self.items <= self.capacity) {
            return Ok(());
        }
        if built {
            if self.items > MAX_BANDS {
                self.rows = self.items;
                self.layers = Vec::new();
                return Ok(());
            }
            // Full: a layer as large as the others together, so rates add up slowly.
            let more = self.capacity;
            self.layers.push(
                BloomFilter::with_false_pos(FALSE_POSITIVES)
                    .expected_items(usize::try_from(more).unwrap_or(usize::MAX)),
            );
            self.capacity = self.capacity.saturating_add(more);
            return Ok(());
        }
        if !self.counted {
            let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM entry_bands")
                .fetch_one(&mut *conn)
                .await
                .ctx("counting band keys")?;
            self.rows = u64::try_from(rows).unwrap_or(0);
            self.counted = true;
        }
        // A lookup costs several times reading one row: build once the lookups paid for
        // (and about to be) reach a quarter of the table.
        let paid = self.looked_up.saturating_add(probes).saturating_mul(4);
        if self.rows > MAX_BANDS || paid < self.rows {
            self.looked_up = self.looked_up.saturating_add(probes);
            return Ok(());
        }
        // Room to double before the first new layer: more room is memory held at the peak of a
        // cold poll, which fills it from empty.
        let capacity = self.rows.saturating_mul(2).max(MIN_CAPACITY);
        let mut bloom = BloomFilter::with_false_pos(FALSE_POSITIVES)
            .expected_items(usize::try_from(capacity).unwrap_or(usize::MAX));
        let mut items = 0u64;
        let mut rows = sqlx::query("SELECT band FROM entry_bands").fetch(&mut *conn);
        while let Some(row) = rows.try_next().await.ctx("reading band keys")? {
            bloom.insert(&row.col::<i64>(0)?);
            items += 1;
        }
        drop(rows);
        for (band, _) in &self.pending {
            bloom.insert(band);
            items += 1;
        }
        self.layers = vec![bloom];
        self.capacity = capacity;
        self.items = items;
        self.looked_up = 0;
        Ok(())
    }

    /// The keys of `bands` the index may hold (all of them without a filter).
    pub(super) fn maybe_stored(&self, bands: &[i64]) -> Vec<i64> {
        if self.layers.is_empty() {
            return bands.to_vec();
        }
        bands
            .iter()
            .copied()
            .filter(|k| self.layers.iter().any(|b| b.contains(k)))
            .collect()
    }

    /// Band keys this process writes: in the filter from now on.
    pub(super) fn add(&mut self, bands: impl Iterator<Item = i64>) {
        if let Some(b) = self.layers.last_mut() {
            for k in bands {
                b.insert(&k);
                self.items += 1;
            }
        } else {
            self.rows = self.rows.saturating_add(bands.count() as u64);
        }
    }

    /// Forget the filter: the table was changed behind its back. Held rows stay.
    pub(super) fn reset(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let unmarked = self.unmarked.take();
        *self = BandFilter {
            pending,
            unmarked,
            ..BandFilter::default()
        };
    }

    /// Held rows carrying any of `bands`, as (band, entry id), in the order they were held.
    ///
    /// Every held row is tested (up to [`PENDING_BANDS`] for each transaction's lookups), so
    /// the test is one load for most: band keys are hashes, and their low bits index a bitmap
    /// of the wanted keys; only a row whose bit is set is searched for among them.
    pub(super) fn pending_under(&self, bands: &[i64]) -> Vec<(i64, i64)> {
        if self.pending.is_empty() || bands.is_empty() {
            return Vec::new();
        }
        let mut wanted = bands.to_vec();
        wanted.sort_unstable();
        let mut bits = [0u64; PROBE_BITS / 64];
        let slot = |band: i64| (band as u64 % PROBE_BITS as u64) as usize;
        for &b in &wanted {
            bits[slot(b) / 64] |= 1 << (slot(b) % 64);
        }
        self.pending
            .iter()
            .filter(|(b, _)| {
                (bits[slot(*b) / 64] >> (slot(*b) % 64)) & 1 == 1 && wanted.binary_search(b).is_ok()
            })
            .copied()
            .collect()
    }

    /// Holds the band rows of a transaction's new entries; their transaction rolled back, they
    /// are taken back with [`BandFilter::discard_after`].
    pub(super) fn hold(&mut self, pairs: &[(i64, i64)]) {
        self.pending.extend_from_slice(pairs);
    }

    /// Notes entries `ids` committed and not yet marked checked.
    pub(super) fn note_unmarked(&mut self, ids: &[i64]) {
        if let (Some(&a), Some(&b)) = (ids.iter().min(), ids.iter().max()) {
            self.unmarked = Some(match self.unmarked {
                Some((x, y)) => (x.min(a), y.max(b)),
                None => (a, b),
            });
        }
    }

    /// A copy of the first `len` held rows.
    pub(super) fn held_prefix(&self, len: usize) -> Vec<(i64, i64)> {
        self.pending.get(..len).unwrap_or(&self.pending).to_vec()
    }

    /// Held rows: how many.
    pub(super) fn held(&self) -> usize {
        self.pending.len()
    }

    /// The held rows, sorted, to write; none are held afterwards.
    pub(super) fn take_pending(&mut self) -> Vec<(i64, i64)> {
        let mut out = std::mem::take(&mut self.pending);
        out.sort_unstable();
        out
    }

    /// Drops held rows from `len` on (a transaction that added them did not commit).
    pub(super) fn discard_after(&mut self, len: usize) {
        self.pending.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_filter_every_key_is_looked_up_and_with_one_none_is_missed() {
        let mut f = BandFilter::default();
        assert_eq!(f.maybe_stored(&[1, 2, 3]), vec![1, 2, 3]);
        f.layers = vec![BloomFilter::with_false_pos(FALSE_POSITIVES).expected_items(1000)];
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

    #[test]
    fn held_rows_under_the_wanted_bands_are_found_and_no_others() {
        let mut f = BandFilter::default();
        assert!(f.pending_under(&[1]).is_empty(), "nothing held");
        let step = PROBE_BITS as i64;
        // Keys that share their low bits with a wanted one (the bitmap's slot) but are not it,
        // negative keys, the extremes, and a band held for two entries.
        f.hold(&[
            (7, 1),
            (7 + step, 2),
            (-7, 3),
            (i64::MIN, 4),
            (i64::MAX, 5),
            (7 - step, 6),
            (7, 8),
            (42, 9),
        ]);
        type Case<'a> = (&'a [i64], &'a [(i64, i64)]);
        let cases: [Case; 5] = [
            (&[], &[]),
            (&[7], &[(7, 1), (7, 8)]),
            (&[7 + step, -7], &[(7 + step, 2), (-7, 3)]),
            (&[i64::MAX, i64::MIN, 8], &[(i64::MIN, 4), (i64::MAX, 5)]),
            (&[41, 43, 7 + 2 * step], &[]),
        ];
        for (bands, expected) in cases {
            assert_eq!(f.pending_under(bands), expected, "{bands:?}");
        }
    }

    #[tokio::test]
    async fn a_full_filter_grows_a_layer_without_reading_the_table_and_misses_nothing() {
        use sqlx::Connection;
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE entry_bands (band INTEGER, entry_id INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO entry_bands VALUES (1, 1), (2, 1)")
            .execute(&mut conn)
            .await
            .unwrap();
        let mut f = BandFilter::default();
        f.prepare(&mut conn, 1).await.unwrap();
        assert_eq!(
            f.layers.len(),
            1,
            "built at the first lookup of a small table"
        );
        assert_eq!(f.items, 2);
        let capacity = f.capacity;
        let written: Vec<i64> = (10..).step_by(7).take(capacity as usize + 5).collect();
        f.add(written.iter().copied());
        // Growing must not read the table: gone, it would fail.
        sqlx::query("DROP TABLE entry_bands")
            .execute(&mut conn)
            .await
            .unwrap();
        f.prepare(&mut conn, 64).await.unwrap();
        assert_eq!(f.layers.len(), 2);
        assert_eq!(f.capacity, capacity * 2);
        f.add([-3i64].into_iter());
        let mut all = written.clone();
        all.extend([1, 2, -3]);
        assert_eq!(f.maybe_stored(&all), all, "no key written is ruled out");
        let absent: Vec<i64> = (-100_000..-4).collect();
        let maybe = f.maybe_stored(&absent).len();
        assert!(
            maybe < absent.len() / 20,
            "absent keys are mostly ruled out: {maybe}"
        );
        // Full again but past the bound: no filter, lookups in SQL.
        f.items = MAX_BANDS + 1;
        f.prepare(&mut conn, 64).await.unwrap();
        assert!(f.layers.is_empty());
        assert_eq!(f.maybe_stored(&[5, 6]), vec![5, 6]);
    }
}
