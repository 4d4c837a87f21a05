//! Near-duplicate detection: the same story from several feeds, a syndicated copy, a reworded
//! re-post.
//!
//! MinHash over 3-word shingles estimates how many word triples two texts share. Rewording
//! keeps many triples (names, figures, quoted phrases survive); two different articles about the
//! same event share names and numbers as single words but very few triples, which is why
//! shingles rather than single words are hashed. The verdict uses the estimated *containment*
//! (shared shingles over the smaller text's shingles) as well as Jaccard, so a shortened copy of
//! a long article still counts as a copy.
//!
//! The signature is a one-permutation MinHash with optimal densification (Shrivastava, ICML
//! 2017): each shingle is hashed once and lands in one of [`NUM_HASHES`] bins by its top bits;
//! a bin keeps its smallest value; an empty bin borrows the value of the first non-empty bin a
//! fixed probe sequence of its own reaches. Two signatures agree in a bin with probability equal
//! to the Jaccard similarity, as with [`NUM_HASHES`] independent permutations, at one hash per
//! shingle instead of [`NUM_HASHES`].
//!
//! Fingerprints and band keys are stable across runs, builds and platforms (FNV-1a of each
//! shingle, a fixed mixing function, fixed probe seeds), so they can be stored in SQL and
//! compared later. The stored form carries [`FORMAT_VERSION`]; a stored fingerprint of another
//! version does not compare ([`Fingerprint::from_bytes`] refuses it) and is computed again
//! from the entry's text when a writer opens the database.

use serde::{Deserialize, Serialize};

/// Words per shingle.
pub const SHINGLE_WORDS: usize = 3;
/// MinHash values (bins) per fingerprint.
pub const NUM_HASHES: usize = 128;
/// Rows per LSH band: 64 bands of 2 rows. A pair at Jaccard 0.2 shares a band with probability
/// 0.93, at 0.3 with 0.998; candidates are then checked with [`is_near_duplicate`].
pub const BAND_ROWS: usize = 2;

/// Estimated Jaccard similarity at or above which two texts are near-duplicates.
pub const JACCARD_THRESHOLD: f64 = 0.2;
/// Estimated containment (shared shingles / shingles of the smaller text) at or above which two
/// texts are near-duplicates.
pub const CONTAINMENT_THRESHOLD: f64 = 0.3;
/// Texts with fewer shingles than this are only duplicates of near-identical texts.
pub const MIN_SHINGLES: u32 = 20;

/// First byte of the stored form. Version 1 (128 permutations of 61-bit values, 1,028 bytes
/// without a version byte) was written before one-permutation hashing.
pub const FORMAT_VERSION: u8 = 2;
/// Length of the stored form: version, shingle count, then the bins.
pub const FINGERPRINT_BYTES: usize = 1 + 4 + 4 * NUM_HASHES;

/// The MinHash signature of a text and its number of distinct shingles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub shingles: u32,
    pub minhash: Vec<u32>,
}

impl Fingerprint {
    /// Compact binary form for a BLOB column: [`FORMAT_VERSION`], the shingle count, then the
    /// bins, all little-endian ([`FINGERPRINT_BYTES`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FINGERPRINT_BYTES);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.shingles.to_le_bytes());
        for v in &self.minhash {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads [`to_bytes`](Self::to_bytes)' form; `None` for any other length or version (an
    /// earlier version's fingerprint is not comparable with this one's).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (&version, rest) = bytes.split_first()?;
        if version != FORMAT_VERSION || bytes.len() != FINGERPRINT_BYTES {
            return None;
        }
        let (head, rest) = rest.split_at(4);
        let shingles = u32::from_le_bytes(head.try_into().ok()?);
        let minhash = rest
            .chunks_exact(4)
            .map(|c| c.try_into().ok().map(u32::from_le_bytes))
            .collect::<Option<Vec<u32>>>()?;
        Some(Self { shingles, minhash })
    }

    /// Whether a stored fingerprint is of this version (else it should be computed again).
    pub fn is_current(bytes: &[u8]) -> bool {
        bytes.len() == FINGERPRINT_BYTES && bytes.first() == Some(&FORMAT_VERSION)
    }
}

