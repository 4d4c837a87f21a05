//! Feed bytes → the project's own [`Entry`] values.
//!
//! feed-rs does the XML work, but it reads only clean RSS 2.0 and Atom 1.0 reliably, and every
//! feed we cannot read is a hole in the corpus. So the bytes go through two stages first:
//! [`decode`] turns them into UTF-8 from whatever encoding the evidence points to, and
//! [`rewrite`] maps old or odd dialects onto what feed-rs knows. A document that is not
//! well-formed is read a second time through the rewriter's lenient mode (the recovery pass) and
//! marked `recovered`.
//!
//! Around feed-rs this module fixes what matters for a corpus: ids feed-rs would invent are
//! refused (an invented UUID as dedup key would store the same article on every poll), dates keep
//! the offset the feed wrote (records carry the publisher's calendar date), and a panic anywhere
//! in parsing becomes an error for this one feed instead of taking the daemon down.

pub mod decode;
pub mod rewrite;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use feed_rs::model;

use crate::model::entry::{Body, Entry, dedup_key, disambiguate};
use rewrite::{Mode, RewriteError};

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not a feed: {0}")]
    Invalid(String),
    #[error("the feed parser crashed on this document: {0}")]
    Panicked(String),
}

/// What one fetch of a feed yields.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub site_url: Option<String>,
    /// `rss2`, `atom`, `json`, …
    pub format: String,
    /// The character encoding the document was read in (e.g. `UTF-8`, `windows-1251`).
    pub encoding: String,
    /// True when the document was not well-formed and was read through the recovery pass.
    pub recovered: bool,
    pub entries: Vec<Entry>,
}

type OffsetMap = HashMap<DateTime<Utc>, FixedOffset>;
type OffsetMemo = Arc<Mutex<OffsetMap>>;

/// Parses a feed document. `content_type` is the HTTP `Content-Type` header, when there was one
/// (its charset parameter informs decoding); `feed_url` anchors relative links and non-global
/// GUIDs.
pub fn parse_feed(
    bytes: &[u8],
    content_type: Option<&str>,
    feed_url: &str,
) -> Result<ParsedFeed, ParseError> {
    catch_unwind(AssertUnwindSafe(|| read(bytes, content_type, feed_url)))
        .unwrap_or_else(|panic| Err(ParseError::Panicked(panic_message(&*panic))))
}

