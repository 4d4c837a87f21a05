//! The project's own entry type and its dedup key.
//!
//! The key is what makes "never store an entry twice" true, so it must not depend on anything a
//! parser invents (feed-rs makes up a random UUID for entries without an id) and must stay the same
//! across fetches of the same document. The rules are a public interface, documented in README.md.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

/// One feed item as the feed gives it, before its HTML is normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The dedup key (see [`dedup_key`]).
    pub key: String,
    /// The GUID / Atom id exactly as the feed gives it.
    pub guid: Option<String>,
    /// The entry's link (absolute).
    pub url: Option<String>,
    /// The title as the feed gives it; may contain HTML markup or entities.
    pub title: Option<String>,
    pub author: Option<String>,
    /// Publication time in the offset the feed wrote.
    pub published: Option<DateTime<FixedOffset>>,
    pub updated: Option<DateTime<FixedOffset>>,
    /// The article body: full content when the feed has it, else the summary.
    pub body: Option<Body>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub text: String,
    /// False only when the feed says the body is plain text.
    pub is_html: bool,
}

impl Entry {
    /// The calendar date a record carries: publication date in the feed's own offset, else the
    /// update date, else the fetch date in UTC.
    pub fn record_date(&self, fetched_at: DateTime<Utc>) -> String {
        match self.published.or(self.updated) {
            Some(d) => d.format("%Y-%m-%d").to_string(),
            None => fetched_at.format("%Y-%m-%d").to_string(),
        }
    }
}

/// RFC 3339 in UTC, the form dates take in the database and in JSON.
pub fn rfc3339_utc(d: &DateTime<FixedOffset>) -> String {
    d.with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A GUID that is an absolute URI names the article everywhere, so it is a key on its own.
fn is_global_id(guid: &str) -> bool {
    let lower = guid.get(..8).unwrap_or(guid).to_ascii_lowercase();
    ["http://", "https://", "urn:", "tag:"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// The dedup key of an entry:
/// 1. the GUID when it is an absolute URI (`http(s):`, `urn:`, `tag:`);
/// 2. otherwise `<feed url> <guid>` (a bare GUID like "1234" is only unique inside its feed);
/// 3. without a GUID, the entry's link;
/// 4. without a link, `sha256:` + SHA-256 of feed URL, title and date.
pub fn dedup_key(
    feed_url: &str,
    guid: Option<&str>,
    link: Option<&str>,
    title: Option<&str>,
    date: Option<&DateTime<FixedOffset>>,
) -> String {
    if let Some(g) = guid.map(str::trim).filter(|g| !g.is_empty()) {
        if is_global_id(g) {
            return g.to_string();
        }
        return format!("{feed_url} {g}");
    }
    if let Some(l) = link.map(str::trim).filter(|l| !l.is_empty()) {
        return l.to_string();
    }
    let date = date.map(rfc3339_utc).unwrap_or_default();
    let digest = Sha256::digest(format!(
        "{feed_url}\n{}\n{date}",
        title.unwrap_or("").trim()
    ));
    format!("sha256:{}", hex::encode(digest))
}

/// First 16 hex digits of SHA-256 of the key: the hash part of a record's file name.
pub fn key_hash16(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    hex::encode(&digest[..8])
}

/// Hex SHA-256 of arbitrary text (content fingerprints).
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Makes keys unique inside one fetch. Feeds do repeat a GUID for different items; both are
/// kept, the later ones with a suffix derived from their own content so the suffix is the same on
/// every fetch. Exact repeats (same key, link, title, dates and body) are one entry and dropped.
pub fn disambiguate(entries: &mut Vec<Entry>) {
    use std::collections::HashMap;
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut keep = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        match first.get(&e.key) {
            None => {
                first.insert(e.key.clone(), i);
                keep.push(true);
            }
            Some(&j) => keep.push(entries[j] != *e),
        }
    }
    let mut i = 0;
    entries.retain(|_| {
        let k = keep[i];
        i += 1;
        k
    });
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for e in entries.iter_mut() {
        if seen.insert(e.key.clone()) {
            continue;
        }
        let fingerprint = sha256_hex(&format!(
            "{}\n{}\n{}\n{}",
            e.url.as_deref().unwrap_or(""),
            e.title.as_deref().unwrap_or(""),
            e.published.as_ref().map(rfc3339_utc).unwrap_or_default(),
            e.body.as_ref().map(|b| b.text.as_str()).unwrap_or("")
        ));
        let mut n = 12;
        let mut candidate = format!("{}#dup-{}", e.key, &fingerprint[..n]);
        while seen.contains(&candidate) && n < fingerprint.len() {
            n += 4;
            candidate = format!("{}#dup-{}", e.key, &fingerprint[..n.min(fingerprint.len())]);
        }
        seen.insert(candidate.clone());
        e.key = candidate;
    }
}

/// An entry ready to store: normalized, with its dedup key.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub key: String,
    pub guid: Option<String>,
    pub url: Option<String>,
    pub title: Option<String>,
    pub author: Option<String>,
    /// RFC 3339 UTC.
    pub published: Option<String>,
    pub updated: Option<String>,
    pub record_date: String,
    pub content_text: String,
    pub content_hash: String,
    /// The HTML the text was made from (kept so Markdown records keep their links).
    pub content_html: Option<String>,
    /// The feed's own text, when `content_text` comes from the article page.
    pub feed_text: Option<String>,
    /// SHA-256 of the feed's own text: a change means the entry was updated.
    pub feed_hash: String,
    pub text_source: TextSource,
    pub language: Option<String>,
    /// Near-duplicate fingerprint and its LSH band keys.
    pub fingerprint: Option<Vec<u8>>,
    pub bands: Vec<i64>,
    /// Why the entry gets no record, decided before storing.
    pub excluded: Option<Exclusion>,
    /// Known, and made from the same source as its stored text (the feed's entry memo): only
    /// its key, GUID, link, dates and feed-text hash are filled. The store links it and leaves
    /// its row alone; it is never inserted (a row gone since the poll read it is made again
    /// by the next poll).
    pub unchanged: bool,
}

/// Where an entry's text came from (`entries.text_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextSource {
    /// The feed's own content or summary.
    Feed,
    /// The article page (the feed carried a teaser).
    Page,
}