/// FNV-1a (64 bit) of the text's lower-cased words, three at a time separated by spaces, fed
/// to `each`: no string is built per word or shingle. Words are runs of letters and digits;
/// markup must be gone already (normalized text).
fn shingle_hashes(text: &str, mut each: impl FnMut(u64)) {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    // The last SHINGLE_WORDS words' hashes can't be combined (FNV is sequential), so the
    // window keeps their lower-cased bytes.
    let mut window: [Vec<u8>; SHINGLE_WORDS] = Default::default();
    let mut seen = 0usize;
    let mut lower = [0u8; 4];
    let hash_window = |window: &[Vec<u8>; SHINGLE_WORDS], first: usize, k: usize| {
        let mut h = OFFSET;
        for i in 0..k {
            if i > 0 {
                h ^= u64::from(b' ');
                h = h.wrapping_mul(PRIME);
            }
            for &b in &window[(first + i) % SHINGLE_WORDS] {
                h ^= u64::from(b);
                h = h.wrapping_mul(PRIME);
            }
        }
        h
    };
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        if w.is_empty() {
            continue;
        }
        let slot = &mut window[seen % SHINGLE_WORDS];
        slot.clear();
        if w.is_ascii() {
            slot.extend(w.bytes().map(|b| b.to_ascii_lowercase()));
        } else {
            for c in w.chars().flat_map(char::to_lowercase) {
                slot.extend_from_slice(c.encode_utf8(&mut lower).as_bytes());
            }
        }
        seen += 1;
        if seen >= SHINGLE_WORDS {
            each(hash_window(&window, seen % SHINGLE_WORDS, SHINGLE_WORDS));
        }
    }
    // A text shorter than a shingle is one shingle of all its words.
    if (1..SHINGLE_WORDS).contains(&seen) {
        each(hash_window(&window, 0, seen));
    }
}

/// SplitMix64's finalizer: spreads FNV's weak low bits over the whole word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Bits of a mixed hash that pick the bin (the top ones); the next 32 are the value.
const BIN_BITS: u32 = NUM_HASHES.trailing_zeros();
const _: () = assert!(NUM_HASHES.is_power_of_two());
// Band ids keep the band number in 6 bits.
const _: () = assert!(NUM_HASHES / BAND_ROWS <= 64);

/// The bin an empty bin `bin` borrows from at probe `attempt` (fixed for all texts, which is
/// what keeps the collision probability equal to the Jaccard similarity).
fn probe(bin: usize, attempt: u64) -> usize {
    let h = mix((bin as u64) ^ (attempt << 8) ^ 0x6465_6e73_6966_7921); // "densify!"
    (h >> (64 - BIN_BITS)) as usize
}

/// MinHash fingerprint of a normalized text (paragraphs joined by blank lines, as stored).
pub fn fingerprint(text: &str) -> Fingerprint {
    let mut bins = [u32::MAX; NUM_HASHES];
    let mut filled = [false; NUM_HASHES];
    let mut distinct: Vec<u64> = Vec::new();
    shingle_hashes(text, |h| {
        let h = mix(h);
        distinct.push(h);
        let bin = (h >> (64 - BIN_BITS)) as usize;
        let value = (h >> (64 - BIN_BITS - 32)) as u32;
        if let (Some(b), Some(f)) = (bins.get_mut(bin), filled.get_mut(bin)) {
            *b = (*b).min(value);
            *f = true;
        }
    });
    distinct.sort_unstable();
    distinct.dedup();
    let shingles = u32::try_from(distinct.len()).unwrap_or(u32::MAX);
    if shingles > 0 {
        let own = bins;
        for (i, slot) in bins.iter_mut().enumerate() {
            if filled[i] {
                continue;
            }
            // Probes reach a filled bin after NUM_HASHES / filled attempts on average; the
            // bound only guards against a probe sequence that never does (then the next
            // filled bin in order stands in, as deterministic).
            let mut found = None;
            for attempt in 1..=64 * NUM_HASHES as u64 {
                let j = probe(i, attempt);
                if filled[j] {
                    found = Some(j);
                    break;
                }
            }
            let j = found.or_else(|| {
                (1..NUM_HASHES)
                    .map(|d| (i + d) % NUM_HASHES)
                    .find(|&j| filled[j])
            });
            if let Some(j) = j {
                *slot = own[j];
            }
        }
    }
    Fingerprint {
        shingles,
        minhash: if shingles > 0 {
            bins.to_vec()
        } else {
            vec![u32::MAX; NUM_HASHES]
        },
    }
}

