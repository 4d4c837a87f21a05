//! The corpus text of an entry: normalized paragraphs, minus boilerplate, with its language and
//! near-duplicate fingerprint — from the feed, or from the article page when the feed carries
//! only a teaser.
//!
//! This is the normalize stage as the pipeline uses it; the pieces live in [`normalize`],
//! [`boilerplate`], [`lang`], [`neardup`] and [`extract`], each testable on its own.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::config::{FullText, StripPattern};
use crate::model::entry::{Entry, Exclusion, NewEntry, TextSource};
use crate::model::entry::{rfc3339_utc, sha256_hex};
use crate::pipeline::parse::ParsedFeed;
use crate::pipeline::text::boilerplate::{
    BoilerplateModel, LineKeys, apply_strip_regexes, strip_boilerplate,
};
use crate::pipeline::text::extract::{Article, is_teaser, prefer_extracted};
use crate::pipeline::text::lang::{detect_language, language_allowed};
use crate::pipeline::text::memo::{self, EntryMemo, MemoBuilder, Recalled};
use crate::pipeline::text::neardup::{stored_form, stored_near_duplicate};
use crate::pipeline::text::normalize::{Normalized, normalize_entry};
use crate::pipeline::text::repair;

/// A feed's quality settings and learned boilerplate.
pub struct FeedQuality<'a> {
    pub strip: &'a [StripPattern],
    pub languages: &'a [String],
    /// Fewer body words than this and the entry gets no record (0: every entry does).
    pub min_words: usize,
    pub model: Option<&'a mut BoilerplateModel>,
    /// Stored entries' feed-text hashes by key: an entry whose text hashes the same is
    /// unchanged, and skips language detection and fingerprinting (the store only links it).
    pub known: Option<&'a std::collections::HashMap<String, String>>,
    /// Entries keep the HTML their text was made from (`[corpus] keep_html`).
    pub keep_html: bool,
    /// Known entries the model's memo recalls as made from the same source are not made again
    /// (a poll of the feed; `inspect` and archive pages make every entry).
    pub reuse: bool,
}

impl FeedQuality<'_> {
    /// No filtering beyond the fixed rules (inspect, tests).
    pub fn none() -> FeedQuality<'static> {
        FeedQuality {
            strip: &[],
            languages: &[],
            min_words: 0,
            model: None,
            known: None,
            keep_html: true,
            reuse: false,
        }
    }
}

fn clean(paragraphs: &mut Vec<String>, q: &FeedQuality<'_>, keys: &mut LineKeys) {
    clean_judged(paragraphs, q, keys, false);
}

/// [`clean`], returning the model's verdicts on the lines it judged when `judge` is set (what
/// the entry memo keeps).
fn clean_judged(
    paragraphs: &mut Vec<String>,
    q: &FeedQuality<'_>,
    keys: &mut LineKeys,
    judge: bool,
) -> Vec<(String, bool)> {
    strip_boilerplate(paragraphs);
    let mut judged = Vec::new();
    if let Some(m) = &q.model {
        if judge {
            judged = m.verdicts(paragraphs, keys);
        }
        m.strip_with(paragraphs, keys);
    }
    let patterns: Vec<regex::Regex> = q.strip.iter().map(|p| p.0.clone()).collect();
    apply_strip_regexes(paragraphs, &patterns);
    judged
}

/// Words of the record's body: the text without its title paragraph.
fn body_words(entry: &NewEntry) -> usize {
    let mut paragraphs: Vec<&str> = entry.content_text.split("\n\n").collect();
    if entry
        .title
        .as_deref()
        .is_some_and(|t| paragraphs.first() == Some(&t))
    {
        paragraphs.remove(0);
    }
    crate::pipeline::text::extract::word_count(&paragraphs)
}

/// Fills text-derived fields: hash, language, fingerprint, and the exclusions they decide
/// (language, too short).
fn finish(entry: &mut NewEntry, q: &FeedQuality<'_>) {
    entry.content_hash = sha256_hex(&entry.content_text);
    entry.language = detect_language(&entry.content_text);
    entry.excluded = if !language_allowed(entry.language.as_deref(), q.languages) {
        Some(Exclusion::Language)
    } else if body_words(entry) < q.min_words {
        Some(Exclusion::Short)
    } else {
        None
    };
    (entry.fingerprint, entry.bands) = match stored_form(&entry.content_text) {
        Some((fp, bands)) => (Some(fp), bands),
        None => (None, Vec::new()),
    };
}

