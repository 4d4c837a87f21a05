//! One function per table of the config file: raw values in, validated settings out, and every
//! error pointing at the value that caused it (its span in the file).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::raw::{RawCorpus, RawFeed, RawHttp, RawMetrics, RawPoll, RawStorage};
use super::source::Source;
use super::{
    ConfigError, CorpusSettings, Database, Feed, FullText, Http, OnUpdate, Poll, RecordFormat,
    Schedule, Storage, StripPattern, default_name, lexically_normal, parse_feed_url,
};

type Result<T> = std::result::Result<T, ConfigError>;

/// `[storage]`: paths relative to the config file's folder, normalised.
pub(super) fn storage(raw: &RawStorage, src: &Source<'_>, base: &Path) -> Result<Storage> {
    let resolve = |s: &Spanned<String>, key: &str| -> Result<PathBuf> {
        let v = s.get_ref().trim();
        if v.is_empty() {
            return Err(src.error_at(s.span().start, Some(key), "must not be empty".into()));
        }
        Ok(lexically_normal(&base.join(v)))
    };
    let database = Database::parse(raw.database.get_ref(), base)
        .map_err(|message| src.error_at(raw.database.span().start, Some("database"), message))?;
    let lease = match &raw.lease {
        None => Storage::DEFAULT_LEASE,
        Some(l) => {
            let v = l.get_ref().0;
            if !(Duration::from_secs(2)..=Duration::from_secs(3600)).contains(&v) {
                return Err(src.error_at(
                    l.span().start,
                    Some("lease"),
                    "must be between 2s and 1h".into(),
                ));
            }
            v
        }
    };
    Ok(Storage {
        database,
        lease,
        corpus_dir: resolve(&raw.corpus_dir, "corpus_dir")?,
    })
}

/// `[poll]`.
pub(super) fn poll(raw: &RawPoll, src: &Source<'_>) -> Result<Poll> {
    let mut poll = Poll::default();
    if let Some(i) = raw.interval {
        poll.interval = i;
    }
    if let Some(c) = &raw.concurrency {
        poll.concurrency = in_range(c, 1, 1024, "concurrency", src)?;
    }
    if let Some(j) = raw.startup_jitter {
        poll.startup_jitter = j;
    }
    if let Some(a) = raw.adaptive {
        poll.adaptive = a;
    }
    if let Some(v) = &raw.min_interval {
        poll.min_interval = v.get_ref().0;
    }
    if let Some(v) = &raw.max_interval {
        poll.max_interval = v.get_ref().0;
    }
    if let Some(v) = raw.max_backoff {
        poll.max_backoff = v;
    }
    if let Some(v) = raw.max_entries_per_fetch {
        poll.max_entries_per_fetch = v;
    }
    if poll.min_interval > poll.max_interval {
        // The value that was written: min_interval's, else max_interval's (below the default).
        let (at, key) = match (&raw.min_interval, &raw.max_interval) {
            (Some(min), _) => (min.span().start, "min_interval"),
            (None, Some(max)) => (max.span().start, "max_interval"),
            (None, None) => (0, "min_interval"),
        };
        return Err(src.error_at(
            at,
            Some(key),
            "min_interval must not be greater than max_interval".into(),
        ));
    }
    Ok(poll)
}

/// A whole number within [lo, hi], or an error at its value.
fn in_range(
    v: &Spanned<usize>,
    lo: usize,
    hi: usize,
    key: &str,
    src: &Source<'_>,
) -> Result<usize> {
    let n = *v.get_ref();
    if n < lo || n > hi {
        return Err(src.error_at(
            v.span().start,
            Some(key),
            format!("must be between {lo} and {hi}, got {n}"),
        ));
    }
    Ok(n)
}

/// `[http]`.
pub(super) fn http(raw: &RawHttp, src: &Source<'_>) -> Result<Http> {
    let mut http = Http::default();
    if let Some(t) = raw.timeout {
        http.timeout = t;
    }
    if let Some(t) = raw.connect_timeout {
        http.connect_timeout = t;
    }
    if let Some(t) = raw.read_timeout {
        http.read_timeout = t;
    }
    if let Some(c) = &raw.per_host_connections {
        http.per_host_connections = in_range(c, 1, 256, "per_host_connections", src)?;
    }
    if let Some(g) = raw.per_host_min_gap {
        http.per_host_min_gap = g;
    }
    if let Some(ua) = &raw.user_agent {
        let v = ua.get_ref().trim();
        if v.is_empty() || v.chars().any(char::is_control) {
            return Err(src.error_at(
                ua.span().start,
                Some("user_agent"),
                "must be non-empty printable text".into(),
            ));
        }
        http.user_agent = v.to_string();
    }
    if let Some(s) = raw.max_body_size {
        http.max_body_bytes = s;
    }
    if let Some(r) = raw.max_redirects {
        http.max_redirects = r;
    }
    for h in raw.allow_internal_hosts.iter().flatten() {
        let v = h.get_ref().trim();
        if v.is_empty() || v.contains(['/', ':', ' ']) && v.parse::<std::net::IpAddr>().is_err() {
            return Err(src.error_at(
                h.span().start,
                Some("allow_internal_hosts"),
                format!(
                    "{v:?} is not a host name or address; write e.g. \"wiki.internal\" or \"10.0.0.5\""
                ),
            ));
        }
        http.allow_internal_hosts.push(v.to_string());
    }
    Ok(http)
}