/// Keeps the `max` newest entries (by publication, else update, date; undated ones after the
/// dated, in document order) and returns how many were left out. `max == 0` keeps all. The
/// entries kept stay in document order.
pub fn keep_newest(entries: &mut Vec<Entry>, max: usize) -> usize {
    if max == 0 || entries.len() <= max {
        return 0;
    }
    let mut order: Vec<usize> = (0..entries.len()).collect();
    // Stable: equal dates (and all undated entries) keep document order.
    order.sort_by(|&a, &b| {
        let date = |i: usize| entries.get(i).and_then(|e| e.published.or(e.updated));
        match (date(a), date(b)) {
            (Some(x), Some(y)) => y.cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    });
    let mut keep = vec![false; entries.len()];
    for &i in order.iter().take(max) {
        if let Some(k) = keep.get_mut(i) {
            *k = true;
        }
    }
    let before = entries.len();
    let mut flags = keep.into_iter();
    entries.retain(|_| flags.next().unwrap_or(false));
    before - entries.len()
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn read(
    bytes: &[u8],
    content_type: Option<&str>,
    feed_url: &str,
) -> Result<ParsedFeed, ParseError> {
    let decoded = decode::decode(bytes, content_type, feed_url);
    let encoding = decoded.encoding;
    let text = decoded.text;
    if text.trim_start().starts_with('{') {
        let json = lenient_json_feed(&text).unwrap_or(text);
        return convert(
            run_feed_rs(json.as_bytes(), feed_url)?,
            feed_url,
            encoding,
            false,
        );
    }
    let defect = match rewrite::rewrite(&text, Mode::Strict) {
        Ok(doc) => match run_feed_rs(doc.xml.as_bytes(), feed_url) {
            Ok(feed) => return convert(with_rdf_ids(feed, &doc), feed_url, encoding, false),
            Err(e) => e.to_string(),
        },
        Err(RewriteError::NoRoot) => {
            return Err(ParseError::Invalid("no root element".into()));
        }
        // Limits, not defects: the recovery pass would only hit them again.
        Err(e @ (RewriteError::EntityBudget(_) | RewriteError::TooDeep(_))) => {
            return Err(ParseError::Invalid(e.to_string()));
        }
        Err(e) => e.to_string(),
    };
    let doc = rewrite::rewrite(&text, Mode::Lenient)
        .map_err(|e| ParseError::Invalid(format!("{e} (first problem: {defect})")))?;
    let feed = match run_feed_rs(doc.xml.as_bytes(), feed_url) {
        Ok(feed) => with_rdf_ids(feed, &doc),
        Err(e) => salvage(&doc, feed_url).ok_or_else(|| {
            let e = match e {
                ParseError::Invalid(m) | ParseError::Panicked(m) => m,
            };
            ParseError::Invalid(format!("{e} (after recovery from: {defect})"))
        })?,
    };
    tracing::info!(
        feed = feed_url,
        repairs = doc.repairs,
        first = %defect,
        "feed read through the recovery pass"
    );
    convert(feed, feed_url, encoding, true)
}

/// RSS 1.0 items are identified by their `rdf:about` URI; feed-rs leaves their id empty. Applied
/// only when the parser kept exactly the items the rewriter counted, so no id can land on the
/// wrong item. It becomes the entry's `guid`, not its dedup key: RSS 1.0 entries stored before
/// were keyed by their link, and a new key would store each of them a second time.
fn with_rdf_ids(
    (mut feed, offsets): (model::Feed, OffsetMap),
    doc: &rewrite::Rewritten,
) -> (model::Feed, OffsetMap) {
    if feed.feed_type == model::FeedType::RSS1 && feed.entries.len() == doc.rdf_ids.len() {
        for (entry, about) in feed.entries.iter_mut().zip(&doc.rdf_ids) {
            // Only an absolute URI identifies anything (`urn:…`, `tag:…`, `https://…`).
            if let Some(about) = about
                .as_deref()
                .map(str::trim)
                .filter(|a| url::Url::parse(a).is_ok())
                && entry.id.trim().is_empty()
            {
                entry.id = about.to_string();
            }
        }
    }
    (feed, offsets)
}

/// A JSON Feed as feed-rs can take it. feed-rs rejects the whole feed for one field of the
/// wrong shape (an attachment without `mime_type`, a feed without `title`, a numeric `id`), so
/// missing required fields get their empty value, numbers and booleans where text belongs
/// become text, and what cannot be read (an attachment without a URL, a tag that is not text)
/// is dropped. `None` when the text is not JSON (feed-rs reports that).
fn lenient_json_feed(text: &str) -> Option<String> {
    use serde_json::{Map, Value};
    fn text_or_drop(map: &mut Map<String, Value>, key: &str) {
        match map.get(key) {
            None | Some(Value::String(_)) | Some(Value::Null) => {}
            Some(Value::Number(n)) => {
                let t = n.to_string();
                map.insert(key.into(), Value::String(t));
            }
            Some(Value::Bool(b)) => {
                let t = b.to_string();
                map.insert(key.into(), Value::String(t));
            }
            Some(_) => {
                map.remove(key);
            }
        }
    }
    /// `author` an object, `authors` a list of objects, each with text fields; else removed.
    fn authors(map: &mut Map<String, Value>) {
        let fix = |a: &mut Map<String, Value>| {
            text_or_drop(a, "name");
            text_or_drop(a, "url");
        };
        match map.get_mut("author") {
            Some(Value::Object(a)) => fix(a),
            Some(_) => {
                map.remove("author");
            }
            None => {}
        }
        match map.get_mut("authors") {
            Some(Value::Array(list)) => {
                list.retain(Value::is_object);
                list.iter_mut()
                    .filter_map(Value::as_object_mut)
                    .for_each(fix);
            }
            Some(_) => {
                map.remove("authors");
            }
            None => {}
        }
    }
    let mut value: Value = serde_json::from_str(text).ok()?;
    if let Value::Object(feed) = &mut value {
        for key in ["version", "title"] {
            text_or_drop(feed, key);
            if !matches!(feed.get(key), Some(Value::String(_))) {
                feed.insert(key.into(), Value::String(String::new()));
            }
        }
        for key in [
            "home_page_url",
            "feed_url",
            "language",
            "description",
            "icon",
            "favicon",
        ] {
            text_or_drop(feed, key);
        }
        authors(feed);
        if !matches!(feed.get("items"), Some(Value::Array(_))) {
            feed.insert("items".into(), Value::Array(Vec::new()));
        }
        if let Some(Value::Array(items)) = feed.get_mut("items") {
            items.retain(Value::is_object);
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                for key in [
                    "id",
                    "url",
                    "external_url",
                    "title",
                    "content_html",
                    "content_text",
                    "summary",
                    "date_published",
                    "date_modified",
                ] {
                    text_or_drop(item, key);
                }
                authors(item);
                if let Some(Value::Array(tags)) = item.get_mut("tags") {
                    tags.retain(Value::is_string);
                } else {
                    item.remove("tags");
                }
                if let Some(Value::Array(list)) = item.get_mut("attachments") {
                    list.retain(|a| a.get("url").is_some_and(Value::is_string));
                    for a in list.iter_mut().filter_map(Value::as_object_mut) {
                        if !a.get("mime_type").is_some_and(Value::is_string) {
                            a.insert("mime_type".into(), "application/octet-stream".into());
                        }
                        text_or_drop(a, "title");
                        if !a.get("size_in_bytes").is_some_and(Value::is_u64) {
                            a.remove("size_in_bytes");
                        }
                    }
                } else {
                    item.remove("attachments");
                }
            }
        }
    }
    pad_json_contacts(&mut value);
    serde_json::to_string(&value).ok()
}

/// JSON Feed author names go through the same e-mail splitting in feed-rs as RSS contacts
/// (see [`rewrite::pad_emails`]).
fn pad_json_contacts(value: &mut serde_json::Value) {
    fn walk(v: &mut serde_json::Value, in_author: bool) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    match (k.as_str(), child) {
                        ("name", serde_json::Value::String(s)) if in_author => {
                            *s = rewrite::pad_emails(s);
                        }
                        (k, child) => walk(child, matches!(k, "author" | "authors")),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    walk(item, in_author);
                }
            }
            _ => {}
        }
    }
    walk(value, false);
}

