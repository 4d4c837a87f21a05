//! Arbitrary bytes through parse → normalize → record preparation, as the worker runs them.
//! The first byte picks the HTTP Content-Type the document arrives with, so the charset paths
//! are reached too. Any panic (or sanitizer report) is a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/rss+xml"),
    Some("text/xml; charset=windows-1251"),
    Some("application/xml; charset=koi8-r"),
    Some("text/xml; charset=utf-16"),
    Some("text/xml; charset=cp850"),
    Some("application/atom+xml; charset=\"iso-8859-1\""),
    Some("text/html; charset=nonsense"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, doc)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    if let Ok(feed) = feedcorpus::pipeline::parse::parse_feed(doc, content_type, "https://fuzz.example.ru/feed") {
        let mut quality = feedcorpus::pipeline::text::quality::FeedQuality::none();
        let _ = feedcorpus::pipeline::text::quality::prepare(&feed, chrono::Utc::now(), &mut quality);
    }
});
