//! The TOML configuration file.
//!
//! The `[storage]` keys and the `[[feeds]]` `url`/`name` keys are a pinned interface: tools outside
//! the project write them. Everything else has a default, so the smallest useful file is a storage
//! table and one feed. Every error names the file, the line and the key, because the person who
//! reads it is usually editing the file by hand on a server.

pub mod feedlist;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;
use url::Url;

/// Where the configuration is looked for when `--config` is not given and
/// `$FEEDCORPUS_CONFIG` is unset.
pub const SYSTEM_CONFIG: &str = "/etc/feedcorpus/feedcorpus.toml";

/// Default user agent: names the project and where to read about it, so server operators can
/// find out who is polling them.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "feedcorpus/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/feedcorpus/feedcorpus)"
);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the config file: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
}

/// A validated configuration with absolute paths.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this configuration was read from.
    pub path: PathBuf,
    pub storage: Storage,
    pub poll: Poll,
    pub http: Http,
    /// Where to serve Prometheus metrics, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    pub corpus: CorpusSettings,
    pub feeds: Vec<Feed>,
}

/// What goes into the corpus and in which form.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusSettings {
    pub record_format: RecordFormat,
    /// Languages (ISO 639-1) kept in the corpus; empty keeps all. Feeds may override.
    pub languages: Vec<String>,
    /// Later near-identical copies of an entry get no record (the database keeps them).
    pub skip_near_duplicates: bool,
    /// What a changed entry does to its record.
    pub on_update: OnUpdate,
    /// Default `full_text` of feeds.
    pub full_text: FullText,
    /// Article pages fetched per feed and poll at most (`full_text`); 0 = none.
    pub max_pages_per_poll: usize,
}