/// feed-rs fails a whole feed for one entry it dislikes. Reads the feed without entries, then
/// each entry on its own, and keeps every entry that reads. `None` when even the feed's own
/// elements do not read.
fn salvage(doc: &rewrite::Rewritten, feed_url: &str) -> Option<(model::Feed, OffsetMap)> {
    let first = doc.entries.first()?;
    let last = doc.entries.last()?;
    let head = doc.xml.get(..first.start)?;
    let tail = doc.xml.get(last.end..)?;
    let (mut feed, mut offsets) = run_feed_rs(format!("{head}{tail}").as_bytes(), feed_url).ok()?;
    for span in &doc.entries {
        let entry = doc.xml.get(span.clone())?;
        if let Ok((one, more)) = run_feed_rs(format!("{head}{entry}{tail}").as_bytes(), feed_url) {
            feed.entries.extend(one.entries);
            offsets.extend(more);
        }
    }
    Some((feed, offsets))
}

/// feed-rs with our id and date rules. Dates come back as UTC instants; the offsets they were
/// written with are returned alongside.
fn run_feed_rs(xml: &[u8], feed_url: &str) -> Result<(model::Feed, OffsetMap), ParseError> {
    // feed-rs hands dates to this closure as text and keeps only the UTC instant; remember the
    // offset each instant was written with so records can show the publisher's calendar day.
    let offsets: OffsetMemo = Arc::default();
    let memo = Arc::clone(&offsets);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url))
        // An empty id means "the feed gave none"; never let the parser make one up.
        .id_generator(|_, _, _| String::new())
        .timestamp_parser(move |text| {
            let d = parse_date(text)?;
            let utc = d.with_timezone(&Utc);
            if let Ok(mut m) = memo.lock() {
                m.insert(utc, *d.offset());
            }
            Some(utc)
        })
        .build();
    // A panic here costs this parse only: the caller falls back to recovery and salvage.
    let feed = catch_unwind(AssertUnwindSafe(|| parser.parse(xml)))
        .map_err(|panic| ParseError::Panicked(panic_message(&*panic)))?
        .map_err(|e| ParseError::Invalid(e.to_string()))?;
    let offsets = offsets.lock().map(|m| m.clone()).unwrap_or_default();
    Ok((feed, offsets))
}

