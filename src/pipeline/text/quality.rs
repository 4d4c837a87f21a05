//! The corpus text of an entry: normalized paragraphs, minus boilerplate, with its language and
//! near-duplicate fingerprint — from the feed, or from the article page when the feed carries
//! only a teaser.
//!
//! This is the normalize stage as the pipeline uses it; the pieces live in [`normalize`],
//! [`boilerplate`], [`lang`], [`neardup`] and [`extract`], each testable on its own.

use chrono::{DateTime, Utc};

use crate::config::{FullText, StripPattern};
use crate::model::entry::{Exclusion, NewEntry, TextSource};
use crate::model::entry::{rfc3339_utc, sha256_hex};
use crate::pipeline::parse::ParsedFeed;
use crate::pipeline::text::boilerplate::{
    BoilerplateModel, LineKeys, apply_strip_regexes, strip_boilerplate,
};
use crate::pipeline::text::extract::{Article, is_teaser, prefer_extracted};
use crate::pipeline::text::lang::{detect_language, language_allowed};
use crate::pipeline::text::neardup::{stored_form, stored_near_duplicate};
use crate::pipeline::text::normalize::normalize_entry;
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
        }
    }
}

fn clean(paragraphs: &mut Vec<String>, q: &FeedQuality<'_>, keys: &mut LineKeys) {
    strip_boilerplate(paragraphs);
    if let Some(m) = &q.model {
        m.strip_with(paragraphs, keys);
    }
    let patterns: Vec<regex::Regex> = q.strip.iter().map(|p| p.0.clone()).collect();
    apply_strip_regexes(paragraphs, &patterns);
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
pub fn prepare(
    feed: &ParsedFeed,
    fetched_at: DateTime<Utc>,
    q: &mut FeedQuality<'_>,
) -> Vec<NewEntry> {
    let repaired: Vec<_> = feed.entries.iter().map(repair::entry).collect();
    let normalized: Vec<_> = repaired.iter().map(|e| normalize_entry(e)).collect();
    let mut keys = LineKeys::default();
    if let Some(model) = q.model.as_deref_mut() {
        for n in &normalized {
            model.observe_with(&n.paragraphs, &mut keys);
        }
    }
    repaired
        .iter()
        .zip(normalized)
        .map(|(e, n)| {
            let mut paragraphs = n.paragraphs;
            clean(&mut paragraphs, q, &mut keys);
            let content_text = paragraphs.join("\n\n");
            let mut row = NewEntry {
                key: e.key.clone(),
                guid: e.guid.clone(),
                url: e.url.clone(),
                title: n.title,
                author: e.author.clone(),
                published: e.published.as_ref().map(rfc3339_utc),
                // feed-rs copies an RSS item's pubDate into `updated`; only a real update counts.
                updated: e
                    .updated
                    .filter(|u| Some(u) != e.published.as_ref())
                    .as_ref()
                    .map(rfc3339_utc),
                record_date: e.record_date(fetched_at),
                feed_hash: sha256_hex(&content_text),
                content_html: e
                    .body
                    .as_ref()
                    .filter(|b| b.is_html && q.keep_html)
                    .map(|b| b.text.clone()),
                content_text,
                content_hash: String::new(),
                feed_text: None,
                text_source: TextSource::Feed,
                language: None,
                fingerprint: None,
                bands: Vec::new(),
                excluded: None,
            };
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
        })
        .collect()
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