impl Default for CorpusSettings {
    fn default() -> Self {
        CorpusSettings {
            record_format: RecordFormat::Text,
            languages: Vec::new(),
            skip_near_duplicates: false,
            on_update: OnUpdate::Keep,
            full_text: FullText::Auto,
            max_pages_per_poll: 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    Text,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUpdate {
    /// The record keeps the first version; the database keeps every revision.
    Keep,
    /// The record is rewritten in place with the new text.
    Rewrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FullText {
    /// Fetch the article page when the feed carries only a teaser.
    Auto,
    Always,
    Never,
}

/// A compiled `strip` pattern with its source text.
#[derive(Debug, Clone)]
pub struct StripPattern(pub regex::Regex);

impl PartialEq for StripPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    pub database: PathBuf,
    pub corpus_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Poll {
    /// Interval for feeds that do not set their own.
    pub interval: Duration,
    /// How many feeds are fetched at the same time.
    pub concurrency: usize,
    /// First polls after start-up are spread over up to this long, so a thousand feeds do not
    /// fire in one second.
    pub startup_jitter: Duration,
    /// Adaptive mode: set each feed's interval from its observed entry rate.
    pub adaptive: bool,
    /// Bounds of adaptive intervals.
    pub min_interval: Duration,
    pub max_interval: Duration,
    /// Longest wait between retries of a failing feed.
    pub max_backoff: Duration,
    /// Entries kept from one fetch, newest first; 0 keeps all.
    pub max_entries_per_fetch: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Http {
    /// Whole-request limit: connect, headers and body.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Longest silence while waiting for the first byte or the next chunk.
    pub read_timeout: Duration,
    /// Concurrent requests to one host.
    pub per_host_connections: usize,
    /// Minimum time between the starts of two requests to one host.
    pub per_host_min_gap: Duration,
    pub user_agent: String,
    /// Largest body accepted, counted after decompression.
    pub max_body_bytes: u64,
    pub max_redirects: usize,
    /// Hosts (names or addresses) that URLs from documents and redirects may reach although
    /// they are internal (loopback, private, link-local, …).
    pub allow_internal_hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub name: String,
    pub url: Url,
    pub interval: Duration,
    /// A 5-field crontab schedule (UTC) used instead of `interval`.
    pub schedule: Option<Schedule>,
    /// Poll on `interval`/`schedule` even when the server asks for less (ttl, Cache-Control, …).
    pub pin_interval: bool,
    /// Adaptive interval for this feed (defaults to `[poll] adaptive`).
    pub adaptive: bool,
    pub full_text: FullText,
    /// Paragraphs matching these are removed from this feed's entries.
    pub strip: Vec<StripPattern>,
    /// Languages kept in the corpus for this feed; empty keeps all.
    pub languages: Vec<String>,
}

/// A parsed cron schedule with the text it came from.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub text: String,
    pub cron: croner::Cron,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let cron = croner::Cron::from_str(text.trim()).map_err(|e| {
            format!("invalid schedule {text:?} ({e}); write crontab syntax, e.g. \"*/15 * * * *\"")
        })?;
        Ok(Schedule {
            text: text.trim().to_string(),
            cron,
        })
    }

    /// The first occurrence strictly after `after`.
    pub fn next_after(
        &self,
        after: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }
}

impl Default for Poll {
    fn default() -> Self {
        Poll {
            interval: Duration::from_secs(30 * 60),
            concurrency: 8,
            startup_jitter: Duration::from_secs(60),
            adaptive: false,
            min_interval: Duration::from_secs(5 * 60),
            max_interval: Duration::from_secs(24 * 3600),
            max_backoff: Duration::from_secs(24 * 3600),
            max_entries_per_fetch: 1000,
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(20),
            per_host_connections: 2,
            per_host_min_gap: Duration::from_millis(500),
            user_agent: DEFAULT_USER_AGENT.to_string(),
            max_body_bytes: 16 * 1024 * 1024,
            max_redirects: 5,
            allow_internal_hosts: Vec::new(),
        }
    }
}

// ---- raw, as written in the file ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    storage: RawStorage,
    #[serde(default)]
    poll: RawPoll,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    corpus: RawCorpus,
    #[serde(default)]
    feeds: Vec<RawFeed>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCorpus {
    record_format: Option<RecordFormat>,
    languages: Option<Vec<Spanned<String>>>,
    skip_near_duplicates: Option<bool>,
    on_update: Option<OnUpdate>,
    full_text: Option<FullText>,
    max_pages_per_poll: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    database: Spanned<String>,
    corpus_dir: Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPoll {
    #[serde(default, deserialize_with = "de_duration")]
    interval: Option<Duration>,
    concurrency: Option<Spanned<usize>>,
    #[serde(default, deserialize_with = "de_duration_or_zero")]
    startup_jitter: Option<Duration>,
    adaptive: Option<bool>,
    #[serde(default, deserialize_with = "de_duration")]
    min_interval: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    max_interval: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    max_backoff: Option<Duration>,
    max_entries_per_fetch: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default, deserialize_with = "de_duration")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    read_timeout: Option<Duration>,
    per_host_connections: Option<Spanned<usize>>,
    #[serde(default, deserialize_with = "de_duration_or_zero")]
    per_host_min_gap: Option<Duration>,
    user_agent: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "de_size")]
    max_body_size: Option<u64>,
    max_redirects: Option<usize>,
    allow_internal_hosts: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    url: Spanned<String>,
    name: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "de_duration")]
    interval: Option<Duration>,
    schedule: Option<Spanned<String>>,
    pin_interval: Option<bool>,
    adaptive: Option<bool>,
    full_text: Option<FullText>,
    strip: Option<Vec<Spanned<String>>>,
    languages: Option<Vec<Spanned<String>>>,
}

/// Humane durations ("90s", "15m", "1h 30m"); zero is refused because it would mean "poll in a loop".
fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Like [`de_duration`], but "0s" is allowed (it switches the feature off).
fn de_duration_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(text.trim())
        .map(Some)
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?} ({e}); write e.g. \"0s\", \"500ms\", \"1m\""
            ))
        })
}