fn convert(
    (feed, offsets): (model::Feed, OffsetMap),
    feed_url: &str,
    encoding: String,
    recovered: bool,
) -> Result<ParsedFeed, ParseError> {
    let utc = FixedOffset::east_opt(0).ok_or_else(|| ParseError::Invalid("zero offset".into()))?;
    let with_offset = |d: Option<DateTime<Utc>>| -> Option<DateTime<FixedOffset>> {
        d.map(|instant| {
            let off = offsets.get(&instant).copied().unwrap_or(utc);
            instant.with_timezone(&off)
        })
    };

    let rss1 = feed.feed_type == model::FeedType::RSS1;
    let mut entries: Vec<Entry> = feed
        .entries
        .into_iter()
        .map(|e| {
            let guid = Some(e.id.trim().to_string()).filter(|g| !g.is_empty());
            let url = pick_link(&e.links);
            let title = e.title.map(|t| t.content).filter(|t| !t.trim().is_empty());
            let published = with_offset(e.published);
            let updated = with_offset(e.updated);
            let key = dedup_key(
                feed_url,
                guid.as_deref().filter(|_| !rss1),
                url.as_deref(),
                title.as_deref(),
                published.as_ref().or(updated.as_ref()),
            );
            let author = people(&e.authors);
            let body = pick_body(e.content, e.summary);
            Entry {
                key,
                guid,
                url,
                title,
                author,
                published,
                updated,
                body,
            }
        })
        .collect();
    disambiguate(&mut entries);

    Ok(ParsedFeed {
        title: feed
            .title
            .map(|t| t.content)
            .filter(|t| !t.trim().is_empty()),
        site_url: pick_link(&feed.links),
        format: format!("{:?}", feed.feed_type).to_ascii_lowercase(),
        encoding,
        recovered,
        entries,
    })
}

/// The article's own page: the `alternate` link (or one without `rel`), else the first link.
fn pick_link(links: &[model::Link]) -> Option<String> {
    links
        .iter()
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .or_else(|| links.first())
        .map(|l| l.href.trim().to_string())
        .filter(|h| !h.is_empty())
}

