//! When a feed is next due: the pure policy behind the scheduler.
//!
//! Kept free of I/O and of the system clock so every rule — intervals and crontab schedules,
//! the waits servers ask for (ttl, skipHours/skipDays, sy:updatePeriod, Cache-Control, Expires,
//! Retry-After), error backoff, adaptive intervals and gap shortening — is tested with fixed
//! times. "Never poll sooner than the server asks" holds unless the feed pins its interval, and
//! "never later than `max_wait`" bounds whatever a server or a document asks for: a hint of a
//! thousand years is recorded, capped and logged, never an overflow or a feed parked for ever.
//! Every sum of a time and a duration here saturates; none can panic.

use std::time::Duration;

use chrono::{DateTime, Datelike, Duration as ChronoDuration, Timelike, Utc};

use crate::config::Feed;
use crate::pipeline::fetch::CacheHints;
use crate::pipeline::hints::FeedHints;

/// How long a 429 from one feed holds back the other feeds of its host, at most.
pub const HOST_BLOCK_CAP: Duration = Duration::from_secs(15 * 60);

/// The longest span any time computation here adds: far beyond every configured bound, far
/// below what `DateTime` can hold.
const MAX_SPAN: Duration = Duration::from_secs(100 * 366 * 24 * 3600);

/// `t + d`, saturating: never panics, whatever `d` is.
pub fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    ChronoDuration::from_std(d.min(MAX_SPAN))
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The feed's own cadence from `now`: its crontab schedule, else its interval.
pub fn base_next(feed: &Feed, interval: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    match &feed.schedule {
        Some(s) => s.next_after(now).unwrap_or_else(|| add(now, interval)),
        None => add(now, interval),
    }
}

/// When a feed is due next, and whether a server's or document's wait was longer than allowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Due {
    pub at: DateTime<Utc>,
    /// The wait the server or document asked for, when it was cut to `max_wait`.
    pub capped: Option<Duration>,
}

/// The longest wait a document's hints and a response's cache headers ask for, from `now`.
pub fn server_wait(hints: &FeedHints, cache: &CacheHints, now: DateTime<Utc>) -> Option<Duration> {
    let expires = cache
        .expires
        .and_then(|exp| (exp - now).to_std().ok())
        .filter(|d| !d.is_zero());
    [hints.min_interval(), cache.max_age, expires]
        .into_iter()
        .flatten()
        .max()
}

/// Next poll after a successful fetch (200 or 304). Server hints push it out, but never past
/// `now + max_wait` (or the feed's own cadence, if that is later).
pub fn next_after_success(
    feed: &Feed,
    interval: Duration,
    now: DateTime<Utc>,
    hints: &FeedHints,
    cache: &CacheHints,
    max_wait: Duration,
) -> Due {
    let base = base_next(feed, interval, now);
    if feed.pin_interval {
        return Due {
            at: base,
            capped: None,
        };
    }
    let wait = server_wait(hints, cache, now);
    let capped = wait.filter(|w| *w > max_wait);
    let mut next = base;
    if let Some(w) = wait {
        next = next.max(add(now, w.min(max_wait)));
    }
    let limit = base.max(add(now, max_wait));
    Due {
        at: skip_forbidden(next, hints).min(limit),
        capped,
    }
}

/// Moves `t` out of the hours and days the feed asks not to be polled (GMT, per RSS 2.0).
pub fn skip_forbidden(t: DateTime<Utc>, hints: &FeedHints) -> DateTime<Utc> {
    if hints.skip_hours.len() >= 24 || hints.skip_days.len() >= 7 {
        return t; // everything forbidden: a broken feed, not an instruction
    }
    let mut t = t;
    for _ in 0..(24 * 8) {
        let day_skipped = hints
            .skip_days
            .contains(&t.weekday().num_days_from_monday());
        let hour_skipped = hints.skip_hours.contains(&t.hour());
        if !day_skipped && !hour_skipped {
            return t;
        }
        let hour_start = t
            .with_minute(0)
            .and_then(|x| x.with_second(0))
            .and_then(|x| x.with_nanosecond(0))
            .unwrap_or(t);
        t = add(hour_start, Duration::from_secs(3600));
    }
    t
}