/// What the store keeps of a text's fingerprint: its stored form and its band ids; `None` for
/// an empty text, which has no fingerprint.
pub fn stored_form(text: &str) -> Option<(Vec<u8>, Vec<i64>)> {
    if text.is_empty() {
        return None;
    }
    let fp = fingerprint(text);
    Some((fp.to_bytes(), band_ids(&fp)))
}

/// The band ids of a stored fingerprint ([`Fingerprint::to_bytes`]); `None` when it is not of
/// the current format.
pub fn stored_band_ids(bytes: &[u8]) -> Option<Vec<i64>> {
    Fingerprint::from_bytes(bytes).map(|fp| band_ids(&fp))
}

/// Estimated Jaccard similarity of the two texts' shingle sets, 0.0–1.0.
pub fn similarity(a: &Fingerprint, b: &Fingerprint) -> f64 {
    if a.shingles == 0 || b.shingles == 0 || a.minhash.len() != b.minhash.len() {
        return 0.0;
    }
    let same = a
        .minhash
        .iter()
        .zip(&b.minhash)
        .filter(|(x, y)| x == y)
        .count();
    same as f64 / a.minhash.len() as f64
}

/// Estimated containment: shared shingles over the smaller text's shingles, 0.0–1.0.
pub fn containment(a: &Fingerprint, b: &Fingerprint) -> f64 {
    let j = similarity(a, b);
    let smaller = f64::from(a.shingles.min(b.shingles));
    if smaller == 0.0 {
        return 0.0;
    }
    let shared = j * f64::from(a.shingles + b.shingles) / (1.0 + j);
    (shared / smaller).min(1.0)
}

/// [`is_near_duplicate`] on two stored forms ([`Fingerprint::to_bytes`]) without decoding
/// them; `false` when either is not of the current format.
pub fn stored_near_duplicate(a: &[u8], b: &[u8]) -> bool {
    let (Some(sa), Some(sb)) = (stored_shingles(a), stored_shingles(b)) else {
        return false;
    };
    if sa == 0 || sb == 0 {
        return false;
    }
    let same = a[5..]
        .chunks_exact(4)
        .zip(b[5..].chunks_exact(4))
        .filter(|(x, y)| x == y)
        .count();
    let j = same as f64 / NUM_HASHES as f64;
    verdict(j, sa, sb)
}

/// The shingle count of a stored form of the current format.
fn stored_shingles(bytes: &[u8]) -> Option<u32> {
    if !Fingerprint::is_current(bytes) {
        return None;
    }
    Some(u32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?))
}

/// The near-duplicate verdict from an estimated Jaccard and the two shingle counts.
fn verdict(j: f64, a: u32, b: u32) -> bool {
    if a.min(b) < MIN_SHINGLES {
        return j >= 0.8;
    }
    let smaller = f64::from(a.min(b));
    let containment = (j * (f64::from(a) + f64::from(b)) / (1.0 + j) / smaller).min(1.0);
    j >= JACCARD_THRESHOLD || containment >= CONTAINMENT_THRESHOLD
}

/// Whether two texts are the same article: estimated Jaccard ≥ [`JACCARD_THRESHOLD`] or
/// containment ≥ [`CONTAINMENT_THRESHOLD`]. Texts shorter than [`MIN_SHINGLES`] must be
/// near-identical (Jaccard ≥ 0.8): a few shared phrases between teasers prove nothing.
pub fn is_near_duplicate(a: &Fingerprint, b: &Fingerprint) -> bool {
    if a.shingles == 0 || b.shingles == 0 {
        return false;
    }
    verdict(similarity(a, b), a.shingles, b.shingles)
}

/// LSH band keys of a fingerprint, e.g. `"07:9f3a1c2b4d5e6f"`: store them in an indexed
/// column; entries sharing any key are the candidates to check with [`is_near_duplicate`].
pub fn band_keys(fp: &Fingerprint) -> Vec<String> {
    band_hashes(fp)
        .enumerate()
        .map(|(i, h)| format!("{i:02}:{h:014x}"))
        .collect()
}

/// A 56-bit hash of each band's rows, mixed with the band's number; none for an empty text.
fn band_hashes(fp: &Fingerprint) -> impl Iterator<Item = u64> + '_ {
    let rows = if fp.shingles == 0 {
        &fp.minhash[..0]
    } else {
        &fp.minhash[..]
    };
    rows.chunks(BAND_ROWS).enumerate().map(|(band, rows)| {
        let mut h = mix(0x6261_6e64 ^ band as u64); // "band"
        for &r in rows {
            h = mix(h ^ u64::from(r));
        }
        h & 0x00ff_ffff_ffff_ffff
    })
}

