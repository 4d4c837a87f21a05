//! Arbitrary header values and channel hints through the scheduling policy, as the writer runs
//! them: `Retry-After`, `Cache-Control` and `Expires` as a server sends them, `<ttl>`,
//! `sy:updatePeriod`/`updateFrequency` and `skipHours`/`skipDays` as a document writes them.
//! Any panic is a crash, and so is a due time outside [now, now + max(interval, max_wait)].

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

fuzz_target!(|data: &[u8]| {
    // Fields separated by NUL: three header values, then the channel hints.
    let mut parts = data.splitn(5, |b| *b == 0);
    let ra = parts.next().unwrap_or_default();
    let cc = parts.next().unwrap_or_default();
    let exp = parts.next().unwrap_or_default();
    let knobs = parts.next().unwrap_or_default();
    let hints_xml = parts.next().unwrap_or_default();
    let mut headers = HeaderMap::new();
    for (name, value) in [("retry-after", ra), ("cache-control", cc), ("expires", exp)] {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    let byte = |i: usize| u64::from(knobs.get(i).copied().unwrap_or(0));
    let interval = Duration::from_secs(1 + byte(0) * byte(1) * 60);
    let errors = u32::try_from(byte(2) * byte(3)).unwrap_or(u32::MAX);
    let now = chrono::DateTime::from_timestamp(i64::try_from(byte(4) << 24).unwrap_or(0), 0)
        .unwrap_or_default();
    let doc = format!(
        "<rss version=\"2.0\" xmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\"><channel><title>t</title>{}</channel></rss>",
        String::from_utf8_lossy(hints_xml)
    );
    let hints = feedcorpus::pipeline::hints::read_hints(doc.as_bytes());
    let cache = feedcorpus::pipeline::fetch::cache_hints(&headers);
    let retry = feedcorpus::pipeline::fetch::retry_after(&headers, now);
    let feed = feedcorpus::config::Feed {
        name: "f".into(),
        url: url::Url::parse("https://fuzz.example.org/feed").expect("a valid URL"),
        interval,
        schedule: None,
        pin_interval: false,
        adaptive: false,
        full_text: feedcorpus::config::FullText::Never,
        strip: Vec::new(),
        languages: Vec::new(),
    };
    let due = feedcorpus::schedule::next_after_success(&feed, interval, now, &hints, &cache, MAX_WAIT);
    let bound = feedcorpus::schedule::add(now, interval.max(MAX_WAIT));
    assert!(due.at >= now && due.at <= bound, "{} outside [{now}, {bound}]", due.at);
    let jitter = f64::from(knobs.get(5).copied().unwrap_or(0)) / 255.0;
    let failed = feedcorpus::schedule::next_after_failure(interval, errors, MAX_WAIT, retry, MAX_WAIT, now, jitter);
    assert!(failed >= now && failed <= feedcorpus::schedule::add(now, MAX_WAIT));
});