impl TextSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TextSource::Feed => "feed",
            TextSource::Page => "page",
        }
    }

    /// The column's word; anything else (a hand edit) reads as `feed`.
    pub fn from_column(s: &str) -> TextSource {
        if s == "page" {
            TextSource::Page
        } else {
            TextSource::Feed
        }
    }
}

/// Why an entry is stored but gets no record (`entries.excluded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// Its language is not among the feed's `languages`.
    Language,
    /// A later copy of a near-duplicate cluster (`skip_near_duplicates`).
    NearDuplicate,
    /// Its body has fewer words than `min_words`.
    Short,
}

impl Exclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Exclusion::Language => "language",
            Exclusion::NearDuplicate => "near-duplicate",
            Exclusion::Short => "short",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEED: &str = "https://example.org/feed/";

    #[test]
    fn key_rules_in_order() {
        assert_eq!(
            dedup_key(
                FEED,
                Some("https://novastan.org/en/?p=48744"),
                Some("https://x/a"),
                None,
                None
            ),
            "https://novastan.org/en/?p=48744"
        );
        assert_eq!(
            dedup_key(FEED, Some("tag:example.org,2026:1"), None, None, None),
            "tag:example.org,2026:1"
        );
        assert_eq!(
            dedup_key(FEED, Some("URN:uuid:1"), None, None, None),
            "URN:uuid:1"
        );
        assert_eq!(
            dedup_key(FEED, Some(" 1234 "), Some("https://x/a"), None, None),
            "https://example.org/feed/ 1234"
        );
        assert_eq!(
            dedup_key(FEED, None, Some("https://x/a"), Some("T"), None),
            "https://x/a"
        );
        let h1 = dedup_key(FEED, None, None, Some("Title"), None);
        let h2 = dedup_key(FEED, Some("  "), Some(""), Some("Title"), None);
        assert!(h1.starts_with("sha256:") && h1.len() == 7 + 64, "{h1}");
        assert_eq!(h1, h2, "empty guid/link count as absent");
        assert_ne!(
            h1,
            dedup_key("https://other/feed", None, None, Some("Title"), None)
        );
    }

    #[test]
    fn hash16_is_prefix_of_sha256() {
        assert_eq!(key_hash16("abc"), "ba7816bf8f01cfea");
    }

    fn entry(key: &str, title: &str) -> Entry {
        Entry {
            key: key.into(),
            guid: Some(key.into()),
            url: None,
            title: Some(title.into()),
            author: None,
            published: None,
            updated: None,
            body: None,
        }
    }

    #[test]
    fn same_guid_twice_keeps_both_with_stable_keys() {
        let mut a = vec![entry("k", "one"), entry("k", "two"), entry("x", "three")];
        disambiguate(&mut a);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].key, "k");
        assert!(a[1].key.starts_with("k#dup-"), "{}", a[1].key);
        let mut b = vec![entry("k", "one"), entry("k", "two")];
        disambiguate(&mut b);
        assert_eq!(
            a[1].key, b[1].key,
            "suffix is derived from content, not position"
        );
    }

    #[test]
    fn exact_repeat_is_one_entry() {
        let mut a = vec![entry("k", "one"), entry("k", "one")];
        disambiguate(&mut a);
        assert_eq!(a.len(), 1);
    }
}
