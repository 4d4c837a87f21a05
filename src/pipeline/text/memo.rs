//! What a feed's last document made of each of its entries, kept with the feed's boilerplate
//! model, so an entry that comes again unchanged skips repair, normalization and cleaning: on a
//! feed that gained a few items, that is most of a poll's work.
//!
//! An entry is found by its source key: a hash of everything its feed text is made from (title
//! and body as the feed gives them, the feed's `strip` patterns, the model's word limit and the
//! program's version and build). Kept for it: the first 16 hex digits of its feed text's
//! SHA-256, the line keys the boilerplate model counted for it, and the model's verdict on each
//! line it judged when the text was made. The entry is taken as made only when the stored row
//! still has that feed-text hash and the model, as it is now, gives every judged line the same
//! verdict; the same source, the same rules and the same verdicts make the same text. Anything
//! else, and the entry is made again from its source.
//!
//! Pure data: no I/O. The memo is stored in `feed_boilerplate.model` with the model it belongs
//! to, and bounded by the document: each document's memo holds its own entries only.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::StripPattern;
use crate::model::entry::Entry;

/// Source key → what the feed's last document made of that entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntryMemo {
    /// Line keys, referred to by their index.
    #[serde(rename = "k", default)]
    keys: Vec<String>,
    #[serde(rename = "e", default)]
    entries: HashMap<String, Made>,
}

/// One entry's text as made: the feed-text hash, the lines counted, the lines judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Made {
    /// First 16 hex digits of the SHA-256 of the feed text.
    #[serde(rename = "h")]
    text: String,
    /// Indices of the line keys the model counted for the entry.
    #[serde(rename = "s", default)]
    seen: Vec<u32>,
    /// Indices of the line keys the model judged when stripping the entry.
    #[serde(rename = "t", default)]
    judged: Vec<u32>,
    /// The judged ones it called boilerplate.
    #[serde(rename = "d", default)]
    dropped: Vec<u32>,
}

/// An entry as the memo recalls it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recalled {
    /// First 16 hex digits of the feed text's SHA-256.
    pub text: String,
    /// The line keys the model counted for it.
    pub seen: Vec<String>,
    /// Each line key judged, with the verdict it got.
    pub judged: Vec<(String, bool)>,
}

impl Recalled {
    /// Whether the stored feed-text hash (full hex) is the one this text was made with.
    pub fn is_stored_as(&self, feed_hash: &str) -> bool {
        self.text.len() == 16 && feed_hash.get(..16) == Some(self.text.as_str())
    }
}

/// Digits of a feed-text hash the memo keeps.
fn short_hash(feed_hash: &str) -> String {
    feed_hash.get(..16).unwrap_or(feed_hash).to_string()
}

impl EntryMemo {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries the memo holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// What the memo holds for a source key; `None` also when the stored memo is damaged (an
    /// index out of range).
    pub fn recall(&self, source: &str) -> Option<Recalled> {
        let made = self.entries.get(source)?;
        let key = |i: &u32| {
            usize::try_from(*i)
                .ok()
                .and_then(|i| self.keys.get(i))
                .cloned()
        };
        let seen = made.seen.iter().map(key).collect::<Option<Vec<_>>>()?;
        let dropped: std::collections::HashSet<u32> = made.dropped.iter().copied().collect();
        let judged = made
            .judged
            .iter()
            .map(|i| Some((key(i)?, dropped.contains(i))))
            .collect::<Option<Vec<_>>>()?;
        Some(Recalled {
            text: made.text.clone(),
            seen,
            judged,
        })
    }
}

/// Builds the memo of one document, entry by entry.
#[derive(Default)]
pub struct MemoBuilder {
    memo: EntryMemo,
    index: HashMap<String, u32>,
}

impl MemoBuilder {
    fn index_of(&mut self, key: &str) -> u32 {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = u32::try_from(self.memo.keys.len()).unwrap_or(u32::MAX);
        self.memo.keys.push(key.to_string());
        self.index.insert(key.to_string(), i);
        i
    }

    /// Notes what an entry's source became: its feed-text hash, the line keys counted and the
    /// verdicts on the lines judged.
    pub fn add(
        &mut self,
        source: String,
        feed_hash: &str,
        seen: &[String],
        judged: &[(String, bool)],
    ) {
        let seen = seen.iter().map(|k| self.index_of(k)).collect();
        let mut tested = Vec::with_capacity(judged.len());
        let mut dropped = Vec::new();
        for (k, v) in judged {
            let i = self.index_of(k);
            tested.push(i);
            if *v {
                dropped.push(i);
            }
        }
        self.memo.entries.insert(
            source,
            Made {
                text: short_hash(feed_hash),
                seen,
                judged: tested,
                dropped,
            },
        );
    }

    /// Notes an entry recalled and taken as made.
    pub fn keep(&mut self, source: String, recalled: &Recalled) {
        self.add(source, &recalled.text, &recalled.seen, &recalled.judged);
    }

    pub fn finish(self) -> EntryMemo {
        self.memo
    }
}

