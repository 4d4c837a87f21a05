//! What a feed document says about how often to poll it: RSS `<ttl>`, `<skipHours>`,
//! `<skipDays>` and the syndication module's `sy:updatePeriod` / `sy:updateFrequency`.
//!
//! feed-rs reads only `ttl`, so the channel header is scanned here with quick-xml; the scan stops
//! at the first item, so it costs little even on large feeds. The hints are stored with the feed,
//! because a 304 answer carries no document to read them from.

use std::collections::BTreeSet;
use std::time::Duration;

use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedHints {
    /// `<ttl>` minutes, as a duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
    /// Hours (0–23, GMT) in which the feed asks not to be polled.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub skip_hours: BTreeSet<u32>,
    /// Days (0 = Monday … 6 = Sunday) in which the feed asks not to be polled.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub skip_days: BTreeSet<u32>,
    /// `sy:updatePeriod` divided by `sy:updateFrequency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_every: Option<Duration>,
}

impl FeedHints {
    pub fn is_empty(&self) -> bool {
        *self == FeedHints::default()
    }

    /// The longest wait the document asks for.
    pub fn min_interval(&self) -> Option<Duration> {
        match (self.ttl, self.update_every) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

fn day_number(name: &str) -> Option<u32> {
    let n = name.trim().to_ascii_lowercase();
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .iter()
    .position(|d| *d == n)
    .and_then(|i| u32::try_from(i).ok())
}

fn period(name: &str) -> Option<Duration> {
    let hours = match name.trim().to_ascii_lowercase().as_str() {
        "hourly" => 1,
        "daily" => 24,
        "weekly" => 24 * 7,
        "monthly" => 24 * 30,
        "yearly" => 24 * 365,
        _ => return None,
    };
    Some(Duration::from_secs(hours * 3600))
}

/// Reads the polling hints of a feed document. Anything unreadable is simply absent.
pub fn read_hints(xml: &[u8]) -> FeedHints {
    let mut reader = quick_xml::Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut hints = FeedHints::default();
    let mut path: Vec<String> = Vec::new();
    let mut buf = Vec::new();
    let mut update_period: Option<Duration> = None;
    let mut update_frequency: Option<u32> = None;
    for _ in 0..100_000 {
        let event = match reader.read_event_into(&mut buf) {
            Ok(e) => e,
            Err(_) => break,
        };
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                if name == "item" || name == "entry" {
                    break;
                }
                path.push(name);
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t.xml10_content().trim().to_string();
                let last = path.last().map(String::as_str);
                let parent = path
                    .len()
                    .checked_sub(2)
                    .and_then(|i| path.get(i))
                    .map(String::as_str);
                match (parent, last) {
                    (_, Some("ttl")) => {
                        // Minutes; a value too large for seconds saturates (the scheduler caps
                        // every hint at `max_interval` anyway).
                        hints.ttl = text
                            .parse::<u64>()
                            .ok()
                            .map(|m| Duration::from_secs(m.saturating_mul(60)));
                    }
                    (Some("skiphours"), Some("hour")) => {
                        if let Ok(h) = text.parse::<u32>() {
                            // RSS 2.0 says 0–23; some feeds write 24 for midnight.
                            hints.skip_hours.insert(h % 24);
                        }
                    }
                    (Some("skipdays"), Some("day")) => {
                        if let Some(d) = day_number(&text) {
                            hints.skip_days.insert(d);
                        }
                    }
                    (_, Some("updateperiod")) => update_period = period(&text),
                    (_, Some("updatefrequency")) => update_frequency = text.parse().ok(),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if let Some(p) = update_period {
        let f = update_frequency.filter(|f| *f > 0).unwrap_or(1);
        hints.update_every = Some(p / f);
    }
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_feed_asks_for_hourly_updates() {
        let h = read_hints(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/novastan-war-in-ukraine.xml"
        )));
        assert_eq!(h.update_every, Some(Duration::from_secs(3600)));
        assert_eq!(h.ttl, None);
    }

    #[test]
    fn ttl_skip_hours_and_days() {
        let xml = br#"<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>
            <title>t</title><ttl>90</ttl>
            <skipHours><hour>0</hour><hour>1</hour><hour>24</hour><hour>x</hour></skipHours>
            <skipDays><day>Saturday</day><day>sunday</day><day>Funday</day></skipDays>
            <sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>
            <item><ttl>1</ttl></item></channel></rss>"#;
        let h = read_hints(xml);
        assert_eq!(h.ttl, Some(Duration::from_secs(90 * 60)));
        assert_eq!(h.skip_hours, BTreeSet::from([0, 1]));
        assert_eq!(h.skip_days, BTreeSet::from([5, 6]));
        assert_eq!(h.update_every, Some(Duration::from_secs(6 * 3600)));
        assert_eq!(h.min_interval(), Some(Duration::from_secs(6 * 3600)));
    }

    #[test]
    fn garbage_gives_no_hints() {
        assert!(read_hints(b"\x00\xff<<<").is_empty());
        assert!(read_hints(b"").is_empty());
    }
}
