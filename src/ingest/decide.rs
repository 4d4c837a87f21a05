//! What one fetch means for its feed: the row update to store, the entries to store, the report
//! for the scheduler (when the feed is due again, a host to hold back) and the events to log.
//!
//! A pure function of (fetch outcome, feed state, settings, the fetch's start time, a jitter
//! draw): no I/O, no clock, no logging, so every rule — adaptive intervals, gap detection,
//! backoff, Retry-After holds, 429 host holds, 410, permanent redirects, caps at
//! `max_interval` — is table-tested below. Each fetch task decides right after its fetch and
//! logs the [`Note`]s ([`super::notes`]); the writer only stores the [`Decision`]. The rules
//! themselves live in [`crate::schedule::policy`].

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ingest::report::{FeedReport, FeedResult};
use crate::model::entry::NewEntry;
use crate::model::feed::{FeedJob, FeedState, FeedStatus, FeedUpdate};
use crate::model::rfc3339;
use crate::pipeline::fetch::Redirect;
use crate::pipeline::fetch::host_of;
use crate::pipeline::hints::FeedHints;
use crate::pipeline::run::{Fetch, Outcome, Parsed, ResponseMeta, panic_text};
use crate::schedule;

/// The `[poll]` settings the decision uses.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub min_interval: Duration,
    pub max_interval: Duration,
    pub max_backoff: Duration,
}

impl From<&crate::config::Poll> for Settings {
    fn from(p: &crate::config::Poll) -> Settings {
        Settings {
            min_interval: p.min_interval,
            max_interval: p.max_interval,
            max_backoff: p.max_backoff,
        }
    }
}

/// Something the operator should read about this fetch (the writer logs it with the feed's
/// name and URL).
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    Skipped(String),
    /// 304 or the same bytes: `not_modified` or `unchanged`.
    Unchanged(&'static str),
    /// Every entry was new and older ones scrolled out: polling more often.
    Gap {
        entries: usize,
        interval: Duration,
    },
    /// The document is not well-formed XML and was read through recovery.
    Recovered,
    Failed {
        error: String,
        errors: u32,
    },
    /// 410: disabled until its URL changes.
    Gone,
    /// The server asked for this wait; capped at `max_interval`.
    Capped(Duration),
    /// Repeated permanent redirects: polling the new URL from now on.
    Moved(String),
}

/// What the writer does with one fetch.
#[derive(Debug)]
pub struct Decision {
    pub job: FeedJob,
    pub report: FeedReport,
    /// The feed row's new state; `None`: nothing to store (a skipped fetch).
    pub update: Option<FeedUpdate>,
    pub entries: Vec<NewEntry>,
    pub notes: Vec<Note>,
}

impl Decision {
    /// Entries the decision stores.
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }
}

/// [`decide`], with a panic costing that feed its fetch: it is decided as failed ("internal
/// error"), so its slot is freed and its next poll scheduled like any failure's.
pub fn decide_guarded(fetch: Fetch, settings: &Settings, jitter: f64) -> Decision {
    let (job, started_at) = (fetch.job.clone(), fetch.started_at);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decide(fetch, settings, jitter)
    }))
    .unwrap_or_else(|panic| {
        let error = format!("internal error: {}", panic_text(&*panic));
        decide(Fetch::failed(job, started_at, error), settings, jitter)
    })
}

