//! Near-duplicate matching in memory, indexed by band key.
//!
//! A new entry joins the cluster of the first near-duplicate found among the entries that share
//! one of its LSH band keys: stored entries first (oldest first), then entries inserted earlier
//! in the same transaction, then earlier in the same fetch. Each band key keeps at most
//! [`CANDIDATES_PER_BAND`] candidates, so a key that countless texts share costs a bounded
//! number of comparisons, and matching is a lookup per band, never a scan of the batch.
//!
//! Pure: backends fill [`Stored`] from their band table and call [`cluster_of`]; nothing here
//! reads or writes a database.

/// Band keys are hashes already: a fast hasher (foldhash) instead of SipHash for the 64 keys
/// every entry files and looks up.
type HashMap<K, V> = foldhash::HashMap<K, V>;

/// Candidates kept per band key.
pub const CANDIDATES_PER_BAND: usize = 16;

/// Decides whether two fingerprints (new, other) are near-duplicates.
pub type NearFn<'a> = &'a (dyn Fn(&[u8], &[u8]) -> bool + Sync);

/// An entry inserted in this transaction, for checks before its band keys reach the table.
#[derive(Debug, Clone)]
pub struct Fresh<'a> {
    pub id: i64,
    pub cluster_id: i64,
    pub fingerprint: &'a [u8],
    pub bands: &'a [i64],
}

/// Fresh entries in insertion order, with their band keys indexed.
///
/// Nearly every band key of a batch belongs to one entry: the index keeps a key's first slot
/// inline and only the rare further ones in a list (a list per key held 2 MB of the heap at
/// the peak of a cold poll, for 500 entries' 32,000 keys).
#[derive(Debug, Default)]
pub struct FreshIndex<'a> {
    entries: Vec<Fresh<'a>>,
    first: HashMap<i64, u32>,
    more: HashMap<i64, Vec<u32>>,
}