/// `path` without `.` components and with each `..` folded into its parent, as written (no
/// symlinks are followed): `/etc/feedcorpus/../data` → `/etc/data`. A `..` above the root
/// stays at the root.
pub fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let at_top = matches!(
                    out.components().next_back(),
                    None | Some(Component::RootDir | Component::Prefix(_) | Component::ParentDir)
                );
                if !at_top {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let dur = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration {text:?} ({e}); write e.g. \"90s\", \"15m\", \"1h30m\"")
    })?;
    if dur.is_zero() {
        return Err(format!("duration {text:?} must be greater than zero"));
    }
    Ok(dur)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Int(i64),
    Text(String),
}

fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match SizeValue::deserialize(d)? {
        SizeValue::Int(n) if n > 0 => Ok(Some(n as u64)),
        SizeValue::Int(n) => Err(serde::de::Error::custom(format!(
            "size {n} must be greater than zero"
        ))),
        SizeValue::Text(t) => parse_size(&t).map(Some).map_err(serde::de::Error::custom),
    }
}

/// Byte sizes such as "16MiB", "500 KB" or "1048576".
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {text:?}; write e.g. \"16MiB\" or \"500KB\""))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "kib" | "k" => 1024.0,
        "mb" => 1e6,
        "mib" | "m" => 1024.0 * 1024.0,
        "gb" => 1e9,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("invalid size unit {other:?} in {text:?}")),
    };
    let bytes = (num * mult).round();
    if bytes < 1.0 || !bytes.is_finite() {
        return Err(format!("size {text:?} must be greater than zero"));
    }
    Ok(bytes as u64)
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Validates config text; `path` names the file in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let src = Source { text, path };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            src.error_at(span.start, None, e.message().trim().to_string())
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let base = std::path::absolute(&base).unwrap_or(base);

        let resolve = |s: &Spanned<String>, key: &str| -> Result<PathBuf, ConfigError> {
            let v = s.get_ref().trim();
            if v.is_empty() {
                return Err(src.error_at(s.span().start, Some(key), "must not be empty".into()));
            }
            Ok(lexically_normal(&base.join(v)))
        };
        let storage = Storage {
            database: resolve(&raw.storage.database, "database")?,
            corpus_dir: resolve(&raw.storage.corpus_dir, "corpus_dir")?,
        };

        let mut poll = Poll::default();
        if let Some(i) = raw.poll.interval {
            poll.interval = i;
        }
        if let Some(c) = raw.poll.concurrency {
            if *c.get_ref() == 0 || *c.get_ref() > 1024 {
                return Err(src.error_at(
                    c.span().start,
                    Some("concurrency"),
                    format!("must be between 1 and 1024, got {}", c.get_ref()),
                ));
            }
            poll.concurrency = *c.get_ref();
        }
        if let Some(j) = raw.poll.startup_jitter {
            poll.startup_jitter = j;
        }
        if let Some(a) = raw.poll.adaptive {
            poll.adaptive = a;
        }
        if let Some(v) = raw.poll.min_interval {
            poll.min_interval = v;
        }
        if let Some(v) = raw.poll.max_interval {
            poll.max_interval = v;
        }
        if let Some(v) = raw.poll.max_backoff {
            poll.max_backoff = v;
        }
        if let Some(v) = raw.poll.max_entries_per_fetch {
            poll.max_entries_per_fetch = v;
        }
        if poll.min_interval > poll.max_interval {
            let at = text.find("min_interval").unwrap_or(0);
            return Err(src.error_at(
                at,
                Some("min_interval"),
                "must not be greater than max_interval".into(),
            ));
        }

        let mut http = Http::default();
        if let Some(t) = raw.http.timeout {
            http.timeout = t;
        }
        if let Some(t) = raw.http.connect_timeout {
            http.connect_timeout = t;
        }
        if let Some(t) = raw.http.read_timeout {
            http.read_timeout = t;
        }
        if let Some(c) = raw.http.per_host_connections {
            if *c.get_ref() == 0 || *c.get_ref() > 256 {
                return Err(src.error_at(
                    c.span().start,
                    Some("per_host_connections"),
                    format!("must be between 1 and 256, got {}", c.get_ref()),
                ));
            }
            http.per_host_connections = *c.get_ref();
        }
        if let Some(g) = raw.http.per_host_min_gap {
            http.per_host_min_gap = g;
        }
        if let Some(ua) = raw.http.user_agent {
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
        if let Some(s) = raw.http.max_body_size {
            http.max_body_bytes = s;
        }
        if let Some(r) = raw.http.max_redirects {
            http.max_redirects = r;
        }
        for h in raw.http.allow_internal_hosts.iter().flatten() {
            let v = h.get_ref().trim();
            if v.is_empty() || v.contains(['/', ':', ' ']) && v.parse::<std::net::IpAddr>().is_err()
            {
                return Err(src.error_at(
                    h.span().start,
                    Some("allow_internal_hosts"),
                    format!("{v:?} is not a host name or address; write e.g. \"wiki.internal\" or \"10.0.0.5\""),
                ));
            }
            http.allow_internal_hosts.push(v.to_string());
        }

        let metrics_listen =
            match &raw.metrics.listen {
                Some(l) => Some(l.get_ref().trim().parse::<std::net::SocketAddr>().map_err(
                    |e| {
                        src.error_at(
                            l.span().start,
                            Some("listen"),
                            format!(
                                "invalid address {:?} ({e}); write e.g. \"127.0.0.1:9464\"",
                                l.get_ref()
                            ),
                        )
                    },
                )?),
                None => None,
            };

        let languages = |list: &Option<Vec<Spanned<String>>>| -> Result<Vec<String>, ConfigError> {
            let mut out = Vec::new();
            for l in list.iter().flatten() {
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
        };
        let corpus = CorpusSettings {
            record_format: raw.corpus.record_format.unwrap_or(RecordFormat::Text),
            languages: languages(&raw.corpus.languages)?,
            skip_near_duplicates: raw.corpus.skip_near_duplicates.unwrap_or(false),
            on_update: raw.corpus.on_update.unwrap_or(OnUpdate::Keep),
            full_text: raw.corpus.full_text.unwrap_or(FullText::Auto),
            max_pages_per_poll: raw.corpus.max_pages_per_poll.unwrap_or(20),
        };

        let mut feeds = Vec::with_capacity(raw.feeds.len());
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut urls: HashMap<String, usize> = HashMap::new();
        for f in raw.feeds {
            let url_at = f.url.span().start;
            let url = parse_feed_url(f.url.get_ref())
                .map_err(|m| src.error_at(url_at, Some("url"), m))?;
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
            if let Some(first) = names.insert(name.clone(), name_at) {
                return Err(src.error_at(
                    name_at,
                    Some("name"),
                    format!(
                        "duplicate feed name {name:?} (first used on line {})",
                        src.line_of(first)
                    ),
                ));
            }
            if let Some(first) = urls.insert(url.as_str().to_string(), url_at) {
                return Err(src.error_at(
                    url_at,
                    Some("url"),
                    format!(
                        "duplicate feed url {} (first used on line {})",
                        url,
                        src.line_of(first)
                    ),
                ));
            }
            let schedule = match &f.schedule {
                Some(s) => {
                    if f.interval.is_some() {
                        return Err(src.error_at(
                            s.span().start,
                            Some("schedule"),
                            "set either `interval` or `schedule`, not both".into(),
                        ));
                    }
                    Some(
                        Schedule::parse(s.get_ref())
                            .map_err(|m| src.error_at(s.span().start, Some("schedule"), m))?,
                    )
                }
                None => None,
            };
            feeds.push(Feed {
                name,
                url,
                interval: f.interval.unwrap_or(poll.interval),
                schedule,
                pin_interval: f.pin_interval.unwrap_or(false),
                adaptive: f.adaptive.unwrap_or(poll.adaptive),
                full_text: f.full_text.unwrap_or(corpus.full_text),
                strip: f
                    .strip
                    .iter()
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
                    .collect::<Result<_, _>>()?,
                languages: match &f.languages {
                    Some(_) => languages(&f.languages)?,
                    None => corpus.languages.clone(),
                },
            });
        }

        Ok(Config {
            path: path.to_path_buf(),
            storage,
            poll,
            http,
            metrics_listen,
            corpus,
            feeds,
        })
    }

    /// Where to read the config from: the flag, then `$FEEDCORPUS_CONFIG` (clap fills both into
    /// `explicit`), then the system path.
    pub fn locate(explicit: Option<&Path>) -> PathBuf {
        explicit
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(SYSTEM_CONFIG))
    }
}

