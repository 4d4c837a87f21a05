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
//! Fingerprints and band keys are stable across runs, builds and platforms (FNV-1a of each
//! shingle, fixed permutation constants, SHA-256 of each band), so they can be stored in SQL and
//! compared later.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Words per shingle.
pub const SHINGLE_WORDS: usize = 3;
/// MinHash values per fingerprint.
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

/// The MinHash signature of a text and its number of distinct shingles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub shingles: u32,
    pub minhash: Vec<u64>,
}

impl Fingerprint {
    /// Compact binary form for a BLOB column: shingle count then the MinHash values, all
    /// little-endian (4 + 8 × [`NUM_HASHES`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 8 * self.minhash.len());
        out.extend_from_slice(&self.shingles.to_le_bytes());
        for v in &self.minhash {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads [`to_bytes`](Self::to_bytes)' form; `None` when the length is not that of a
    /// fingerprint.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 4 + 8 * NUM_HASHES {
            return None;
        }
        let (head, rest) = bytes.split_at(4);
        let shingles = u32::from_le_bytes(head.try_into().ok()?);
        let minhash = rest
            .chunks_exact(8)
            .map(|c| c.try_into().ok().map(u64::from_le_bytes))
            .collect::<Option<Vec<u64>>>()?;
        Some(Self { shingles, minhash })
    }
}

/// The text's words: lower-case runs of letters and digits, as ranges into one buffer (one
/// allocation per text rather than one per word). Markup must be gone already (normalized
/// text).
fn words(text: &str) -> (String, Vec<std::ops::Range<usize>>) {
    let mut buf = String::with_capacity(text.len());
    let mut ranges = Vec::new();
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        if w.is_empty() {
            continue;
        }
        let start = buf.len();
        if w.is_ascii() {
            buf.extend(w.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            buf.push_str(&w.to_lowercase());
        }
        ranges.push(start..buf.len());
    }
    (buf, ranges)
}

/// FNV-1a (64 bit) of the shingle's words separated by spaces: fixed by its specification, so
/// fingerprints stay comparable across versions, and far cheaper than a cryptographic hash on
/// the ingest path (hundreds of shingles per entry).
fn shingle_hash<'a>(words: impl Iterator<Item = &'a str>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for (i, w) in words.enumerate() {
        if i > 0 {
            h ^= u64::from(b' ');
            h = h.wrapping_mul(PRIME);
        }
        for &b in w.as_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    }
    h
}

/// Mersenne prime 2^61 − 1: the modulus of the permutations.
const P: u64 = (1 << 61) - 1;

fn mul_mod(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    let r = (r & u128::from(P)) + (r >> 61);
    let r = (r & u128::from(P)) + (r >> 61);
    // r < 2^61 + small; one conditional subtraction brings it below P.
    let r = r as u64;
    if r >= P { r - P } else { r }
}

/// Fixed permutation constants from a fixed seed (splitmix64), so fingerprints never change.
fn permutations() -> &'static [(u64, u64); NUM_HASHES] {
    static PERMS: std::sync::LazyLock<[(u64, u64); NUM_HASHES]> = std::sync::LazyLock::new(|| {
        let mut state: u64 = 0x6665_6564_636f_7270; // "feedcorp"
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut out = [(0, 0); NUM_HASHES];
        for slot in out.iter_mut() {
            *slot = ((next() % (P - 1)) + 1, next() % P);
        }
        out
    });
    &PERMS
}

/// MinHash fingerprint of a normalized text (paragraphs joined by blank lines, as stored).
pub fn fingerprint(text: &str) -> Fingerprint {
    let (buf, w) = words(text);
    let mut shingles: Vec<u64> = Vec::new();
    if !w.is_empty() {
        let k = SHINGLE_WORDS.min(w.len());
        shingles.reserve(w.len());
        for window in w.windows(k) {
            shingles.push(shingle_hash(window.iter().map(|r| &buf[r.clone()])) % P);
        }
        shingles.sort_unstable();
        shingles.dedup();
    }
    let mut minhash = [u64::MAX; NUM_HASHES];
    let perms = permutations();
    for &x in &shingles {
        for (m, &(a, b)) in minhash.iter_mut().zip(perms.iter()) {
            // (a·x + b) mod P; both terms are below P, so one subtraction replaces the
            // division a `%` would cost.
            let h = mul_mod(a, x) + b;
            let h = if h >= P { h - P } else { h };
            *m = (*m).min(h);
        }
    }
    Fingerprint {
        shingles: u32::try_from(shingles.len()).unwrap_or(u32::MAX),
        minhash: minhash.to_vec(),
    }
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

/// Whether two texts are the same article: estimated Jaccard ≥ [`JACCARD_THRESHOLD`] or
/// containment ≥ [`CONTAINMENT_THRESHOLD`]. Texts shorter than [`MIN_SHINGLES`] must be
/// near-identical (Jaccard ≥ 0.8): a few shared phrases between teasers prove nothing.
pub fn is_near_duplicate(a: &Fingerprint, b: &Fingerprint) -> bool {
    let j = similarity(a, b);
    if a.shingles.min(b.shingles) < MIN_SHINGLES {
        return j >= 0.8;
    }
    j >= JACCARD_THRESHOLD || containment(a, b) >= CONTAINMENT_THRESHOLD
}

/// LSH band keys of a fingerprint, e.g. `"07:9f3a1c2b4d5e6f70"`: store them in an indexed
/// column; entries sharing any key are the candidates to check with [`is_near_duplicate`].
pub fn band_keys(fp: &Fingerprint) -> Vec<String> {
    band_hashes(fp)
        .enumerate()
        .map(|(i, h)| format!("{i:02}:{}", hex::encode(h)))
        .collect()
}

/// The first 8 bytes of SHA-256 over each band's rows; none for an empty text.
fn band_hashes(fp: &Fingerprint) -> impl Iterator<Item = [u8; 8]> + '_ {
    let rows = if fp.shingles == 0 {
        &fp.minhash[..0]
    } else {
        &fp.minhash[..]
    };
    rows.chunks(BAND_ROWS).map(|rows| {
        let mut h = Sha256::new();
        for r in rows {
            h.update(r.to_le_bytes());
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&h.finalize()[..8]);
        b
    })
}

/// The band keys as integers (band number in the top byte, the band's hash below): a compact
/// key for an indexed SQL column. Two fingerprints share a band id exactly when they share the
/// band key.
pub fn band_ids(fp: &Fingerprint) -> Vec<i64> {
    band_hashes(fp)
        .enumerate()
        .map(|(i, h)| {
            let band = (i as u64 & 0x7f) << 56;
            (band | (u64::from_le_bytes(h) & 0x00ff_ffff_ffff_ffff)) as i64
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
        // Values computed by the first release: stored fingerprints and band ids must keep
        // matching new ones, whatever the implementation does to go faster.
        let a = fingerprint(
            "The central bank of Uzbekistan cut its main interest rate by half a point",
        );
        assert_eq!(a.shingles, 12);
        assert_eq!(
            &a.minhash[..3],
            &[162252771829647232, 8785078148458606, 45148395344026529]
        );
        assert_eq!(&band_ids(&a)[..2], &[15411039190082052, 75346410119179569]);
    }

    #[test]
    fn binary_form_round_trips() {
        let a = fingerprint(TEXT);
        let bytes = a.to_bytes();
        assert_eq!(bytes.len(), 4 + 8 * NUM_HASHES);
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