/// Decides on one fetch. `jitter` in [0, 1) spreads retries of failing feeds.
pub fn decide(fetch: Fetch, settings: &Settings, jitter: f64) -> Decision {
    let Fetch {
        job,
        started_at: now,
        state,
        outcome,
        response,
    } = fetch;
    let mut d = Decision {
        report: FeedReport {
            feed_id: job.id,
            name: job.name.clone(),
            url: job.url.to_string(),
            result: FeedResult::NotModified,
            next_poll: None,
            host_block: None,
            duration: response.as_ref().map(|r| r.elapsed),
        },
        job,
        update: None,
        entries: Vec::new(),
        notes: Vec::new(),
    };
    let mut update = FeedUpdate {
        fetched_at: Some(now),
        duration_ms: response
            .as_ref()
            .and_then(|r| i64::try_from(r.elapsed.as_millis()).ok()),
        ..FeedUpdate::default()
    };
    if let Some(r) = &response
        && let Some(moved) = redirects(&state, r, &mut update)
    {
        d.notes.push(Note::Moved(moved));
    }
    let cx = Cx {
        settings,
        now,
        state: &state,
        response: response.as_ref(),
        interval: interval_in_force(&state, d.job.cfg.interval),
    };
    let next = match outcome {
        Outcome::Skipped(reason) => {
            d.report.next_poll = skipped_until(&cx);
            d.notes.push(Note::Skipped(reason.clone()));
            d.report.result = FeedResult::Skipped(reason);
            return d;
        }
        Outcome::NotModified => unchanged(&cx, &mut d, &mut update, true),
        Outcome::Unchanged => unchanged(&cx, &mut d, &mut update, false),
        Outcome::Parsed(p) => parsed(&cx, &mut d, &mut update, *p),
        Outcome::Failed {
            error,
            http_status,
            retry_after,
        } => failed(
            &cx,
            &mut d,
            &mut update,
            error,
            http_status,
            retry_after,
            jitter,
        ),
    };
    if let Some(next) = next {
        update.next_poll_at = Some(next);
        d.report.next_poll = Some(next);
    }
    d.update = Some(update);
    d
}

/// What every outcome's rule reads.
struct Cx<'a> {
    settings: &'a Settings,
    now: DateTime<Utc>,
    state: &'a FeedState,
    response: Option<&'a ResponseMeta>,
    /// The interval in force before this fetch.
    interval: Duration,
}

/// The interval in force: the stored one (adaptive mode and gap shortening move it), else the
/// configured one.
fn interval_in_force(state: &FeedState, configured: Duration) -> Duration {
    state
        .interval_secs
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(configured)
}

/// A skipped feed is due when its hold ends (capped), or after its interval; never once disabled.
fn skipped_until(cx: &Cx<'_>) -> Option<DateTime<Utc>> {
    if cx.state.disabled_reason.is_some() {
        return None;
    }
    cx.state
        .retry_until
        .map(|t| t.min(schedule::add(cx.now, cx.settings.max_interval)))
        .or(Some(schedule::add(cx.now, cx.interval)))
}

fn validators(r: Option<&ResponseMeta>) -> Option<(Option<String>, Option<String>)> {
    r.map(|r| {
        (
            r.validators.etag.clone(),
            r.validators.last_modified.clone(),
        )
    })
}

/// 304, or 200 with the bytes of last time.
fn unchanged(
    cx: &Cx<'_>,
    d: &mut Decision,
    update: &mut FeedUpdate,
    not_modified: bool,
) -> Option<DateTime<Utc>> {
    let cfg = &d.job.cfg;
    let status = if not_modified {
        FeedStatus::NotModified
    } else {
        FeedStatus::Unchanged
    };
    update.status = status;
    update.http_status = Some(if not_modified { 304 } else { 200 });
    if !not_modified {
        update.validators = validators(cx.response);
    }
    let interval = if cfg.adaptive {
        cx.interval
    } else {
        cfg.interval
    };
    update.interval_secs = i64::try_from(interval.as_secs()).ok();
    d.report.result = if not_modified {
        FeedResult::NotModified
    } else {
        FeedResult::Unchanged
    };
    d.notes.push(Note::Unchanged(status.as_str()));
    let stored_hints: FeedHints = cx
        .state
        .hints
        .as_deref()
        .and_then(|h| serde_json::from_str(h).ok())
        .unwrap_or_default();
    Some(due_after_success(cx, d, interval, &stored_hints))
}

/// A document that was read: its entries go to the store, its dates move an adaptive interval.
fn parsed(
    cx: &Cx<'_>,
    d: &mut Decision,
    update: &mut FeedUpdate,
    p: Parsed,
) -> Option<DateTime<Utc>> {
    let cfg = &d.job.cfg;
    d.report.host_block = p.page_hold;
    let last_success = cx.state.last_success_at;
    let gap = schedule::gap_suspected(
        p.known == 0,
        p.entries.len(),
        p.published.iter().min().copied(),
        last_success,
    );
    let mut interval = if cfg.adaptive {
        schedule::adaptive_interval(
            &p.published,
            cx.settings.min_interval,
            cx.settings.max_interval,
        )
        .unwrap_or(cx.interval)
    } else {
        cfg.interval
    };
    if gap {
        interval = schedule::shortened(interval, cx.settings.min_interval);
        d.notes.push(Note::Gap {
            entries: p.entries.len(),
            interval,
        });
    }
    if p.recovered {
        d.notes.push(Note::Recovered);
    }
    update.status = FeedStatus::Ok;
    update.http_status = p.info.http_status;
    update.validators = validators(cx.response);
    update.body_hash = Some(p.body_hash);
    update.hints = serde_json::to_string(&p.hints).ok();
    update.interval_secs = i64::try_from(interval.as_secs()).ok();
    update.gap = gap;
    update.recovered = p.recovered;
    update.boilerplate = p.boilerplate;
    update.info = Some(p.info);
    d.entries = p.entries;
    Some(due_after_success(cx, d, interval, &p.hints))
}