/// Normalizes parsed entries into rows ready to store. The feed's boilerplate model first learns
/// from every entry of the document, then strips them all.
///
/// With `q.reuse`, the model's [`EntryMemo`](crate::pipeline::text::memo::EntryMemo) tells which
/// known entries come again from the same source as their stored text and would be made the
/// same: those are counted by the model from their remembered line keys and come out
/// [`NewEntry::unchanged`], without being repaired, normalized or cleaned. The model leaves
/// with the memo of this document.
pub fn prepare(
    feed: &ParsedFeed,
    fetched_at: DateTime<Utc>,
    q: &mut FeedQuality<'_>,
) -> Vec<NewEntry> {
    let reuse = q.reuse && q.known.is_some() && q.model.is_some();
    let old = match (reuse, q.model.as_deref_mut()) {
        (true, Some(m)) => std::mem::take(&mut m.memo),
        _ => EntryMemo::default(),
    };
    let salt = memo::salt(
        q.strip,
        q.model.as_deref().map_or(0, |m| m.thresholds.max_words),
    );
    let mut keys = LineKeys::default();
    // Learning first: every entry counted, from its paragraphs or its remembered keys.
    let mut made: Vec<(Option<String>, Made<'_>)> = Vec::with_capacity(feed.entries.len());
    for e in &feed.entries {
        let source = reuse.then(|| memo::source_key(&salt, e));
        let recalled = source.as_deref().and_then(|s| old.recall(s)).filter(|r| {
            q.known
                .and_then(|k| k.get(&e.key))
                .is_some_and(|h| r.is_stored_as(h))
        });
        let m = match recalled {
            Some(r) => {
                if let Some(model) = q.model.as_deref_mut() {
                    model.observe_keys(&r.seen);
                }
                Made::Recalled(r)
            }
            None => {
                let (repaired, n) = made_again(e);
                let seen = match q.model.as_deref_mut() {
                    Some(model) => {
                        let seen = model.seen_keys(&n.paragraphs, &mut keys);
                        model.observe_keys(&seen);
                        seen
                    }
                    None => Vec::new(),
                };
                Made::Fresh(repaired, n, seen)
            }
        };
        made.push((source, m));
    }
    let mut memo = MemoBuilder::default();
    let rows =
        feed.entries
            .iter()
            .zip(made)
            .map(|(e, (source, m))| {
                let (repaired, n, seen) = match m {
                    Made::Recalled(r) => {
                        let same = q.model.as_deref().is_some_and(|model| {
                            r.judged.iter().all(|(k, v)| model.verdict(k) == *v)
                        });
                        if same {
                            if let Some(s) = source {
                                memo.keep(s, &r);
                            }
                            return unchanged_row(e, fetched_at, q);
                        }
                        let (repaired, n) = made_again(e);
                        (repaired, n, r.seen)
                    }
                    Made::Fresh(repaired, n, seen) => (repaired, n, seen),
                };
                made_row(&repaired, n, fetched_at, q, &mut keys, |hash, judged| {
                    if let Some(s) = source {
                        memo.add(s, hash, &seen, judged);
                    }
                })
            })
            .collect();
    if reuse && let Some(model) = q.model.as_deref_mut() {
        model.memo = memo.finish();
    }
    rows
}

/// An entry on its way through [`prepare`]: what the memo recalls of it, or its repaired
/// form, its paragraphs and the line keys the model counted.
enum Made<'a> {
    Recalled(Recalled),
    Fresh(Cow<'a, Entry>, Normalized, Vec<String>),
}

/// Repair and normalization: the costly steps a recalled entry skips.
fn made_again(e: &Entry) -> (Cow<'_, Entry>, Normalized) {
    let repaired = repair::entry(e);
    let n = normalize_entry(&repaired);
    (repaired, n)
}

/// A known entry taken as made: the store links it and leaves its row alone.
fn unchanged_row(e: &Entry, fetched_at: DateTime<Utc>, q: &FeedQuality<'_>) -> NewEntry {
    let hash = q
        .known
        .and_then(|k| k.get(&e.key))
        .cloned()
        .unwrap_or_default();
    NewEntry {
        content_hash: hash.clone(),
        feed_hash: hash,
        unchanged: true,
        ..bare_row(e, fetched_at)
    }
}

/// What every row of an entry holds, whatever its text: key, GUID, link and dates.
fn bare_row(e: &Entry, fetched_at: DateTime<Utc>) -> NewEntry {
    NewEntry {
        key: e.key.clone(),
        guid: e.guid.clone(),
        url: e.url.clone(),
        title: None,
        author: None,
        published: e.published.as_ref().map(rfc3339_utc),
        // feed-rs copies an RSS item's pubDate into `updated`; only a real update counts.
        updated: e
            .updated
            .filter(|u| Some(u) != e.published.as_ref())
            .as_ref()
            .map(rfc3339_utc),
        record_date: e.record_date(fetched_at),
        content_text: String::new(),
        content_hash: String::new(),
        content_html: None,
        feed_text: None,
        feed_hash: String::new(),
        text_source: TextSource::Feed,
        language: None,
        fingerprint: None,
        bands: Vec::new(),
        excluded: None,
        unchanged: false,
    }
}

/// The row of an entry made from its paragraphs; `made` is told the feed-text hash and the
/// model's verdicts on the lines it judged.
fn made_row(
    repaired: &Entry,
    n: Normalized,
    fetched_at: DateTime<Utc>,
    q: &FeedQuality<'_>,
    keys: &mut LineKeys,
    made: impl FnOnce(&str, &[(String, bool)]),
) -> NewEntry {
    let mut paragraphs = n.paragraphs;
    let judged = clean_judged(&mut paragraphs, q, keys, q.reuse);
    let content_text = paragraphs.join("\n\n");
    let mut row = NewEntry {
        title: n.title,
        author: repaired.author.clone(),
        feed_hash: sha256_hex(&content_text),
        content_html: repaired
            .body
            .as_ref()
            .filter(|b| b.is_html && q.keep_html)
            .map(|b| b.text.clone()),
        content_text,
        ..bare_row(repaired, fetched_at)
    };
    made(&row.feed_hash, &judged);
    let unchanged = q
        .known
        .and_then(|k| k.get(&row.key))
        .is_some_and(|h| *h == row.feed_hash);
    if unchanged {
        row.content_hash = row.feed_hash.clone();
    } else {
        finish(&mut row, q);
    }
    row
}

/// Whether to fetch the article page of an entry.
pub fn wants_page(mode: FullText, entry: &NewEntry) -> bool {
    if entry.url.is_none() {
        return false;
    }
    match mode {
        FullText::Never => false,
        FullText::Always => true,
        FullText::Auto => {
            let body: Vec<String> = entry
                .content_text
                .split("\n\n")
                .skip(1)
                .map(str::to_string)
                .collect();
            body.is_empty() || is_teaser(&body)
        }
    }
}

/// Uses the article page's text when it says more than the feed's. Returns whether it did.
pub fn use_page_text(entry: &mut NewEntry, article: Article, q: &FeedQuality<'_>) -> bool {
    let feed_paragraphs: Vec<String> = entry
        .content_text
        .split("\n\n")
        .map(str::to_string)
        .collect();
    let mut page: Vec<String> = article
        .paragraphs
        .iter()
        .map(|p| repair::mojibake(p).into_owned())
        .collect();
    if let Some(t) = &entry.title
        && page.first() != Some(t)
    {
        page.insert(0, t.clone());
    }
    clean(&mut page, q, &mut LineKeys::default());
    if !prefer_extracted(&feed_paragraphs, &page) {
        return false;
    }
    entry.feed_text = Some(std::mem::take(&mut entry.content_text));
    entry.content_text = page.join("\n\n");
    entry.content_html = q.keep_html.then(|| {
        page.iter()
            .skip(1)
            .map(|p| format!("<p>{}</p>", escape(p)))
            .collect::<String>()
    });
    entry.text_source = TextSource::Page;
    finish(entry, q);
    true
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Near-duplicate test on stored fingerprints.
pub fn near_duplicate(a: &[u8], b: &[u8]) -> bool {
    stored_near_duplicate(a, b)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::pipeline::parse::parse_feed;

    const SEED: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/novastan-war-in-ukraine.xml"
    ));

    #[test]
    fn known_entries_with_the_same_text_skip_the_costly_steps_and_changed_ones_do_not() {
        let feed = parse_feed(
            SEED,
            None,
            "https://novastan.org/en/tag/war-in-ukraine/feed/",
        )
        .expect("seed");
        let fresh = prepare(&feed, Utc::now(), &mut FeedQuality::none());
        let mut known: std::collections::HashMap<String, String> = fresh
            .iter()
            .map(|r| (r.key.clone(), r.feed_hash.clone()))
            .collect();
        // The first entry changed since it was stored.
        known.insert(fresh[0].key.clone(), "an older text's hash".into());
        let mut q = FeedQuality {
            known: Some(&known),
            ..FeedQuality::none()
        };
        let again = prepare(&feed, Utc::now(), &mut q);
        assert_eq!(again.len(), fresh.len());
        assert_eq!(again[0].fingerprint, fresh[0].fingerprint);
        assert_eq!(again[0].language, fresh[0].language);
        for (a, f) in again.iter().zip(&fresh).skip(1) {
            assert_eq!(a.content_text, f.content_text);
            assert_eq!(a.feed_hash, f.feed_hash);
            assert_eq!(a.content_hash, f.content_hash);
            assert_eq!((a.fingerprint.as_ref(), a.language.as_ref()), (None, None));
        }
    }

    /// One feed's documents over time: entries `from..from + 6`, a slogan under those from the
    /// fifth on. The model counts the slogan in a growing share of what it observes, until it
    /// calls it boilerplate while entries carrying it are known (step 9 of 12 in the test).
    fn evolving_document(from: usize) -> ParsedFeed {
        let items: String = (from..from + 6)
            .map(|i| {
                let slogan = if i >= 5 {
                    "<p>Support the Steppe Herald today</p>"
                } else {
                    ""
                };
                format!(
                    "<item><title>Story {i}</title><guid>g{i}</guid><description><![CDATA[\
                     <p>Paragraph one of story {i} about the river, the dam and the harvest in \
                     the valley, long enough to be prose.</p><p>Short line {i}</p>{slogan}]]>\
                     </description></item>"
                )
            })
            .collect();
        let xml = format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>");
        parse_feed(xml.as_bytes(), None, "https://e.org/feed").expect("feed")
    }

    #[test]
    fn recalled_entries_leave_the_store_and_the_model_as_making_them_again_would() {
        let strip = vec![StripPattern(
            regex::Regex::new("^Short line [24]$").expect("re"),
        )];
        // Each side: its model and the store's feed-text hash per key.
        let mut plain = (
            BoilerplateModel::default(),
            HashMap::<String, String>::new(),
        );
        let mut memo = (
            BoilerplateModel::default(),
            HashMap::<String, String>::new(),
        );
        let (mut recalled, mut remade) = (0, 0);
        // Steps 3 and 4 change the rules (the feed's `strip`, then back).
        let strip_steps = [3, 4];
        for step in 0..12 {
            let doc = evolving_document(step / 2);
            let strip: &[StripPattern] = if step == 3 { &strip } else { &[] };
            let run = |side: &mut (BoilerplateModel, HashMap<String, String>), reuse: bool| {
                let known = side.1.clone();
                let mut q = FeedQuality {
                    strip,
                    model: Some(&mut side.0),
                    known: Some(&known),
                    reuse,
                    ..FeedQuality::none()
                };
                let rows = prepare(&doc, Utc::now(), &mut q);
                for r in &rows {
                    // What the store keeps: a new or changed feed text replaces the old.
                    if !r.unchanged && !r.content_text.is_empty() {
                        side.1.insert(r.key.clone(), r.feed_hash.clone());
                    }
                }
                rows
            };
            let before = memo.1.clone();
            let a = run(&mut plain, false);
            let b = run(&mut memo, true);
            assert_eq!(
                plain.0.stats, memo.0.stats,
                "step {step}: the model learned the same"
            );
            assert_eq!(
                plain.1, memo.1,
                "step {step}: the store holds the same texts"
            );
            assert!(a.iter().all(|r| !r.unchanged));
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.key, y.key);
                assert_eq!(x.feed_hash, y.feed_hash, "step {step} {}", x.key);
                if y.unchanged {
                    recalled += 1;
                    assert_eq!(
                        x.content_hash, x.feed_hash,
                        "making it again finds it unchanged"
                    );
                    assert_eq!(
                        (y.published.as_ref(), &y.record_date),
                        (x.published.as_ref(), &x.record_date)
                    );
                } else {
                    assert_eq!(x.content_text, y.content_text, "step {step} {}", x.key);
                    if before.contains_key(&y.key) && !strip_steps.contains(&step) {
                        remade += 1;
                    }
                }
            }
            assert_eq!(
                memo.0.memo.len(),
                doc.entries.len(),
                "the memo holds this document"
            );
            assert!(plain.0.memo.is_empty());
        }
        assert!(recalled > 20, "entries were recalled: {recalled}");
        assert!(
            remade > 0,
            "entries whose verdicts or rules changed were made again"
        );
    }

    #[test]
    fn seed_entries_lose_donation_and_follow_lines_only() {
        let feed = parse_feed(
            SEED,
            None,
            "https://novastan.org/en/tag/war-in-ukraine/feed/",
        )
        .expect("seed");
        let rows = prepare(&feed, Utc::now(), &mut FeedQuality::none());
        assert_eq!(rows.len(), 7);
        for r in &rows {
            assert!(!r.content_text.contains("Faites un don"), "{}", r.key);
            assert!(!r.content_text.contains("follow us on"), "{}", r.key);
            assert_eq!(r.language.as_deref(), Some("en"));
            assert!(r.fingerprint.is_some() && !r.bands.is_empty());
            assert_eq!(r.excluded, None);
        }
        let q = FeedQuality {
            known: None,
            strip: &[],
            languages: &["ru".to_string()],
            min_words: 3,
            model: None,
            keep_html: true,
            reuse: false,
        };
        let mut q = q;
        let rows = prepare(&feed, Utc::now(), &mut q);
        assert!(rows.iter().all(|r| r.excluded == Some(Exclusion::Language)));
    }

    #[test]
    fn bodies_under_min_words_are_kept_out_of_the_corpus_only() {
        let item = |guid: &str, body: &str| {
            format!(
                "<item><title>A long enough title here</title><guid>{guid}</guid>\
                 <description>{body}</description></item>"
            )
        };
        let xml = format!(
            "<rss version=\"2.0\"><channel><title>t</title>{}{}{}{}</channel></rss>",
            item("a", "test"),
            item("b", "two words"),
            item("c", "three words here"),
            item("d", "")
        );
        let feed = parse_feed(xml.as_bytes(), None, "https://e.org/feed").expect("feed");
        // (min_words, exclusions of a, b, c, d)
        let short = Some(Exclusion::Short);
        let cases = [
            (3, [short, short, None, short]),
            (2, [short, None, None, short]),
            (0, [None, None, None, None]),
        ];
        for (min_words, want) in cases {
            let mut q = FeedQuality {
                min_words,
                ..FeedQuality::none()
            };
            let rows = prepare(&feed, Utc::now(), &mut q);
            let got: Vec<_> = rows.iter().map(|r| r.excluded).collect();
            assert_eq!(got, want, "min_words {min_words}");
            // The text is kept whatever the exclusion.
            assert_eq!(rows[0].content_text, "A long enough title here\n\ntest");
        }
    }

    #[test]
    fn teasers_want_the_page_and_full_texts_do_not() {
        let feed = parse_feed(SEED, None, "https://e.org/feed").expect("seed");
        let rows = prepare(&feed, Utc::now(), &mut FeedQuality::none());
        assert!(
            !wants_page(FullText::Auto, &rows[0]),
            "content:encoded is the full article"
        );
        assert!(wants_page(FullText::Always, &rows[0]));
        let mut teaser = rows[0].clone();
        teaser.content_text = "Title\n\nThe first lines of a story […]".into();
        assert!(wants_page(FullText::Auto, &teaser));
        assert!(!wants_page(FullText::Never, &teaser));
    }
}