/// The band keys as 32-bit integers for an indexed SQL column (SQLite stores them in 4 bytes):
/// the band's number in the top 6 bits, 26 bits of its hash below. Fingerprints sharing a band
/// key share the id; ids shared by chance (one in 2^26 per band and pair) only add a candidate
/// that [`is_near_duplicate`] then rejects.
pub fn band_ids(fp: &Fingerprint) -> Vec<i64> {
    band_hashes(fp)
        .enumerate()
        .map(|(i, h)| {
            let id = ((i as u32 & 0x3f) << 26) | (h as u32 & 0x03ff_ffff);
            // As a signed 32-bit value: the top band numbers must not need a wider integer.
            i64::from(id as i32)
        })
        .collect()
}

/// An in-memory index of fingerprints that assigns cluster ids: each new text joins the cluster
/// of the first near-duplicate already indexed, or starts its own. The store can do the same
/// with [`band_keys`] in SQL; this is the reference and the tool for batch jobs.
#[derive(Debug, Default)]
pub struct Index {
    entries: Vec<(u64, Fingerprint)>,
    bands: std::collections::HashMap<String, Vec<usize>>,
}

impl Index {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cluster id of the first indexed near-duplicate of `fp`, if any.
    pub fn find(&self, fp: &Fingerprint) -> Option<u64> {
        let mut seen = std::collections::HashSet::new();
        let mut candidates: Vec<usize> = band_keys(fp)
            .iter()
            .filter_map(|k| self.bands.get(k))
            .flatten()
            .copied()
            .filter(|i| seen.insert(*i))
            .collect();
        candidates.sort_unstable();
        candidates
            .into_iter()
            .find(|&i| is_near_duplicate(&self.entries[i].1, fp))
            .map(|i| self.entries[i].0)
    }

    /// Indexes `fp` under `id` (the entry's own id) and returns its cluster id: the cluster of
    /// an earlier near-duplicate, else `id` itself.
    pub fn insert(&mut self, id: u64, fp: Fingerprint) -> u64 {
        let cluster = self.find(&fp).unwrap_or(id);
        let slot = self.entries.len();
        for k in band_keys(&fp) {
            self.bands.entry(k).or_default().push(slot);
        }
        self.entries.push((cluster, fp));
        cluster
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED_MINHASH: [u32; 3] = [2_267_472_596, 2_267_472_596, 3_737_101_268];
    const PINNED_BANDS: [i64; 2] = [19_976_704, 109_392_223];

    const TEXT: &str = "The central bank of Uzbekistan cut its main interest rate by half a point to 13 percent on Thursday, \
        citing a steady slowdown in inflation and calmer food prices across the country. Annual inflation fell to 8.1 percent in May \
        from 9.6 percent at the start of the year, the bank said in a statement, and it expects to reach its target by the end of 2027.";

    #[test]
    fn identical_texts_are_duplicates_and_fingerprints_are_stable() {
        let a = fingerprint(TEXT);
        let b = fingerprint(&TEXT.to_uppercase());
        assert_eq!(similarity(&a, &b), 1.0);
        assert!(is_near_duplicate(&a, &b));
        assert_eq!(a.minhash.len(), NUM_HASHES);
        assert_eq!(band_keys(&a).len(), NUM_HASHES / BAND_ROWS);
        assert_eq!(band_ids(&a).len(), NUM_HASHES / BAND_ROWS);
        let ids = band_ids(&a);
        let unique: std::collections::HashSet<i64> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "band numbers keep ids apart");
        // Stored fingerprints must compare with new ones: the first value never changes.
        assert_eq!(
            fingerprint("one two three").minhash,
            fingerprint("One, two; three!").minhash
        );
    }

    #[test]
    fn fingerprint_values_never_change() {
        // Values computed by the first release of this version: stored fingerprints and band
        // ids must keep matching new ones, whatever the implementation does to go faster.
        let a = fingerprint(
            "The central bank of Uzbekistan cut its main interest rate by half a point",
        );
        assert_eq!(a.shingles, 12);
        assert_eq!(&a.minhash[..3], &PINNED_MINHASH);
        assert_eq!(&band_ids(&a)[..2], &PINNED_BANDS);
    }