/// What every source key of a feed's document starts from: the program's version and build,
/// the feed's `strip` patterns and the model's word limit (a change to any of them can change
/// the text made from the same source).
pub fn salt(strip: &[StripPattern], max_words: usize) -> Sha256 {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(env!("FEEDCORPUS_COMMIT").as_bytes());
    field(&(max_words as u64).to_le_bytes());
    for p in strip {
        field(p.0.as_str().as_bytes());
    }
    h
}

/// The source key of an entry (16 hex digits): the salt, then the title and body as the feed
/// gives them. Everything else of the entry (its key, link, dates, author) is not in its text.
pub fn source_key(salt: &Sha256, e: &Entry) -> String {
    let mut h = salt.clone();
    let mut field = |b: Option<&[u8]>| match b {
        None => h.update([0u8]),
        Some(b) => {
            h.update([1u8]);
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        }
    };
    field(e.title.as_deref().map(str::as_bytes));
    field(
        e.body
            .as_ref()
            .map(|b| if b.is_html { &b"html"[..] } else { b"text" }),
    );
    field(e.body.as_ref().map(|b| b.text.as_bytes()));
    let digest = h.finalize();
    hex::encode(digest.get(..8).unwrap_or(&digest[..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entry::Body;

    fn entry(title: Option<&str>, body: Option<(&str, bool)>) -> Entry {
        Entry {
            key: "k".into(),
            guid: None,
            url: None,
            title: title.map(str::to_string),
            author: None,
            published: None,
            updated: None,
            body: body.map(|(t, is_html)| Body {
                text: t.to_string(),
                is_html,
            }),
        }
    }

    #[test]
    fn source_keys_change_with_everything_the_text_is_made_from_and_nothing_else() {
        let salt0 = salt(&[], 40);
        let base = entry(Some("T"), Some(("<p>b</p>", true)));
        let k = source_key(&salt0, &base);
        assert_eq!(k.len(), 16);
        let mut other_key = base.clone();
        other_key.key = "other".into();
        other_key.author = Some("A".into());
        other_key.url = Some("https://e.org/x".into());
        assert_eq!(source_key(&salt0, &other_key), k, "key, author, link");
        let strip = vec![StripPattern(regex::Regex::new("^Photo:").expect("re"))];
        let differs = [
            (
                "title",
                source_key(&salt0, &entry(Some("U"), Some(("<p>b</p>", true)))),
            ),
            (
                "no title",
                source_key(&salt0, &entry(None, Some(("<p>b</p>", true)))),
            ),
            (
                "body",
                source_key(&salt0, &entry(Some("T"), Some(("<p>c</p>", true)))),
            ),
            (
                "plain",
                source_key(&salt0, &entry(Some("T"), Some(("<p>b</p>", false)))),
            ),
            ("no body", source_key(&salt0, &entry(Some("T"), None))),
            // The boundary between title and body is part of the key.
            (
                "moved",
                source_key(&salt0, &entry(Some("T<p>"), Some(("b</p>", true)))),
            ),
            ("strip", source_key(&salt(&strip, 40), &base)),
            ("words", source_key(&salt(&[], 41), &base)),
        ];
        for (what, other) in differs {
            assert_ne!(other, k, "{what}");
        }
    }

    #[test]
    fn a_memo_recalls_what_it_was_given_through_json_and_refuses_damage() {
        let mut b = MemoBuilder::default();
        let seen = vec![
            "aaaaaaaaaaaaaaaa".to_string(),
            "bbbbbbbbbbbbbbbb".to_string(),
        ];
        let judged = vec![
            ("bbbbbbbbbbbbbbbb".to_string(), true),
            ("cccccccccccccccc".to_string(), false),
        ];
        let hash = "0123456789abcdef0123456789abcdef";
        b.add("s1".into(), hash, &seen, &judged);
        b.add("s2".into(), "fedcba9876543210ff", &[], &[]);
        let memo = b.finish();
        let json = serde_json::to_string(&memo).expect("json");
        let back: EntryMemo = serde_json::from_str(&json).expect("back");
        assert_eq!(back, memo);
        let r = back.recall("s1").expect("s1");
        assert_eq!((r.seen.clone(), r.judged.clone()), (seen, judged));
        assert!(r.is_stored_as(hash));
        assert!(!r.is_stored_as("0123456789abcdee0123"));
        assert!(!r.is_stored_as("0123"));
        assert!(back.recall("s3").is_none());
        // A kept entry is recalled as it was.
        let mut again = MemoBuilder::default();
        again.keep("s1".into(), &r);
        assert_eq!(again.finish().recall("s1"), Some(r));
        // A hand-edited memo with an index out of range recalls nothing for that entry.
        let damaged = json.replace("\"s\":[0,1]", "\"s\":[0,7]");
        assert_ne!(damaged, json);
        let damaged: EntryMemo = serde_json::from_str(&damaged).expect("damaged");
        assert!(damaged.recall("s1").is_none());
        assert!(damaged.recall("s2").is_some());
    }
}
