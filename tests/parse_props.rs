//! Property tests of the parse layer: no input makes it panic, and damage to a document never
//! costs the entries that are still whole, nor changes their dedup keys.

mod feeds_support;

use feedcorpus::pipeline::parse::rewrite::strict_prefix;
use feedcorpus::pipeline::parse::{ParseError, parse_feed};
use feedcorpus::pipeline::text::quality::prepare;
use proptest::prelude::*;

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("text/xml; charset=windows-1251"),
    Some("application/rss+xml; charset=koi8-r"),
    Some("text/xml; charset=utf-16"),
    Some("text/xml; charset=cp437"),
    Some("text/html; charset=bogus"),
];

const FEED_URL: &str = "https://vesti.example.kg/rss";

/// Fragments that break XML in the ways real feeds do.
const DAMAGE: &[&str] = &[
    "&",
    "&nbsp;",
    "&eacute;",
    "&bogus;",
    "&#0;",
    "<br>",
    "</b>",
    "<",
    "<i>",
    "]]>",
    "<![CDATA[",
    "</item>",
    "<item>",
    "\u{0}",
    "\u{FEFF}",
    "&#xD800;",
    "<!--",
    "\"",
    "</channel>",
    "<itunes:category text='News'>",
    "<media:group>",
    "</rss>",
    "<entry>",
];

/// UTF-8 fixtures in the formats the recovery pass rewrites (RSS 2.0, RSS 1.0 and 0.90, Atom
/// 1.0 and 0.3), damaged by the property below.
const RECOVERY_FIXTURES: &[&str] = &[
    "version-2.00.xml",
    "rss1-items-without-link.xml",
    "rdf-without-namespace.xml",
    "rss090.xml",
    "atom03.xml",
    "markup-atom-unknown-type.xml",
    "rss2-itunes-unclosed-category.xml",
];

fn clean() -> String {
    let fx = feeds_support::FIXTURES
        .iter()
        .find(|f| f.file == "version-2.00.xml")
        .expect("fixture");
    String::from_utf8(fx.bytes()).expect("utf-8")
}

fn fixture_bytes() -> Vec<Vec<u8>> {
    feeds_support::FIXTURES.iter().map(|f| f.bytes()).collect()
}

/// Runs the document the way the worker does and fails on a contained panic.
fn survives(bytes: &[u8], content_type: Option<&str>) -> Result<(), TestCaseError> {
    match parse_feed(bytes, content_type, FEED_URL) {
        Ok(feed) => {
            let rows = prepare(
                &feed,
                chrono::Utc::now(),
                &mut feedcorpus::pipeline::text::quality::FeedQuality::none(),
            );
            prop_assert_eq!(rows.len(), feed.entries.len());
        }
        Err(ParseError::Panicked(msg)) => {
            return Err(TestCaseError::fail(format!("parser panicked: {msg}")));
        }
        Err(ParseError::Invalid(_)) => {}
    }
    Ok(())
}