/// Only absolute http(s) URLs are feeds.
pub fn parse_feed_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        "http" | "https" => Err(format!("URL {text:?} has no host")),
        other => Err(format!(
            "URL {text:?} has scheme {other:?}; only http and https feeds are polled"
        )),
    }
}

/// A readable name for a feed configured without one: host and path, slugged.
pub fn default_name(url: &Url) -> String {
    let raw = format!("{}{}", url.host_str().unwrap_or("feed"), url.path());
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

struct Source<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Source<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text[..offset].bytes().filter(|&b| b == b'\n').count() + 1
    }

    /// Builds an error for the byte offset, naming the key written on that line (or `key` when
    /// given) and the table it sits in.
    fn error_at(&self, offset: usize, key: Option<&str>, message: String) -> ConfigError {
        let line = self.line_of(offset);
        let lines: Vec<&str> = self.text.lines().collect();
        let line_text = lines.get(line.saturating_sub(1)).copied().unwrap_or("");
        let key = key.map(str::to_string).or_else(|| key_on_line(line_text));
        let table = table_before(&lines, line);
        let key = match (table, key) {
            (Some(t), Some(k)) => format!("{t} → {k}"),
            (Some(t), None) => t,
            (None, Some(k)) => k,
            (None, None) => "(document)".to_string(),
        };
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            key,
            message,
        }
    }
}