/// `[metrics] listen`.
pub(super) fn metrics(raw: &RawMetrics, src: &Source<'_>) -> Result<Option<SocketAddr>> {
    let Some(l) = &raw.listen else {
        return Ok(None);
    };
    l.get_ref()
        .trim()
        .parse::<SocketAddr>()
        .map(Some)
        .map_err(|e| {
            src.error_at(
                l.span().start,
                Some("listen"),
                format!(
                    "invalid address {:?} ({e}); write e.g. \"127.0.0.1:9464\"",
                    l.get_ref()
                ),
            )
        })
}

/// `[corpus]`.
pub(super) fn corpus(raw: &RawCorpus, src: &Source<'_>) -> Result<CorpusSettings> {
    let record_format = raw.record_format.unwrap_or(RecordFormat::Text);
    Ok(CorpusSettings {
        record_format,
        keep_html: raw
            .keep_html
            .unwrap_or(record_format == RecordFormat::Markdown),
        text_title: raw.text_title.unwrap_or(false),
        languages: languages(raw.languages.as_deref(), src)?,
        min_words: raw.min_words.unwrap_or(crate::config::DEFAULT_MIN_WORDS),
        skip_near_duplicates: raw.skip_near_duplicates.unwrap_or(false),
        on_update: raw.on_update.unwrap_or(OnUpdate::Keep),
        full_text: raw.full_text.unwrap_or(FullText::Auto),
        max_pages_per_poll: raw.max_pages_per_poll.unwrap_or(20),
    })
}

/// ISO 639-1 codes, lower-cased.
fn languages(list: Option<&[Spanned<String>]>, src: &Source<'_>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for l in list.into_iter().flatten() {
        let code = l.get_ref().trim().to_ascii_lowercase();
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(src.error_at(
                l.span().start,
                Some("languages"),
                format!(
                    "{:?} is not an ISO 639-1 code such as \"en\" or \"ru\"",
                    l.get_ref()
                ),
            ));
        }
        out.push(code);
    }
    Ok(out)
}

/// `[[feeds]]`: each validated, names and URLs unique.
pub(super) fn feeds(
    raw: Vec<RawFeed>,
    src: &Source<'_>,
    poll: &Poll,
    corpus: &CorpusSettings,
) -> Result<Vec<Feed>> {
    let mut feeds = Vec::with_capacity(raw.len());
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut urls: HashMap<String, usize> = HashMap::new();
    for f in raw {
        let feed = feed(&f, src, poll, corpus)?;
        let url_at = f.url.span().start;
        let name_at = f.name.as_ref().map_or(url_at, |n| n.span().start);
        if let Some(first) = names.insert(feed.name.clone(), name_at) {
            return Err(src.error_at(
                name_at,
                Some("name"),
                format!(
                    "duplicate feed name {:?} (first used on line {})",
                    feed.name,
                    src.line_of(first)
                ),
            ));
        }
        if let Some(first) = urls.insert(feed.url.as_str().to_string(), url_at) {
            return Err(src.error_at(
                url_at,
                Some("url"),
                format!(
                    "duplicate feed url {} (first used on line {})",
                    feed.url,
                    src.line_of(first)
                ),
            ));
        }
        feeds.push(feed);
    }
    Ok(feeds)
}

/// One `[[feeds]]` table; unset keys take the `[poll]` and `[corpus]` values.
fn feed(f: &RawFeed, src: &Source<'_>, poll: &Poll, corpus: &CorpusSettings) -> Result<Feed> {
    let url_at = f.url.span().start;
    let url = parse_feed_url(f.url.get_ref()).map_err(|m| src.error_at(url_at, Some("url"), m))?;
    let (name, name_at) = match &f.name {
        Some(n) => (n.get_ref().trim().to_string(), n.span().start),
        None => (default_name(&url), url_at),
    };
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(src.error_at(
            name_at,
            Some("name"),
            "must be non-empty printable text".into(),
        ));
    }
    let schedule = match &f.schedule {
        Some(s) if f.interval.is_some() => {
            return Err(src.error_at(
                s.span().start,
                Some("schedule"),
                "set either `interval` or `schedule`, not both".into(),
            ));
        }
        Some(s) => Some(
            Schedule::parse(s.get_ref())
                .map_err(|m| src.error_at(s.span().start, Some("schedule"), m))?,
        ),
        None => None,
    };
    Ok(Feed {
        name,
        url,
        interval: f.interval.unwrap_or(poll.interval),
        schedule,
        pin_interval: f.pin_interval.unwrap_or(false),
        adaptive: f.adaptive.unwrap_or(poll.adaptive),
        full_text: f.full_text.unwrap_or(corpus.full_text),
        strip: strip_patterns(f.strip.as_deref(), src)?,
        languages: match &f.languages {
            Some(list) => languages(Some(list), src)?,
            None => corpus.languages.clone(),
        },
        min_words: f.min_words.unwrap_or(corpus.min_words),
        keep_html: corpus.keep_html,
    })
}

/// `strip` regular expressions.
fn strip_patterns(list: Option<&[Spanned<String>]>, src: &Source<'_>) -> Result<Vec<StripPattern>> {
    list.into_iter()
        .flatten()
        .map(|p| {
            regex::Regex::new(p.get_ref())
                .map(StripPattern)
                .map_err(|e| {
                    src.error_at(
                        p.span().start,
                        Some("strip"),
                        format!("invalid pattern: {e}"),
                    )
                })
        })
        .collect()
}