    #[test]
    fn stored_forms_compare_as_their_fingerprints_do() {
        let texts = [
            TEXT.to_string(),
            TEXT.replace("Thursday", "Thursday morning"),
            TEXT[..120].to_string(),
            TEXT.split(". ").next().unwrap_or_default().to_string(),
            "Almaty opened a network of bicycle lanes on Wednesday.".to_string(),
            String::new(),
        ];
        let fps: Vec<Fingerprint> = texts.iter().map(|t| fingerprint(t)).collect();
        for a in &fps {
            for b in &fps {
                assert_eq!(
                    stored_near_duplicate(&a.to_bytes(), &b.to_bytes()),
                    is_near_duplicate(a, b)
                );
            }
        }
        assert!(stored_near_duplicate(
            &fps[0].to_bytes(),
            &fps[1].to_bytes()
        ));
        assert!(!stored_near_duplicate(&fps[0].to_bytes(), &[0u8; 1028]));
    }

    #[test]
    fn other_versions_do_not_compare() {
        let a = fingerprint(TEXT);
        let bytes = a.to_bytes();
        assert!(Fingerprint::is_current(&bytes));
        // Version 1: 4 + 8 × 128 bytes, no version byte.
        let v1 = vec![0u8; 4 + 8 * NUM_HASHES];
        assert!(!Fingerprint::is_current(&v1));
        assert_eq!(Fingerprint::from_bytes(&v1), None);
        let mut v3 = bytes.clone();
        v3[0] = FORMAT_VERSION + 1;
        assert_eq!(Fingerprint::from_bytes(&v3), None);
    }

    #[test]
    fn estimates_track_the_true_jaccard() {
        // Texts over one vocabulary with a known share of their shingles in common: the
        // estimate stays within sampling error of the truth (128 bins: σ ≤ 0.045).
        let words: Vec<String> = (0..4000).map(|i| format!("w{i}")).collect();
        for (shared, own) in [
            (300usize, 0usize),
            (200, 100),
            (100, 200),
            (40, 300),
            (0, 300),
        ] {
            let common = words[..shared].join(" ");
            let a = format!("{common} {}", words[1000..1000 + own].join(" "));
            let b = format!("{common} {}", words[2000..2000 + own].join(" "));
            let (fa, fb) = (fingerprint(&a), fingerprint(&b));
            let (sa, sb) = (f64::from(fa.shingles), f64::from(fb.shingles));
            // Shared shingles: the common run's, less the few that straddle its end.
            let inter = shared.saturating_sub(2) as f64;
            let truth = inter / (sa + sb - inter);
            let est = similarity(&fa, &fb);
            assert!(
                (est - truth).abs() < 0.15,
                "shared {shared}: estimate {est}, truth {truth}"
            );
        }
    }

    #[test]
    fn binary_form_round_trips() {
        let a = fingerprint(TEXT);
        let bytes = a.to_bytes();
        assert_eq!(bytes.len(), FINGERPRINT_BYTES);
        assert_eq!(Fingerprint::from_bytes(&bytes), Some(a));
        assert_eq!(Fingerprint::from_bytes(&bytes[1..]), None);
    }

    #[test]
    fn unrelated_and_empty_texts_are_not() {
        let a = fingerprint(TEXT);
        let b = fingerprint(
            "Almaty opened a network of bicycle lanes separated from car traffic on Wednesday, the first of its kind \
             in Kazakhstan. The lanes run along two avenues and connect the centre with the university district.",
        );
        assert!(similarity(&a, &b) < 0.05);
        assert!(!is_near_duplicate(&a, &b));
        let e = fingerprint("");
        assert_eq!(e.shingles, 0);
        assert_eq!(similarity(&e, &e), 0.0);
        assert!(band_keys(&e).is_empty());
    }

    #[test]
    fn index_clusters_copies() {
        let mut idx = Index::new();
        assert_eq!(idx.insert(1, fingerprint(TEXT)), 1);
        let copy = TEXT.replace("Thursday", "Thursday morning");
        assert_eq!(idx.insert(2, fingerprint(&copy)), 1);
        assert_eq!(
            idx.insert(
                3,
                fingerprint(
                    "Something else entirely, written about another matter in other words."
                )
            ),
            3
        );
    }
}