impl<'a> FreshIndex<'a> {
    pub fn push(&mut self, f: Fresh<'a>) {
        // Slots past u32 (never in a real batch) are kept but not indexed.
        if let Ok(slot) = u32::try_from(self.entries.len()) {
            for b in f.bands {
                match self.first.entry(*b) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(slot);
                    }
                    std::collections::hash_map::Entry::Occupied(_) => {
                        let slots = self.more.entry(*b).or_default();
                        if slots.len() + 1 < CANDIDATES_PER_BAND {
                            slots.push(slot);
                        }
                    }
                }
            }
        }
        self.entries.push(f);
    }

    /// Moves `other`'s entries in after this index's own (a fetch's savepoint was released).
    pub fn append(&mut self, other: FreshIndex<'a>) {
        self.first.reserve(other.first.len());
        for f in other.entries {
            self.push(f);
        }
    }

    /// The entries, in insertion order.
    pub fn into_entries(self) -> Vec<Fresh<'a>> {
        self.entries
    }

    pub fn iter(&self) -> impl Iterator<Item = &Fresh<'a>> {
        self.entries.iter()
    }

    /// Slots of the entries filed under any of `bands`, oldest first, each once.
    fn slots_under(&self, bands: &[i64]) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for b in bands {
            if let Some(&s) = self.first.get(b) {
                out.push(s);
                if let Some(more) = self.more.get(b) {
                    out.extend_from_slice(more);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The cluster of the first (oldest) entry that shares a band key with `bands` and is a
    /// near-duplicate of `fp`.
    pub fn first_match(&self, bands: &[i64], fp: &[u8], near: NearFn<'_>) -> Option<i64> {
        self.slots_under(bands).iter().find_map(|&i| {
            let f = self.entries.get(usize::try_from(i).ok()?)?;
            near(fp, f.fingerprint).then_some(f.cluster_id)
        })
    }
}

/// Stored entries that share band keys with a batch's new entries: the candidates a backend
/// read from its band table.
#[derive(Debug, Default)]
pub struct Stored {
    /// Band key → ids of the first stored entries carrying it, oldest first.
    by_band: HashMap<i64, Vec<i64>>,
    /// Id → (cluster, fingerprint).
    entries: HashMap<i64, (i64, Vec<u8>)>,
}

impl Stored {
    /// Notes that entry `id` carries `band` (call in band, id order). Returns whether it was
    /// kept: a band holds [`CANDIDATES_PER_BAND`] at most.
    pub fn add_band(&mut self, band: i64, id: i64) -> bool {
        let ids = self.by_band.entry(band).or_default();
        if ids.len() < CANDIDATES_PER_BAND {
            ids.push(id);
            true
        } else {
            false
        }
    }

    pub fn add_entry(&mut self, id: i64, cluster_id: i64, fingerprint: Vec<u8>) {
        self.entries.insert(id, (cluster_id, fingerprint));
    }

    /// The cluster of the oldest stored candidate that is a near-duplicate of `fp`.
    pub fn first_match(&self, bands: &[i64], fp: &[u8], near: NearFn<'_>) -> Option<i64> {
        under_bands(bands, &self.by_band).iter().find_map(|id| {
            let (cluster, theirs) = self.entries.get(id)?;
            near(fp, theirs).then_some(*cluster)
        })
    }
}

/// Everything filed under any of `bands`, oldest first, once each.
fn under_bands<T: Copy + Ord>(bands: &[i64], index: &HashMap<i64, Vec<T>>) -> Vec<T> {
    let mut out: Vec<T> = bands
        .iter()
        .filter_map(|b| index.get(b))
        .flatten()
        .copied()
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The cluster a new entry joins, if any: stored candidates first, then the transaction's
/// earlier entries, then the fetch's own earlier entries.
pub fn cluster_of(
    bands: &[i64],
    fp: &[u8],
    stored: &Stored,
    batch: &FreshIndex<'_>,
    fetch: &FreshIndex<'_>,
    near: NearFn<'_>,
) -> Option<i64> {
    stored
        .first_match(bands, fp, near)
        .or_else(|| batch.first_match(bands, fp, near))
        .or_else(|| fetch.first_match(bands, fp, near))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Near-duplicates here: fingerprints that start with the same byte.
    fn near(a: &[u8], b: &[u8]) -> bool {
        a.first() == b.first()
    }

    fn fresh<'a>(id: i64, cluster_id: i64, fp: &'a [u8], bands: &'a [i64]) -> Fresh<'a> {
        Fresh {
            id,
            cluster_id,
            fingerprint: fp,
            bands,
        }
    }

    #[test]
    fn matches_come_from_stored_then_batch_then_fetch() {
        let mut stored = Stored::default();
        assert!(stored.add_band(1, 10));
        stored.add_entry(10, 7, vec![b'a']);
        let mut batch = FreshIndex::default();
        batch.push(fresh(20, 20, b"b", &[2]));
        let mut fetch = FreshIndex::default();
        fetch.push(fresh(30, 30, b"c", &[3]));
        // (bands, fingerprint, expected cluster)
        let table: &[(&[i64], &[u8], Option<i64>)] = &[
            (&[1], b"a", Some(7)),        // stored candidate, its cluster (not its id)
            (&[2], b"b", Some(20)),       // earlier in the transaction
            (&[3], b"c", Some(30)),       // earlier in the fetch
            (&[1, 2, 3], b"c", Some(30)), // only the near one counts
            (&[1], b"z", None),           // shares a band, not near
            (&[9], b"a", None),           // near, but no shared band: never compared
            (&[], b"a", None),
        ];
        for (bands, fp, want) in table {
            let near: NearFn<'_> = &near;
            assert_eq!(
                cluster_of(bands, fp, &stored, &batch, &fetch, near),
                *want,
                "bands {bands:?}, fingerprint {fp:?}"
            );
        }
    }

    #[test]
    fn the_oldest_candidate_wins_and_a_band_keeps_a_bounded_share() {
        let mut stored = Stored::default();
        let cap = i64::try_from(CANDIDATES_PER_BAND).unwrap_or(16);
        for id in 1..=cap + 5 {
            assert_eq!(stored.add_band(4, id), id <= cap, "id {id}");
            stored.add_entry(id, 100 + id, vec![b'x']);
        }
        let near: NearFn<'_> = &near;
        assert_eq!(stored.first_match(&[4], b"x", near), Some(101));
        let mut idx = FreshIndex::default();
        let bands = [5i64];
        for id in 1..=cap + 5 {
            idx.push(fresh(id, id, b"q", &bands));
        }
        let mut later = FreshIndex::default();
        later.push(fresh(99, 99, b"r", &bands));
        idx.append(later);
        assert_eq!(idx.first_match(&bands, b"q", near), Some(1));
        // The band was full: the appended entry is not a candidate under it.
        assert_eq!(idx.first_match(&bands, b"r", near), None);
        assert_eq!(idx.iter().count(), CANDIDATES_PER_BAND + 6);
        // Exactly the first CANDIDATES_PER_BAND entries under a key are candidates.
        let prints: Vec<[u8; 1]> = (0..=cap + 1).map(|i| [i as u8]).collect();
        let mut idx = FreshIndex::default();
        for (id, fp) in prints.iter().enumerate() {
            let id = id as i64;
            idx.push(fresh(id, 1000 + id, fp, &bands));
        }
        assert_eq!(idx.first_match(&bands, &[0], near), Some(1000));
        assert_eq!(
            idx.first_match(&bands, &[cap as u8 - 1], near),
            Some(999 + cap)
        );
        assert_eq!(idx.first_match(&bands, &[cap as u8], near), None);
        // Another key of the same entries finds them again.
        assert_eq!(idx.first_match(&[6, 5], &[3], near), Some(1003));
    }
}
