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
//!
//! The filter outlives the process: [`BandFilter::save`] stores it with the band rows it covers
//! (`band_filter`, migration 0012) and the next process loads it when the table still holds just
//! those rows, instead of reading all of them again: a poll of 1,000 feeds with 5,000 new
//! entries otherwise looked up 320,000 band keys in SQL, the lookups not paying for a build.

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

/// 64-bit words a saved chunk of a layer holds (256 KiB): what saving or loading copies at a time.
const CHUNK_WORDS: usize = 32_768;

/// The filter's hash seed: fixed, so that a saved filter answers as it did when saved.
const SEED: u128 = 0x6665_6564_636f_7270_7573_2d62_616e_6473;

/// Band keys of the table a loaded filter must hold (this many of the smallest, and this many
/// from 2^30 up, a quarter into the 32-bit key range): a filter hashed another way, or a table
/// changed by hand, fails the check.
const CANARIES: i64 = 32;

/// A load reads this many saved bytes for the cost of one row of a scan (a lookup costs 4).
const LOAD_BYTES_PER_ROW: u64 = 256;

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
    /// Rows `entry_bands` holds, exactly, when known: counted or scanned, then kept up by
    /// [`BandFilter::wrote`] (`rows` is only an estimate for the build decision).
    table_rows: Option<u64>,
    /// Whether the layers equal the saved filter (nothing added since it was loaded or saved).
    saved: bool,
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
            self.saved = false;
            self.layers.push(
                BloomFilter::with_false_pos(FALSE_POSITIVES)
                    .seed(&SEED)
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
            self.table_rows = Some(self.rows);
            self.counted = true;
        }
        if self.rows <= MAX_BANDS {
            // The saved filter is a cache: one that cannot be read is built again.
            match self.load(conn, probes).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the saved band filter cannot be read; building it from the table")
                }
            }
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
            .seed(&SEED)
            .expected_items(usize::try_from(capacity).unwrap_or(usize::MAX));
        let mut items = 0u64;
        let mut rows = sqlx::query("SELECT band FROM entry_bands").fetch(&mut *conn);
        while let Some(row) = rows.try_next().await.ctx("reading band keys")? {
            bloom.insert(&row.col::<i64>(0)?);
            items += 1;
        }
        drop(rows);
        // Every row was read: the exact count, whatever was written since it was counted.
        self.table_rows = Some(items);
        for (band, _) in &self.pending {
            bloom.insert(band);
            items += 1;
        }
        self.layers = vec![bloom];
        self.capacity = capacity;
        self.items = items;
        self.looked_up = 0;
        self.saved = false;
        Ok(())
    }

    /// Loads the saved filter when it covers exactly the rows the table holds and the lookups
    /// paid for (and about to be) outweigh reading it. `Ok(false)`: nothing loaded, the layers
    /// are as they were.
    async fn load(&mut self, conn: &mut SqliteConnection, probes: u64) -> Result<bool, StoreError> {
        let Some(table_rows) = self.table_rows else {
            return Ok(false);
        };
        let state: Option<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT band_rows, capacity, items, (SELECT coalesce(sum(length(bits)), 0) FROM band_filter)
             FROM band_filter_state WHERE id = 1",
        )
        .fetch_optional(&mut *conn)
        .await
        .ctx("reading the saved band filter's state")?;
        let Some((band_rows, capacity, items, bytes)) = state else {
            return Ok(false);
        };
        let (Ok(band_rows), Ok(capacity), Ok(items), Ok(bytes)) = (
            u64::try_from(band_rows),
            u64::try_from(capacity),
            u64::try_from(items),
            u64::try_from(bytes),
        ) else {
            return Ok(false);
        };
        // Bounded by what a filter of MAX_BANDS keys takes, so a row edited by hand cannot make
        // the load take any memory.
        let max_bytes = MAX_BANDS.saturating_mul(4);
        if band_rows != table_rows || capacity == 0 || bytes == 0 || bytes > max_bytes {
            return Ok(false);
        }
        let paid = self.looked_up.saturating_add(probes).saturating_mul(4);
        if paid < bytes / LOAD_BYTES_PER_ROW {
            return Ok(false);
        }
        let mut layers = Vec::new();
        let mut words: Vec<u64> = Vec::new();
        let mut current: Option<(i64, u32)> = None;
        let mut rows =
            sqlx::query("SELECT layer, hashes, bits FROM band_filter ORDER BY layer, chunk")
                .fetch(&mut *conn);
        while let Some(row) = rows.try_next().await.ctx("reading the saved band filter")? {
            let layer: i64 = row.col(0)?;
            let hashes = u32::try_from(row.col::<i64>(1)?).unwrap_or(0);
            let bits: &[u8] = row.col(2)?;
            if current.is_some_and(|(l, _)| l != layer) {
                layers.push(layer_of(std::mem::take(&mut words), current));
            }
            current = Some((layer, hashes));
            words.extend(
                bits.chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default())),
            );
        }
        drop(rows);
        layers.push(layer_of(words, current));
        let Some(layers) = layers.into_iter().collect::<Option<Vec<BloomFilter>>>() else {
            return Ok(false);
        };
        let canaries: Vec<i64> = sqlx::query_scalar(
            "SELECT band FROM (SELECT band FROM entry_bands ORDER BY band LIMIT ?1)
             UNION ALL
             SELECT band FROM (SELECT band FROM entry_bands WHERE band >= 1 << 30 ORDER BY band LIMIT ?1)",
        )
        .bind(CANARIES)
        .fetch_all(&mut *conn)
        .await
        .ctx("checking the saved band filter")?;
        if !canaries
            .iter()
            .all(|k| layers.iter().any(|b| b.contains(k)))
        {
            return Ok(false);
        }
        self.layers = layers;
        self.capacity = capacity;
        self.items = items;
        self.looked_up = 0;
        self.saved = true;
        if !self.pending.is_empty() {
            let held: Vec<i64> = self.pending.iter().map(|p| p.0).collect();
            self.add(held.into_iter());
        }
        Ok(true)
    }

    /// Saves the filter for the next process, covering the `band_rows` rows the table holds
    /// once this transaction commits (call [`BandFilter::saved_as`] then). Nothing to do when no
    /// filter is built or it is saved already; `Ok(false)` then.
    pub(super) async fn save(
        &self,
        conn: &mut SqliteConnection,
        band_rows: u64,
    ) -> Result<bool, StoreError> {
        if self.layers.is_empty() || self.saved {
            return Ok(false);
        }
        sqlx::query("DELETE FROM band_filter")
            .execute(&mut *conn)
            .await
            .ctx("replacing the saved band filter")?;
        for (layer, bloom) in self.layers.iter().enumerate() {
            for (chunk, words) in bloom.as_slice().chunks(CHUNK_WORDS).enumerate() {
                let bits: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                sqlx::query(
                    "INSERT INTO band_filter (layer, chunk, hashes, bits) VALUES (?1, ?2, ?3, ?4)",
                )
                .bind(layer as i64)
                .bind(chunk as i64)
                .bind(i64::from(bloom.num_hashes()))
                .bind(bits)
                .execute(&mut *conn)
                .await
                .ctx("saving the band filter")?;
            }
        }
        sqlx::query(
            "INSERT OR REPLACE INTO band_filter_state (id, band_rows, capacity, items)
             VALUES (1, ?1, ?2, ?3)",
        )
        .bind(i64::try_from(band_rows).unwrap_or(i64::MAX))
        .bind(i64::try_from(self.capacity).unwrap_or(i64::MAX))
        .bind(i64::try_from(self.items).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await
        .ctx("saving the band filter")?;
        Ok(true)
    }

    /// Whether a built filter differs from the saved one.
    pub(super) fn to_save(&self) -> bool {
        !self.layers.is_empty() && !self.saved && self.table_rows.is_some()
    }

    /// The transaction that saved the filter committed.
    pub(super) fn saved_as(&mut self) {
        self.saved = true;
    }

    /// `rows` band rows were written by a transaction that committed.
    pub(super) fn wrote(&mut self, rows: u64) {
        self.table_rows = self.table_rows.map(|n| n.saturating_add(rows));
    }

    /// Rows the table holds once `rows` more written now commit, when known.
    pub(super) fn rows_after(&self, rows: u64) -> Option<u64> {
        self.table_rows.map(|n| n.saturating_add(rows))
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
            self.saved = false;
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

/// A saved layer's filter: `None` for an empty or hash-less one (a row edited by hand).
fn layer_of(words: Vec<u64>, layer: Option<(i64, u32)>) -> Option<BloomFilter> {
    let (_, hashes) = layer?;
    // A filter at 1 % takes 7 hashes; many more would make every lookup loop.
    if words.is_empty() || hashes == 0 || hashes > 32 {
        return None;
    }
    Some(BloomFilter::from_vec(words).seed(&SEED).hashes(hashes))
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

    /// A table of band rows with the saved filter's tables, as migrations make them.
    async fn band_tables(rows: &[(i64, i64)]) -> SqliteConnection {
        use sqlx::Connection;
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query(
            "CREATE TABLE entry_bands (band INTEGER NOT NULL, entry_id INTEGER NOT NULL,
             PRIMARY KEY (band, entry_id)) WITHOUT ROWID",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::raw_sql(include_str!(
            "../../../migrations/sqlite/0012_band_filter.sql"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        write_rows(&mut conn, rows).await;
        conn
    }

    async fn write_rows(conn: &mut SqliteConnection, rows: &[(i64, i64)]) {
        for (band, id) in rows {
            sqlx::query("INSERT INTO entry_bands VALUES (?1, ?2)")
                .bind(band)
                .bind(id)
                .execute(&mut *conn)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_saved_filter_is_loaded_only_while_it_covers_the_table_as_it_is() {
        // Keys on both sides of the canaries' split, more than one layer's chunk of words.
        let rows: Vec<(i64, i64)> = (0..5_000i64)
            .map(|i| ((i * 7_919) % (1 << 31), i / 64 + 1))
            .collect();
        let mut conn = band_tables(&rows).await;
        let mut built = BandFilter::default();
        built.prepare(&mut conn, 2_000).await.unwrap();
        assert_eq!(built.layers.len(), 1, "built from the table");
        assert!(built.to_save());
        assert!(built.save(&mut conn, 5_000).await.unwrap());
        built.saved_as();
        assert!(!built.to_save(), "saved: nothing left to save");
        let probe: Vec<i64> = (-20_000..20_000).map(|k| k * 13).collect();

        let mut loaded = BandFilter::default();
        loaded.hold(&[(-77, 9_999)]);
        loaded.prepare(&mut conn, 2_000).await.unwrap();
        assert_eq!(loaded.layers.len(), 1);
        assert_eq!(loaded.capacity, built.capacity);
        assert!(
            loaded.maybe_stored(&[-77]) == vec![-77],
            "held rows are in the loaded filter"
        );
        assert!(loaded.to_save(), "a held row was added to it");
        let mut again = BandFilter::default();
        again.prepare(&mut conn, 2_000).await.unwrap();
        assert!(
            !again.to_save(),
            "loaded, not built: it equals the saved one"
        );
        assert_eq!(again.maybe_stored(&probe), built.maybe_stored(&probe));
        let all: Vec<i64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(again.maybe_stored(&all), all, "no stored key is ruled out");

        // Too few lookups to pay for reading it: the lookups go to SQL (a table this small is
        // built, but not from the saved filter).
        let mut few = BandFilter {
            rows: 1 << 40,
            counted: true,
            table_rows: Some(5_000),
            ..BandFilter::default()
        };
        assert!(!few.load(&mut conn, 1).await.unwrap());

        // A row written behind the saved filter's back: it is not loaded, the table is read.
        // Its key is neither among the smallest nor from 2^30 up: only the row count tells.
        write_rows(&mut conn, &[(123_456_789, 99)]).await;
        let mut behind = BandFilter::default();
        behind.prepare(&mut conn, 2_000).await.unwrap();
        assert!(behind.to_save(), "built from the table");
        assert_eq!(behind.maybe_stored(&[123_456_789]), vec![123_456_789]);
        sqlx::query("DELETE FROM entry_bands WHERE band = 123456789")
            .execute(&mut conn)
            .await
            .unwrap();

        // Saved bits that no longer hold the table's keys, or an absurd hash count: ignored.
        for edit in [
            "UPDATE band_filter SET bits = zeroblob(length(bits))",
            "UPDATE band_filter SET hashes = 1000000",
            "DELETE FROM band_filter",
        ] {
            assert!(again.save(&mut conn, 5_000).await.is_ok());
            sqlx::query(edit).execute(&mut conn).await.unwrap();
            let mut edited = BandFilter {
                table_rows: Some(5_000),
                ..BandFilter::default()
            };
            assert!(!edited.load(&mut conn, 1 << 20).await.unwrap(), "{edit}");
            edited.prepare(&mut conn, 2_000).await.unwrap();
            assert_eq!(
                edited.maybe_stored(&all),
                all,
                "{edit}: built from the table"
            );
        }
        // Tables dropped by hand: built from the band rows, no error.
        sqlx::query("DROP TABLE band_filter_state")
            .execute(&mut conn)
            .await
            .unwrap();
        let mut dropped = BandFilter::default();
        dropped.prepare(&mut conn, 2_000).await.unwrap();
        assert_eq!(dropped.maybe_stored(&all), all);
    }
}