fn key_on_line(line: &str) -> Option<String> {
    let t = line.trim_start();
    if t.starts_with('[') || t.starts_with('#') {
        return None;
    }
    let (k, _) = t.split_once('=')?;
    let k = k.trim().trim_matches('"');
    (!k.is_empty()).then(|| k.to_string())
}

/// The table header in force at `line` (1-based), e.g. `[http]` or `[[feeds]] #2`.
fn table_before(lines: &[&str], line: usize) -> Option<String> {
    let mut header: Option<String> = None;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for l in lines.iter().take(line) {
        let t = l.trim();
        if let Some(rest) = t.strip_prefix("[[") {
            let name = rest.split("]]").next().unwrap_or("").trim().to_string();
            let n = counts.entry(name.clone()).or_default();
            *n += 1;
            header = Some(format!("[[{name}]] #{n}"));
        } else if let Some(rest) = t.strip_prefix('[') {
            let name = rest.split(']').next().unwrap_or("").trim();
            header = Some(format!("[{name}]"));
        }
    }
    header
}

impl fmt::Display for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <{}>", self.name, self.url)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn paths_are_normalised_as_written() {
        for (path, want) in [
            ("/etc/feedcorpus/../data/corpus", "/etc/data/corpus"),
            ("/a/./b/./c", "/a/b/c"),
            ("/../x", "/x"),
            ("a/../../b", "../b"),
            ("/a/b/", "/a/b"),
        ] {
            assert_eq!(
                lexically_normal(Path::new(path)),
                PathBuf::from(want),
                "{path}"
            );
        }
    }

    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/fc/feedcorpus.toml"))
    }

    const MINIMAL: &str = r#"
[storage]
database = "data/feedcorpus.db"
corpus_dir = "data/corpus"