/// When a feed that answered is due again: its interval, the document's and the response's
/// hints, capped at `max_interval` (a capped wait is noted).
fn due_after_success(
    cx: &Cx<'_>,
    d: &mut Decision,
    interval: Duration,
    hints: &FeedHints,
) -> DateTime<Utc> {
    let cache = cx.response.map(|r| r.cache.clone()).unwrap_or_default();
    let due = schedule::next_after_success(
        &d.job.cfg,
        interval,
        cx.now,
        hints,
        &cache,
        cx.settings.max_interval,
    );
    d.notes.extend(due.capped.map(Note::Capped));
    due.at
}

/// A failed fetch: backoff, a Retry-After hold, a host hold on 429, disabling on 410.
fn failed(
    cx: &Cx<'_>,
    d: &mut Decision,
    update: &mut FeedUpdate,
    error: String,
    http_status: Option<u16>,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Option<DateTime<Utc>> {
    let errors = u32::try_from(cx.state.error_count.saturating_add(1)).unwrap_or(u32::MAX);
    update.status = FeedStatus::Error;
    update.http_status = http_status;
    update.error = Some(error.clone());
    d.report.result = FeedResult::Failed(error.clone());
    if let Some(ra) = retry_after {
        let hold = schedule::retry_hold(ra, cx.settings.max_interval);
        if hold < ra {
            d.notes.push(Note::Capped(ra));
        }
        update.retry_until = Some(schedule::add(cx.now, hold));
    }
    if http_status == Some(429) {
        let hold = retry_after
            .unwrap_or(Duration::from_secs(60))
            .min(schedule::HOST_BLOCK_CAP);
        d.report.host_block = Some((host_of(&d.job.url), schedule::add(cx.now, hold)));
    }
    if http_status == Some(410) {
        update.status = FeedStatus::Gone;
        update.disabled_reason = Some(format!("410 Gone at {}", rfc3339(cx.now)));
        d.notes.push(Note::Gone);
        return None;
    }
    d.notes.push(Note::Failed { error, errors });
    Some(schedule::next_after_failure(
        cx.interval,
        errors,
        cx.settings.max_backoff,
        retry_after,
        cx.settings.max_interval,
        cx.now,
        jitter,
    ))
}

/// Permanent redirects move the feed only once they repeat; temporary ones never do. Returns
/// the new URL when the feed moves now.
fn redirects(state: &FeedState, r: &ResponseMeta, update: &mut FeedUpdate) -> Option<String> {
    let permanent = !r.redirects.is_empty() && r.redirects.iter().all(Redirect::is_permanent);
    if !permanent {
        update.redirect_target = None;
        update.redirect_count = 0;
        return None;
    }
    let target = r.final_url.to_string();
    let count = if state.redirect_target.as_deref() == Some(target.as_str()) {
        state.redirect_count.saturating_add(1)
    } else {
        1
    };
    let moved =
        (count >= 2 && state.fetch_url.as_deref() != Some(target.as_str())).then(|| target.clone());
    update.fetch_url.clone_from(&moved);
    update.redirect_target = Some(target);
    update.redirect_count = count;
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Feed, FullText};
    use crate::model::entry::TextSource;
    use crate::model::feed::FeedInfo;
    use crate::pipeline::fetch::{CacheHints, Validators};
    use url::Url;

    const HOUR: Duration = Duration::from_secs(3600);
    const SETTINGS: Settings = Settings {
        min_interval: Duration::from_secs(300),
        max_interval: Duration::from_secs(24 * 3600),
        max_backoff: Duration::from_secs(6 * 3600),
    };

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-15T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn job(adaptive: bool) -> FeedJob {
        let url = Url::parse("https://news.example.org/feed").unwrap_or_else(|_| unreachable!());
        FeedJob {
            id: 7,
            name: "news".into(),
            url: url.clone(),
            cfg: Feed {
                name: "news".into(),
                url,
                interval: HOUR,
                schedule: None,
                pin_interval: false,
                adaptive,
                full_text: FullText::Never,
                strip: Vec::new(),
                languages: Vec::new(),
                min_words: 0,
                keep_html: false,
            },
            max_wait: SETTINGS.max_interval,
            max_entries: 1000,
            max_pages: 20,
        }
    }

    fn response(redirects: Vec<Redirect>) -> ResponseMeta {
        ResponseMeta {
            validators: Validators {
                etag: Some("\"v2\"".into()),
                last_modified: None,
            },
            cache: CacheHints::default(),
            redirects,
            final_url: Url::parse("https://news.example.org/new-feed")
                .unwrap_or_else(|_| unreachable!()),
            elapsed: Duration::from_millis(40),
        }
    }

    fn parsed(known: usize, oldest_hours_ago: i64) -> Outcome {
        let t = now() - chrono::Duration::hours(oldest_hours_ago);
        Outcome::Parsed(Box::new(Parsed {
            info: FeedInfo {
                title: Some("News".into()),
                site_url: None,
                http_status: Some(200),
            },
            entries: vec![entry("a"), entry("b")],
            body_hash: "b".into(),
            hints: FeedHints::default(),
            recovered: false,
            published: vec![t, t + chrono::Duration::minutes(30)],
            boilerplate: None,
            known,
            page_hold: None,
            format: "rss".into(),
            encoding: "utf-8".into(),
        }))
    }

    fn entry(key: &str) -> NewEntry {
        NewEntry {
            key: key.into(),
            guid: Some(key.into()),
            url: None,
            title: None,
            author: None,
            published: None,
            updated: None,
            record_date: "2026-06-15".into(),
            content_text: "text".into(),
            content_hash: "h".into(),
            content_html: None,
            feed_text: None,
            feed_hash: "h".into(),
            text_source: TextSource::Feed,
            language: None,
            fingerprint: None,
            bands: Vec::new(),
            excluded: None,
            unchanged: false,
        }
    }

    fn failed(status: Option<u16>, retry_after: Option<Duration>) -> Outcome {
        Outcome::Failed {
            error: "boom".into(),
            http_status: status,
            retry_after,
        }
    }

    fn run(outcome: Outcome, state: FeedState, resp: Option<ResponseMeta>) -> Decision {
        let fetch = Fetch {
            job: job(false),
            started_at: now(),
            state,
            outcome,
            response: resp,
        };
        decide(fetch, &SETTINGS, 0.0)
    }

    fn after(d: &Decision) -> Option<Duration> {
        d.report.next_poll.and_then(|t| (t - now()).to_std().ok())
    }

    fn succeeded_at(hours_ago: i64) -> FeedState {
        FeedState {
            last_success_at: Some(now() - chrono::Duration::hours(hours_ago)),
            ..FeedState::default()
        }
    }

    /// (case, outcome, state, status stored, next poll after, first note)
    type Case = (
        &'static str,
        Outcome,
        FeedState,
        Option<&'static str>,
        Option<Duration>,
        Option<Note>,
    );

    #[test]
    fn each_outcome_gives_its_status_next_poll_and_notes() {
        let day = SETTINGS.max_interval;
        let errored = FeedState {
            error_count: 2,
            ..FeedState::default()
        };
        let disabled = FeedState {
            disabled_reason: Some("410 Gone".into()),
            ..FeedState::default()
        };
        let held = FeedState {
            retry_until: Some(now() + chrono::Duration::days(30)),
            ..FeedState::default()
        };
        // (case, outcome, state, status stored, next poll after, first note)
        let table: Vec<Case> = vec![
            (
                "304",
                Outcome::NotModified,
                FeedState::default(),
                Some("not_modified"),
                Some(HOUR),
                Some(Note::Unchanged("not_modified")),
            ),
            (
                "same bytes",
                Outcome::Unchanged,
                FeedState::default(),
                Some("unchanged"),
                Some(HOUR),
                Some(Note::Unchanged("unchanged")),
            ),
            (
                "parsed, some known",
                parsed(3, 5),
                succeeded_at(1),
                Some("ok"),
                Some(HOUR),
                None,
            ),
            (
                "parsed, all new, older ones scrolled out",
                parsed(0, 1),
                succeeded_at(5),
                Some("ok"),
                Some(HOUR / 2),
                Some(Note::Gap {
                    entries: 2,
                    interval: HOUR / 2,
                }),
            ),
            (
                "parsed, all new, first poll",
                parsed(0, 1),
                FeedState::default(),
                Some("ok"),
                Some(HOUR),
                None,
            ),
            (
                "third failure backs off",
                failed(Some(503), None),
                errored,
                Some("error"),
                Some(HOUR * 3),
                Some(Note::Failed {
                    error: "boom".into(),
                    errors: 3,
                }),
            ),
            (
                "Retry-After beyond the cap",
                failed(Some(503), Some(day * 30)),
                FeedState::default(),
                Some("error"),
                Some(day),
                Some(Note::Capped(day * 30)),
            ),
            (
                "410",
                failed(Some(410), None),
                FeedState::default(),
                Some("gone"),
                None,
                Some(Note::Gone),
            ),
            (
                "skipped, disabled",
                Outcome::Skipped("disabled".into()),
                disabled,
                None,
                None,
                Some(Note::Skipped("disabled".into())),
            ),
            (
                "skipped, held too long",
                Outcome::Skipped("wait".into()),
                held,
                None,
                Some(day),
                Some(Note::Skipped("wait".into())),
            ),
        ];
        for (case, outcome, state, status, next, note) in table {
            let d = run(outcome, state, None);
            assert_eq!(
                d.update.as_ref().map(|u| u.status.as_str()),
                status,
                "{case}: status"
            );
            assert_eq!(after(&d), next, "{case}: next poll");
            assert_eq!(
                d.notes.first(),
                note.as_ref(),
                "{case}: notes {:?}",
                d.notes
            );
            if let Some(u) = &d.update {
                assert_eq!(
                    u.next_poll_at, d.report.next_poll,
                    "{case}: stored due time"
                );
            }
        }
    }

    #[test]
    fn a_429_holds_the_host_and_a_retry_after_is_stored() {
        let d = run(
            failed(Some(429), Some(Duration::from_secs(120))),
            FeedState::default(),
            None,
        );
        let (host, until) = d.report.host_block.clone().unwrap_or_default();
        assert_eq!(host, "news.example.org");
        assert_eq!((until - now()).num_seconds(), 120);
        let u = d.update.unwrap_or_default();
        assert_eq!(u.retry_until, Some(now() + chrono::Duration::seconds(120)));
        assert!(d.report.next_poll >= Some(now() + chrono::Duration::seconds(120)));
    }

    #[test]
    fn a_permanent_redirect_moves_the_feed_only_when_it_repeats() {
        let hop = || {
            vec![Redirect {
                status: 301,
                to: Url::parse("https://news.example.org/new-feed")
                    .unwrap_or_else(|_| unreachable!()),
            }]
        };
        let first = run(
            Outcome::NotModified,
            FeedState::default(),
            Some(response(hop())),
        );
        let u = first.update.unwrap_or_default();
        assert_eq!((u.redirect_count, u.fetch_url), (1, None));
        let seen = FeedState {
            redirect_target: u.redirect_target,
            redirect_count: 1,
            ..FeedState::default()
        };
        let second = run(Outcome::NotModified, seen, Some(response(hop())));
        let target = "https://news.example.org/new-feed".to_string();
        assert_eq!(second.notes.first(), Some(&Note::Moved(target.clone())));
        assert_eq!(second.update.unwrap_or_default().fetch_url, Some(target));
        let temporary = vec![Redirect {
            status: 302,
            to: Url::parse("https://news.example.org/new-feed").unwrap_or_else(|_| unreachable!()),
        }];
        let t = run(
            Outcome::NotModified,
            FeedState::default(),
            Some(response(temporary)),
        );
        assert_eq!(t.update.unwrap_or_default().redirect_count, 0);
    }

    #[test]
    fn validators_are_kept_with_a_200_not_with_a_304() {
        let d = run(
            Outcome::Unchanged,
            FeedState::default(),
            Some(response(Vec::new())),
        );
        let etag = d.update.and_then(|u| u.validators).and_then(|v| v.0);
        assert_eq!(etag.as_deref(), Some("\"v2\""));
        let d = run(
            Outcome::NotModified,
            FeedState::default(),
            Some(response(Vec::new())),
        );
        assert_eq!(d.update.and_then(|u| u.validators), None);
    }
}