fn people(list: &[model::Person]) -> Option<String> {
    let names: Vec<&str> = list
        .iter()
        .filter_map(|p| p.name.as_deref().map(str::trim))
        .filter(|n| !n.is_empty())
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

/// Full content when the feed carries it, else the summary.
fn pick_body(content: Option<model::Content>, summary: Option<model::Text>) -> Option<Body> {
    if let Some(c) = content
        && let Some(text) = c.body.filter(|b| !b.trim().is_empty())
    {
        let is_html = !is_plain(c.content_type.essence().to_string().as_str(), &text);
        return Some(Body { text, is_html });
    }
    summary
        .filter(|s| !s.content.trim().is_empty())
        .map(|s| Body {
            is_html: !is_plain(s.content_type.essence().to_string().as_str(), &s.content),
            text: s.content,
        })
}

/// RSS calls everything text/plain, yet descriptions are HTML in practice; only trust a
/// plain-text label when the text has no markup in it.
fn is_plain(mime: &str, text: &str) -> bool {
    mime == "text/plain" && !text.contains('<') && !text.contains('&')
}

/// Dates as feeds write them: RFC 3339, RFC 2822 and the usual near-misses of both.
pub fn parse_date(text: &str) -> Option<DateTime<FixedOffset>> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d);
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(t) {
        return Some(d);
    }
    // RFC 2822 with a full day or month name, or a trailing comment.
    let cleaned = t.replace(" UTC", " +0000").replace(" Z", " +0000");
    if let Ok(d) = DateTime::parse_from_rfc2822(&cleaned) {
        return Some(d);
    }
    // A weekday that does not match the date is a common slip; the date itself decides.
    if let Some((_, rest)) = cleaned.split_once(", ")
        && let Ok(d) = DateTime::parse_from_rfc2822(rest.trim())
    {
        return Some(d);
    }
    for fmt in [
        "%a, %d %B %Y %H:%M:%S %z",
        "%A, %d %B %Y %H:%M:%S %z",
        "%d %B %Y %H:%M:%S %z",
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(&cleaned, fmt) {
            return Some(d);
        }
    }
    let utc = FixedOffset::east_opt(0)?;
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return n.and_local_timezone(utc).single();
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0)?.and_local_timezone(utc).single();
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn keep_newest_keeps_the_newest_in_document_order() {
        let e = |key: &str, date: Option<&str>| Entry {
            key: key.into(),
            guid: None,
            url: None,
            title: None,
            author: None,
            published: date.map(|d| DateTime::parse_from_rfc3339(d).expect("date")),
            updated: None,
            body: None,
        };
        let keys = |v: &[Entry]| {
            v.iter()
                .map(|e| e.key.clone())
                .collect::<Vec<_>>()
                .join(",")
        };
        // (entries, max, kept, left out)
        let table: Vec<(Vec<Entry>, usize, &str, usize)> = vec![
            (vec![e("a", None), e("b", None), e("c", None)], 2, "a,b", 1),
            (
                vec![
                    e("old", Some("2026-01-01T00:00:00Z")),
                    e("new", Some("2026-03-01T00:00:00Z")),
                    e("mid", Some("2026-02-01T00:00:00Z")),
                ],
                2,
                "new,mid",
                1,
            ),
            (
                vec![e("u", None), e("d", Some("2026-01-01T00:00:00Z"))],
                1,
                "d",
                1,
            ),
            (vec![e("a", None), e("b", None)], 0, "a,b", 0),
            (vec![e("a", None), e("b", None)], 5, "a,b", 0),
        ];
        for (mut entries, max, kept, left) in table {
            assert_eq!(keep_newest(&mut entries, max), left);
            assert_eq!(keys(&entries), kept);
        }
    }

    use super::*;

    const SEED: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/novastan-war-in-ukraine.xml"
    ));
    const FEED_URL: &str = "https://novastan.org/en/tag/war-in-ukraine/feed/";

    #[test]
    fn seed_feed_has_seven_entries_with_guids_and_dates() {
        let feed = parse_feed(SEED, None, FEED_URL).expect("seed parses");
        assert_eq!(feed.entries.len(), 7);
        assert_eq!(feed.title.as_deref(), Some("War in Ukraine Archives"));
        let first = &feed.entries[0];
        assert_eq!(first.key, "https://novastan.org/en/?p=48744");
        assert_eq!(
            first.guid.as_deref(),
            Some("https://novastan.org/en/?p=48744")
        );
        assert_eq!(
            first.url.as_deref(),
            Some("https://novastan.org/en/kazakhstan/central-asian-prisoners-war-russia-ukraine/")
        );
        assert_eq!(first.author.as_deref(), Some("Emma Collet"));
        assert_eq!(
            first.published.map(|d| d.to_rfc3339()),
            Some("2026-06-15T18:23:24+00:00".to_string())
        );
        let body = first.body.as_ref().expect("content:encoded");
        assert!(body.is_html && body.text.contains("military prison in Lviv region"));
    }

    #[test]
    fn offset_written_by_the_feed_survives() {
        let xml = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
            <item><title>Late</title><link>https://e.org/a</link>
            <pubDate>Tue, 16 Jun 2026 01:30:00 +0500</pubDate></item></channel></rss>"#;
        let feed = parse_feed(xml, None, "https://e.org/feed").expect("parses");
        let e = &feed.entries[0];
        assert_eq!(e.record_date(Utc::now()), "2026-06-16");
        assert_eq!(
            e.published.map(|d| crate::model::entry::rfc3339_utc(&d)),
            Some("2026-06-15T20:30:00Z".to_string())
        );
    }

    #[test]
    fn entries_without_id_never_get_an_invented_key() {
        let xml = br#"<rss version="2.0"><channel><title>t</title>
            <item><title>No id, no link</title><description>x</description></item>
            </channel></rss>"#;
        let a = parse_feed(xml, None, "https://e.org/feed").expect("parses");
        let b = parse_feed(xml, None, "https://e.org/feed").expect("parses");
        assert_eq!(a.entries[0].guid, None);
        assert!(a.entries[0].key.starts_with("sha256:"));
        assert_eq!(
            a.entries[0].key, b.entries[0].key,
            "key is stable across parses"
        );
    }

    #[test]
    fn not_xml_is_an_error() {
        assert!(matches!(
            parse_feed(b"<html><body>nope</body></html>", None, "https://e.org/"),
            Err(ParseError::Invalid(_))
        ));
        assert!(parse_feed(b"", None, "https://e.org/").is_err());
    }

    #[test]
    fn date_forms() {
        for s in [
            "Mon, 15 Jun 2026 18:23:24 +0000",
            "Mon, 15 Jun 2026 18:23:24 GMT",
            "2026-06-15T18:23:24Z",
            "2026-06-15T18:23:24.5+00:00",
            "2026-06-15 18:23:24",
            "Monday, 15 June 2026 18:23:24 +0000",
            "Fri, 15 Jun 2026 18:23:24 +0000",
        ] {
            let d = parse_date(s).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(
                d.format("%Y-%m-%d %H:%M:%S").to_string(),
                "2026-06-15 18:23:24",
                "{s}"
            );
        }
        assert_eq!(
            parse_date("2026-06-15").map(|d| d.timestamp()),
            Some(1_781_481_600)
        );
        assert!(parse_date("yesterday").is_none());
    }
}