[[feeds]]
url = "https://novastan.org/en/tag/war-in-ukraine/feed/"
name = "novastan-war-in-ukraine"
"#;

    #[test]
    fn minimal_file_gets_defaults_and_resolved_paths() {
        let c = parse(MINIMAL).expect("valid");
        assert_eq!(
            c.storage.database,
            PathBuf::from("/etc/fc/data/feedcorpus.db")
        );
        assert_eq!(c.storage.corpus_dir, PathBuf::from("/etc/fc/data/corpus"));
        assert_eq!(c.feeds.len(), 1);
        assert_eq!(c.feeds[0].name, "novastan-war-in-ukraine");
        assert_eq!(c.feeds[0].interval, Poll::default().interval);
        assert_eq!(c.http.user_agent, DEFAULT_USER_AGENT);
    }

    #[test]
    fn per_feed_interval_overrides_global() {
        let text = format!("{MINIMAL}interval = \"15m\"\n[poll]\ninterval = \"2h\"\n");
        let c = parse(&text).expect("valid");
        assert_eq!(c.feeds[0].interval, Duration::from_secs(900));
        assert_eq!(c.poll.interval, Duration::from_secs(7200));
    }

    fn invalid(text: &str) -> (usize, String, String) {
        match parse(text) {
            Err(ConfigError::Invalid {
                line, key, message, ..
            }) => (line, key, message),
            other => panic!("expected an invalid-config error, got {other:?}"),
        }
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = format!("{MINIMAL}intervall = \"15m\"\n");
        let (line, key, msg) = invalid(&text);
        assert_eq!(line, 9);
        assert_eq!(key, "[[feeds]] #1 → intervall");
        assert!(msg.contains("unknown field"), "{msg}");
    }

    #[test]
    fn bad_duration_names_line_and_key() {
        let text = format!("{MINIMAL}\n[http]\ntimeout = \"soon\"\n");
        let (line, key, msg) = invalid(&text);
        assert_eq!(line, 11);
        assert_eq!(key, "[http] → timeout");
        assert!(msg.contains("invalid duration"), "{msg}");
    }

    #[test]
    fn duplicate_name_and_url_are_rejected() {
        let dup_name = format!(
            "{MINIMAL}\n[[feeds]]\nurl = \"https://example.org/feed\"\nname = \"novastan-war-in-ukraine\"\n"
        );
        let (line, key, msg) = invalid(&dup_name);
        assert_eq!(line, 12);
        assert_eq!(key, "[[feeds]] #2 → name");
        assert!(msg.contains("first used on line 8"), "{msg}");

        let dup_url = format!(
            "{MINIMAL}\n[[feeds]]\nurl = \"https://novastan.org/en/tag/war-in-ukraine/feed/\"\nname = \"other\"\n"
        );
        let (line, key, msg) = invalid(&dup_url);
        assert_eq!(line, 11);
        assert_eq!(key, "[[feeds]] #2 → url");
        assert!(msg.contains("duplicate feed url"), "{msg}");
    }

    #[test]
    fn non_http_url_and_zero_values_are_rejected() {
        let (_, key, msg) = invalid(&MINIMAL.replace("https://novastan", "file:///novastan"));
        assert_eq!(key, "[[feeds]] #1 → url");
        assert!(msg.contains("only http and https"), "{msg}");

        let (_, key, _) = invalid(&format!("{MINIMAL}\n[poll]\nconcurrency = 0\n"));
        assert_eq!(key, "[poll] → concurrency");
        let (_, _, msg) = invalid(&format!("{MINIMAL}\n[poll]\ninterval = \"0s\"\n"));
        assert!(msg.contains("greater than zero"), "{msg}");
    }

    #[test]
    fn missing_storage_is_an_error_not_a_panic() {
        let (_, _, msg) = invalid("[[feeds]]\nurl = \"https://a.example/feed\"\n");
        assert!(msg.contains("storage"), "{msg}");
    }

    #[test]
    fn schedules_are_crontab_lines() {
        let text = format!("{MINIMAL}schedule = \"*/15 * * * *\"\n");
        let c = parse(&text).expect("valid");
        let s = c.feeds[0].schedule.as_ref().expect("schedule");
        let t = chrono::DateTime::parse_from_rfc3339("2026-06-15T10:07:00Z")
            .expect("date")
            .with_timezone(&chrono::Utc);
        assert_eq!(
            s.next_after(t).map(|d| d.to_rfc3339()),
            Some("2026-06-15T10:15:00+00:00".to_string())
        );
        let (_, key, msg) = invalid(&format!("{MINIMAL}schedule = \"every tuesday\"\n"));
        assert_eq!(key, "[[feeds]] #1 → schedule");
        assert!(msg.contains("invalid schedule"), "{msg}");
        let (_, _, msg) = invalid(&format!(
            "{MINIMAL}schedule = \"0 * * * *\"\ninterval = \"1h\"\n"
        ));
        assert!(msg.contains("not both"), "{msg}");
    }

    #[test]
    fn polite_defaults_and_overrides() {
        let c = parse(MINIMAL).expect("valid");
        assert_eq!(c.http.per_host_connections, 2);
        assert!(!c.feeds[0].pin_interval);
        let text = format!(
            "{MINIMAL}pin_interval = true\n[http]\nper_host_connections = 4\nper_host_min_gap = \"0s\"\n[poll]\nadaptive = true\nmin_interval = \"2h\"\nmax_interval = \"1h\"\n"
        );
        let (_, key, _) = invalid(&text);
        assert_eq!(key, "[poll] → min_interval");
        let text = text.replace("min_interval = \"2h\"", "min_interval = \"10m\"");
        let c = parse(&text).expect("valid");
        assert_eq!(c.http.per_host_min_gap, Duration::ZERO);
        assert!(c.feeds[0].pin_interval && c.poll.adaptive);
        assert!(c.feeds[0].adaptive, "feeds inherit [poll] adaptive");
    }

    #[test]
    fn corpus_settings_and_per_feed_quality_keys() {
        let text = format!(
            "{MINIMAL}full_text = \"always\"\nstrip = [\"^Advertisement$\"]\n\n[corpus]\nrecord_format = \"markdown\"\nlanguages = [\"en\", \"RU\"]\nskip_near_duplicates = true\non_update = \"rewrite\"\n"
        );
        let c = parse(&text).expect("valid");
        assert_eq!(c.corpus.record_format, RecordFormat::Markdown);
        assert_eq!(c.corpus.on_update, OnUpdate::Rewrite);
        assert_eq!(c.feeds[0].languages, ["en", "ru"]);
        assert_eq!(c.feeds[0].full_text, FullText::Always);
        assert!(c.feeds[0].strip[0].0.is_match("Advertisement"));
        let (_, key, msg) = invalid(&text.replace("^Advertisement$", "(unclosed"));
        assert_eq!(key, "[[feeds]] #1 → strip");
        assert!(msg.contains("invalid pattern"), "{msg}");
        let (_, key, _) = invalid(&text.replace("\"RU\"", "\"russian\""));
        assert_eq!(key, "[corpus] → languages");
        let (_, _, msg) = invalid(&text.replace("\"markdown\"", "\"pdf\""));
        assert!(msg.contains("unknown variant"), "{msg}");
    }

    #[test]
    fn sizes_and_default_names() {
        assert_eq!(parse_size("16MiB"), Ok(16 * 1024 * 1024));
        assert_eq!(parse_size("500 KB"), Ok(500_000));
        assert!(parse_size("lots").is_err());
        let url = Url::parse("https://Novastan.org/en/feed/").expect("url");
        assert_eq!(default_name(&url), "novastan-org-en-feed");
    }

    #[test]
    fn shipped_configs_are_valid() {
        let c = Config::parse(
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/config/feedcorpus.toml"
            )),
            Path::new("/repo/config/feedcorpus.toml"),
        )
        .expect("shipped config");
        assert_eq!(
            c.storage.database,
            PathBuf::from("/repo/data/feedcorpus.db")
        );
        let urls: Vec<&str> = c.feeds.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://novastan.org/en/tag/war-in-ukraine/feed/",
                "https://novastan.org/en/feed/"
            ]
        );
        let c = Config::parse(
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/systemd/feedcorpus.toml"
            )),
            Path::new("/etc/feedcorpus/feedcorpus.toml"),
        )
        .expect("systemd config");
        assert_eq!(
            c.storage.corpus_dir,
            PathBuf::from("/var/lib/feedcorpus/corpus")
        );
    }

    #[test]
    fn error_display_names_file_line_and_key() {
        let err = parse(&format!("{MINIMAL}bogus = 1\n")).expect_err("invalid");
        let text = err.to_string();
        assert!(
            text.starts_with("/etc/fc/feedcorpus.toml:9: [[feeds]] #1 → bogus:"),
            "{text}"
        );
    }
}