/// Next poll after a failure: exponential backoff from the feed's interval, with jitter, capped;
/// never sooner than `Retry-After`, which is itself capped at `max_wait`. `error_count` counts
/// this failure; `jitter` is in [0, 1).
pub fn next_after_failure(
    interval: Duration,
    error_count: u32,
    max_backoff: Duration,
    retry_after: Option<Duration>,
    max_wait: Duration,
    now: DateTime<Utc>,
    jitter: f64,
) -> DateTime<Utc> {
    let exp = error_count.saturating_sub(1).min(20);
    let raw = interval.saturating_mul(1u32 << exp).min(max_backoff);
    // Jitter in [0.75, 1.25) spreads retries of feeds that failed together.
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let backoff = Duration::try_from_secs_f64(raw.as_secs_f64() * (0.75 + jitter * 0.5))
        .unwrap_or(max_backoff)
        .min(max_backoff);
    let mut next = add(now, backoff);
    if let Some(ra) = retry_after {
        next = next.max(add(now, ra.min(max_wait)));
    }
    next
}

/// How long a `Retry-After` may hold a feed: what the server asked for, at most `max_wait`.
pub fn retry_hold(retry_after: Duration, max_wait: Duration) -> Duration {
    retry_after.min(max_wait)
}

/// Adaptive interval from publication times: half the mean gap between recent entries, so a
/// feed is polled about twice per new entry, within `[min, max]`. `None` without enough data.
pub fn adaptive_interval(
    published: &[DateTime<Utc>],
    min: Duration,
    max: Duration,
) -> Option<Duration> {
    let mut times: Vec<DateTime<Utc>> = published.to_vec();
    times.sort_unstable();
    times.dedup();
    let recent = &times[times.len().saturating_sub(20)..];
    if recent.len() < 3 {
        return None;
    }
    let span = (*recent.last()? - *recent.first()?).to_std().ok()?;
    let gaps = u32::try_from(recent.len() - 1).ok()?;
    Some((span / gaps / 2).clamp(min, max))
}

/// A fetch whose entries are all new while the feed is full — its oldest entry is newer than
/// our previous successful poll — may have missed entries that scrolled out in between.
pub fn gap_suspected(
    all_new: bool,
    entry_count: usize,
    oldest_published: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
) -> bool {
    match (oldest_published, last_success) {
        (Some(oldest), Some(last)) => all_new && entry_count > 0 && oldest > last,
        _ => false,
    }
}

/// After a suspected gap: poll twice as often, not below `min`.
pub fn shortened(interval: Duration, min: Duration) -> Duration {
    (interval / 2).max(min).min(interval)
}