proptest! {
    // 256 cases by default; PROPTEST_CASES asks for a deeper run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        ct in 0..CONTENT_TYPES.len(),
    ) {
        survives(&bytes, CONTENT_TYPES[ct])?;
    }

    #[test]
    fn damaged_fixtures_never_panic(
        which in 0..feeds_support::FIXTURES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0..DAMAGE.len() + 2), 1..6),
        ct in 0..CONTENT_TYPES.len(),
    ) {
        let mut bytes = fixture_bytes().swap_remove(which);
        for (at, what) in edits {
            let i = at.index(bytes.len() + 1);
            match what {
                w if w < DAMAGE.len() => {
                    bytes.splice(i..i, DAMAGE[w].bytes());
                }
                w if w == DAMAGE.len() => bytes.truncate(i),
                _ => {
                    let end = (i + 7).min(bytes.len());
                    bytes.drain(i..end);
                }
            }
        }
        survives(&bytes, CONTENT_TYPES[ct])?;
    }

    /// A document cut anywhere after its first item still gives every item that ended before
    /// the cut, with the same keys and titles as the whole document, and is marked recovered.
    #[test]
    fn truncation_keeps_every_whole_entry(cut in any::<prop::sample::Index>()) {
        let text = clean();
        let whole = parse_feed(text.as_bytes(), None, FEED_URL).expect("clean parses");
        let first_item = text.find("<item>").expect("items");
        let end_of_rss = text.rfind("</rss>").expect("end");
        let at = first_item + cut.index(end_of_rss - first_item);
        let bytes = &text.as_bytes()[..at];
        let whole_items = String::from_utf8_lossy(bytes).matches("</item>").count();
        let feed = parse_feed(bytes, None, FEED_URL).expect("a cut document still parses");
        prop_assert!(feed.recovered);
        prop_assert!(feed.entries.len() >= whole_items);
        for (got, want) in feed.entries.iter().zip(&whole.entries).take(whole_items) {
            prop_assert_eq!(&got.key, &want.key);
            prop_assert_eq!(&got.title, &want.title);
            prop_assert_eq!(got.published, want.published);
        }
    }

    /// Broken markup inside an entry's description is recovered without losing or re-keying
    /// any entry.
    #[test]
    fn broken_text_keeps_keys(item in 0usize..3, what in 0usize..9, offset in 0usize..20) {
        let damage = ["&", "&nbsp;", "&mdash;", "&bogus;", "<br>", "</b>", "<p>", "a < b", "<img src=x>"][what];
        let text = clean();
        let whole = parse_feed(text.as_bytes(), None, FEED_URL).expect("clean parses");
        let desc = text
            .match_indices("<description>&lt;p&gt;")
            .nth(item)
            .map(|(i, m)| i + m.len())
            .expect("item description");
        let body_len = text[desc..].find("&lt;/p&gt;").expect("end of body");
        let at = text[desc..desc + body_len]
            .char_indices()
            .map(|(i, _)| desc + i)
            .nth(offset % text[desc..desc + body_len].chars().count())
            .expect("a position");
        let mut broken = text.clone();
        broken.insert_str(at, damage);
        let feed = parse_feed(broken.as_bytes(), None, FEED_URL).expect("recovers");
        prop_assert!(feed.recovered);
        let keys: Vec<&str> = feed.entries.iter().map(|e| e.key.as_str()).collect();
        let want: Vec<&str> = whole.entries.iter().map(|e| e.key.as_str()).collect();
        prop_assert_eq!(keys, want);
        for (got, want) in feed.entries.iter().zip(&whole.entries) {
            prop_assert_eq!(&got.title, &want.title);
        }
    }

    /// Text elements read the same through the rewriter as plain feed-rs reads the well-formed
    /// source, however they are written: escaped, as CDATA (split where the text holds `]]>`),
    /// or both, with markup, references, `]]>` and line breaks in the text.
    #[test]
    fn text_elements_read_as_plain_feed_rs_reads_them(
        pieces in prop::collection::vec(("[<>&\\]a é\r\n\t;#x/p\"]{0,12}", 0usize..3), 1..6),
        title in "[<>&\\]a é;p/]{1,20}",
    ) {
        let escape = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let mut body = String::from("x");
        for (text, form) in &pieces {
            match form {
                0 => body.push_str(&escape(text)),
                1 => {
                    body.push_str("<![CDATA[");
                    body.push_str(&text.replace("]]>", "]]]]><![CDATA[>"));
                    body.push_str("]]>");
                }
                _ => body.push_str(&format!("&#{};{}", u32::from('<'), escape(text))),
            }
        }
        let doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>c</title>\
             <item><guid>g</guid><title>{}</title><description>{body}</description>\
             <content:encoded xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">{body}</content:encoded>\
             </item></channel></rss>",
            escape(&title)
        );
        let plain = feed_rs::parser::parse(doc.as_bytes()).expect("the source is well-formed");
        let want = &plain.entries[0];
        let feed = parse_feed(doc.as_bytes(), None, FEED_URL).expect("parses");
        prop_assert!(!feed.recovered);
        let got = &feed.entries[0];
        prop_assert_eq!(
            got.title.as_deref(),
            want.title.as_ref().map(|t| t.content.as_str()).filter(|t| !t.trim().is_empty())
        );
        let want_body = want.content.as_ref().and_then(|c| c.body.clone());
        prop_assert_eq!(got.body.as_ref().map(|b| b.text.clone()), want_body);
    }

    /// Whatever the damage and wherever it lands, the recovery pass ends with at least as many
    /// entries as the strict parse of the same document had read when it hit the defect.
    #[test]
    fn recovery_never_ends_with_fewer_entries(
        file in 0usize..RECOVERY_FIXTURES.len(),
        what in 0usize..DAMAGE.len(),
        at in any::<prop::sample::Index>(),
    ) {
        let fx = feeds_support::FIXTURES
            .iter()
            .find(|f| f.file == RECOVERY_FIXTURES[file])
            .expect("fixture");
        let mut text = String::from_utf8(fx.bytes()).expect("utf-8 fixture");
        let boundaries: Vec<usize> = (0..=text.len()).filter(|i| text.is_char_boundary(*i)).collect();
        let pos = boundaries[at.index(boundaries.len())];
        text.insert_str(pos, DAMAGE[what]);
        let around = &text[boundaries.iter().copied().rfind(|b| *b + 40 <= pos).unwrap_or(0)..];
        let around: String = around.chars().take(80).collect();
        if let Some(prefix) = strict_prefix(&text) {
            let before = parse_feed(prefix.as_bytes(), None, fx.feed_url).map_or(0, |f| f.entries.len());
            let found = parse_feed(text.as_bytes(), None, fx.feed_url).map_or(0, |f| f.entries.len());
            prop_assert!(
                found >= before,
                "{} with {:?} at {}: strict reading had {} entries, recovery {}: {:?}",
                fx.file, DAMAGE[what], pos, before, found, around
            );
        }
    }
}
