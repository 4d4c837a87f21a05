//! Property tests of the scheduling policy: whatever a server sends in its headers and whatever
//! a document says in its polling hints, reading them never panics and the next poll lands
//! between now and `max_interval` from now (or the feed's own, longer, cadence).

use std::time::Duration;

use chrono::{DateTime, Utc};
use feedcorpus::config::Feed;
use feedcorpus::pipeline::fetch::{cache_hints, retry_after};
use feedcorpus::pipeline::hints::read_hints;
use feedcorpus::schedule::{add, next_after_failure, next_after_success, retry_hold};
use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

fn feed(interval: Duration) -> Feed {
    Feed::plain(
        "f".into(),
        url::Url::parse("https://e.org/feed").expect("url"),
        interval,
    )
}

/// Header values as hostile servers write them: numbers of any size, signs, dates of any
/// year, garbage.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[0-9]{1,40}",
        (0u32..=9999, 0u32..=13, 0u32..=32).prop_map(|(y, m, d)| format!(
            "Fri, {d:02} {} {y:04} 23:59:59 GMT",
            [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
                "Xyz", "Dec"
            ][m as usize]
        )),
        any::<u64>().prop_map(|n| format!("max-age={n}, s-maxage={n}")),
        "[ -~]{0,40}",
    ]
}

/// Channel hints: `<ttl>`, `sy:updatePeriod`/`updateFrequency`, `skipHours`, `skipDays`.
fn hint_doc() -> impl Strategy<Value = String> {
    (
        header_value(),
        prop_oneof![
            Just("hourly".to_string()),
            Just("yearly".to_string()),
            "[a-z]{0,8}"
        ],
        header_value(),
        proptest::collection::vec(header_value(), 0..30),
        proptest::collection::vec("[A-Za-z]{0,10}", 0..8),
    )
        .prop_map(|(ttl, period, freq, hours, days)| {
            let hours: String = hours.iter().map(|h| format!("<hour>{h}</hour>")).collect();
            let days: String = days.iter().map(|d| format!("<day>{d}</day>")).collect();
            format!(
                "<rss version=\"2.0\" xmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\"><channel>\
                 <title>t</title><ttl>{ttl}</ttl><sy:updatePeriod>{period}</sy:updatePeriod>\
                 <sy:updateFrequency>{freq}</sy:updateFrequency><skipHours>{hours}</skipHours>\
                 <skipDays>{days}</skipDays></channel></rss>"
            )
        })
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(HeaderName::from_static(k), v);
        }
    }
    h
}

fn now_from(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("a time in range")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hints_and_headers_never_panic_and_stay_within_bounds(
        doc in hint_doc(),
        ra in header_value(),
        cc in header_value(),
        exp in header_value(),
        interval_s in 1u64..=7 * 24 * 3600,
        errors in any::<u32>(),
        jitter in any::<f64>(),
        now_s in 0i64..=4_102_444_800,
    ) {
        let now = now_from(now_s);
        let h = headers(&[("retry-after", &ra), ("cache-control", &cc), ("expires", &exp)]);
        let hints = read_hints(doc.as_bytes());
        let cache = cache_hints(&h);
        let retry = retry_after(&h, now);
        let interval = Duration::from_secs(interval_s);
        let f = feed(interval);

        let due = next_after_success(&f, interval, now, &hints, &cache, MAX_WAIT);
        let bound = add(now, interval.max(MAX_WAIT));
        prop_assert!(due.at >= now, "{} before {}", due.at, now);
        prop_assert!(due.at <= bound, "{} after {}", due.at, bound);

        let failed = next_after_failure(interval, errors, MAX_WAIT, retry, MAX_WAIT, now, jitter);
        prop_assert!(failed >= now);
        prop_assert!(failed <= add(now, MAX_WAIT), "{} after a day from {}", failed, now);
        if let Some(r) = retry {
            prop_assert!(retry_hold(r, MAX_WAIT) <= MAX_WAIT);
        }
    }
}