/// First due time at start-up: a stored due time is kept (a server's Retry-After survives a
/// restart); otherwise now plus a spread of up to `jitter` (fraction `spread` in [0, 1)).
pub fn first_due(
    stored: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    jitter: Duration,
    interval: Duration,
    spread: f64,
) -> DateTime<Utc> {
    let spread = if spread.is_finite() {
        spread.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let offset = jitter.min(interval).mul_f64(spread);
    let fresh = add(now, offset);
    match stored {
        Some(t) if t > fresh => t,
        _ => fresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Schedule;
    use std::collections::BTreeSet;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("date")
            .with_timezone(&Utc)
    }

    fn feed() -> Feed {
        Feed {
            name: "f".into(),
            url: url::Url::parse("https://e.org/feed").expect("url"),
            interval: Duration::from_secs(600),
            schedule: None,
            pin_interval: false,
            adaptive: false,
            full_text: crate::config::FullText::Auto,
            strip: Vec::new(),
            languages: Vec::new(),
            min_words: 0,
            keep_html: false,
        }
    }

    const NOW: &str = "2026-06-15T10:00:00Z"; // a Monday
    const TEN_MIN: Duration = Duration::from_secs(600);
    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn interval_and_crontab() {
        let f = feed();
        let none = (FeedHints::default(), CacheHints::default());
        assert_eq!(
            next_after_success(&f, TEN_MIN, t(NOW), &none.0, &none.1, DAY).at,
            t("2026-06-15T10:10:00Z")
        );
        let mut f = feed();
        f.schedule = Some(Schedule::parse("0 */6 * * *").expect("cron"));
        assert_eq!(
            next_after_success(&f, TEN_MIN, t(NOW), &none.0, &none.1, DAY).at,
            t("2026-06-15T12:00:00Z")
        );
    }

    #[test]
    fn ttl_and_update_period_push_the_next_poll_out() {
        let f = feed();
        let hints = FeedHints {
            ttl: Some(Duration::from_secs(3600)),
            ..FeedHints::default()
        };
        let next = next_after_success(&f, TEN_MIN, t(NOW), &hints, &CacheHints::default(), DAY).at;
        assert_eq!(next, t("2026-06-15T11:00:00Z"));
        let hints = FeedHints {
            update_every: Some(Duration::from_secs(2 * 3600)),
            ..FeedHints::default()
        };
        let next = next_after_success(&f, TEN_MIN, t(NOW), &hints, &CacheHints::default(), DAY).at;
        assert_eq!(next, t("2026-06-15T12:00:00Z"));
    }

    #[test]
    fn cache_control_and_expires_push_the_next_poll_out() {
        let f = feed();
        let cache = CacheHints {
            max_age: Some(Duration::from_secs(1800)),
            expires: None,
        };
        assert_eq!(
            next_after_success(&f, TEN_MIN, t(NOW), &FeedHints::default(), &cache, DAY).at,
            t("2026-06-15T10:30:00Z")
        );
        let cache = CacheHints {
            max_age: None,
            expires: Some(t("2026-06-15T10:45:00Z")),
        };
        assert_eq!(
            next_after_success(&f, TEN_MIN, t(NOW), &FeedHints::default(), &cache, DAY).at,
            t("2026-06-15T10:45:00Z")
        );
        // A short max-age never makes us poll sooner than our own interval.
        let cache = CacheHints {
            max_age: Some(Duration::from_secs(60)),
            expires: None,
        };
        assert_eq!(
            next_after_success(&f, TEN_MIN, t(NOW), &FeedHints::default(), &cache, DAY).at,
            t("2026-06-15T10:10:00Z")
        );
    }

    #[test]
    fn skip_hours_and_days_move_the_poll_to_the_next_allowed_hour() {
        let f = feed();
        let hints = FeedHints {
            skip_hours: BTreeSet::from([10, 11, 12]),
            ..FeedHints::default()
        };
        assert_eq!(
            next_after_success(&f, TEN_MIN, t(NOW), &hints, &CacheHints::default(), DAY).at,
            t("2026-06-15T13:00:00Z")
        );
        let hints = FeedHints {
            skip_days: BTreeSet::from([0]), // Monday
            skip_hours: BTreeSet::from([0]),
            ..FeedHints::default()
        };
        assert_eq!(
            next_after_success(&f, TEN_MIN, t(NOW), &hints, &CacheHints::default(), DAY).at,
            t("2026-06-16T01:00:00Z")
        );
        let all = FeedHints {
            skip_hours: (0..24).collect(),
            ..FeedHints::default()
        };
        assert_eq!(
            skip_forbidden(t(NOW), &all),
            t(NOW),
            "an impossible request is ignored"
        );
    }

    #[test]
    fn server_waits_are_capped_at_max_wait() {
        let f = feed();
        let now = t(NOW);
        let day_later = t("2026-06-16T10:00:00Z");
        let huge = Duration::from_secs(u64::MAX);
        let far = DateTime::<Utc>::MAX_UTC;
        // (ttl, max-age, expires, expected due, capped)
        type Row = (
            Option<Duration>,
            Option<Duration>,
            Option<DateTime<Utc>>,
            DateTime<Utc>,
            bool,
        );
        let table: [Row; 6] = [
            (Some(huge), None, None, day_later, true),
            (None, Some(huge), None, day_later, true),
            (None, None, Some(far), day_later, true),
            (Some(huge), Some(huge), Some(far), day_later, true),
            (
                Some(Duration::from_secs(3600)),
                None,
                None,
                t("2026-06-15T11:00:00Z"),
                false,
            ),
            (None, Some(DAY), None, day_later, false),
        ];
        for (ttl, max_age, expires, want, capped) in table {
            let hints = FeedHints {
                ttl,
                ..FeedHints::default()
            };
            let cache = CacheHints { max_age, expires };
            let due = next_after_success(&f, TEN_MIN, now, &hints, &cache, DAY);
            assert_eq!(due.at, want, "{ttl:?} {max_age:?} {expires:?}");
            assert_eq!(
                due.capped.is_some(),
                capped,
                "{ttl:?} {max_age:?} {expires:?}"
            );
        }
        // Skip hours cannot push the poll past the cap either.
        let hints = FeedHints {
            ttl: Some(huge),
            skip_hours: (0..23).collect(),
            ..FeedHints::default()
        };
        let due = next_after_success(&f, TEN_MIN, now, &hints, &CacheHints::default(), DAY);
        assert!(due.at <= day_later, "{}", due.at);
        // A feed's own interval longer than the cap is the operator's choice and stays.
        let due = next_after_success(&f, 2 * DAY, now, &hints, &CacheHints::default(), DAY);
        assert_eq!(due.at, t("2026-06-17T10:00:00Z"));
    }

    #[test]
    fn retry_after_beyond_max_wait_and_huge_inputs_never_overflow() {
        let huge = Duration::from_secs(u64::MAX);
        let at = next_after_failure(TEN_MIN, u32::MAX, huge, Some(huge), DAY, t(NOW), f64::NAN);
        assert!(at <= add(t(NOW), huge));
        let at = next_after_failure(TEN_MIN, 1, DAY, Some(huge), DAY, t(NOW), 0.5);
        assert_eq!(at, t("2026-06-16T10:00:00Z"));
        assert_eq!(retry_hold(huge, DAY), DAY);
        assert_eq!(
            add(DateTime::<Utc>::MAX_UTC, huge),
            DateTime::<Utc>::MAX_UTC
        );
        let due = first_due(None, t(NOW), huge, huge, f64::INFINITY);
        assert!(due >= t(NOW));
    }

    #[test]
    fn a_pinned_interval_ignores_server_hints() {
        let mut f = feed();
        f.pin_interval = true;
        let hints = FeedHints {
            ttl: Some(Duration::from_secs(3600)),
            skip_hours: BTreeSet::from([10]),
            ..FeedHints::default()
        };
        assert_eq!(
            next_after_success(&f, TEN_MIN, t(NOW), &hints, &CacheHints::default(), DAY).at,
            t("2026-06-15T10:10:00Z")
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let cap = Duration::from_secs(24 * 3600);
        let at = |n| next_after_failure(TEN_MIN, n, cap, None, cap, t(NOW), 0.5);
        assert_eq!(at(1), t("2026-06-15T10:10:00Z"));
        assert_eq!(at(2), t("2026-06-15T10:20:00Z"));
        assert_eq!(at(3), t("2026-06-15T10:40:00Z"));
        assert_eq!(at(30), t("2026-06-16T10:00:00Z"));
        assert!(at(4) > at(3));
        // Jitter stays within ±25 %.
        let lo = next_after_failure(TEN_MIN, 1, cap, None, cap, t(NOW), 0.0);
        let hi = next_after_failure(TEN_MIN, 1, cap, None, cap, t(NOW), 0.999);
        assert_eq!(lo, t("2026-06-15T10:07:30Z"));
        assert!(hi < t("2026-06-15T10:12:30Z") && hi > t("2026-06-15T10:12:29Z"));
        // Retry-After is a floor.
        let ra = next_after_failure(
            Duration::from_secs(30),
            1,
            cap,
            Some(Duration::from_secs(120)),
            cap,
            t(NOW),
            0.5,
        );
        assert_eq!(ra, t("2026-06-15T10:02:00Z"));
    }

    #[test]
    fn adaptive_interval_follows_the_entry_rate() {
        let hourly: Vec<DateTime<Utc>> =
            (0..10).map(|h| t(NOW) - ChronoDuration::hours(h)).collect();
        let min = Duration::from_secs(300);
        let max = Duration::from_secs(86_400);
        assert_eq!(
            adaptive_interval(&hourly, min, max),
            Some(Duration::from_secs(1800))
        );
        let daily: Vec<DateTime<Utc>> = (0..10)
            .map(|d| t(NOW) - ChronoDuration::days(d * 4))
            .collect();
        assert_eq!(adaptive_interval(&daily, min, max), Some(max));
        assert_eq!(adaptive_interval(&hourly[..2], min, max), None);
    }

    #[test]
    fn gaps_and_first_due() {
        let last = Some(t("2026-06-15T09:00:00Z"));
        assert!(gap_suspected(
            true,
            10,
            Some(t("2026-06-15T09:30:00Z")),
            last
        ));
        assert!(!gap_suspected(
            false,
            10,
            Some(t("2026-06-15T09:30:00Z")),
            last
        ));
        assert!(!gap_suspected(
            true,
            10,
            Some(t("2026-06-15T08:30:00Z")),
            last
        ));
        assert!(!gap_suspected(
            true,
            10,
            Some(t("2026-06-15T09:30:00Z")),
            None
        ));
        assert_eq!(
            shortened(TEN_MIN, Duration::from_secs(400)),
            Duration::from_secs(400)
        );
        assert_eq!(
            shortened(TEN_MIN, Duration::from_secs(60)),
            Duration::from_secs(300)
        );

        let jitter = Duration::from_secs(60);
        assert_eq!(
            first_due(None, t(NOW), jitter, TEN_MIN, 0.5),
            t("2026-06-15T10:00:30Z")
        );
        let later = t("2026-06-15T11:00:00Z");
        assert_eq!(first_due(Some(later), t(NOW), jitter, TEN_MIN, 0.5), later);
        let earlier = t("2026-06-15T09:00:00Z");
        assert_eq!(
            first_due(Some(earlier), t(NOW), jitter, TEN_MIN, 0.0),
            t(NOW)
        );
    }
}
