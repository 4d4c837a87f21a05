//! The TOML configuration file.
//!
//! The `[storage]` keys and the `[[feeds]]` `url`/`name` keys are a pinned interface: tools outside
//! the project write them. Everything else has a default, so the smallest useful file is a storage
//! table and one feed. Every error names the file, the line and the key, because the person who
//! reads it is usually editing the file by hand on a server.

pub mod feedlist;
mod raw;
mod sections;
mod source;

use raw::RawConfig;
pub use raw::{lexically_normal, parse_duration, parse_size};
use source::Source;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
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
    /// Text records open with the entry's title as a paragraph (off: the seeds' form, body only).
    pub text_title: bool,
    /// Languages (ISO 639-1) kept in the corpus; empty keeps all. Feeds may override.
    pub languages: Vec<String>,
    /// Entries whose body has fewer words get no record (the database keeps them); 0 writes
    /// every entry. Feeds may override.
    pub min_words: usize,
    /// Later near-identical copies of an entry get no record (the database keeps them).
    pub skip_near_duplicates: bool,
    /// What a changed entry does to its record.
    pub on_update: OnUpdate,
    /// Default `full_text` of feeds.
    pub full_text: FullText,
    /// Article pages fetched per feed and poll at most (`full_text`); 0 = none.
    pub max_pages_per_poll: usize,
    /// Entries keep the HTML their text was made from (`content_html`). Default: only when
    /// records are Markdown, the one output made from it; it is the largest column otherwise.
    pub keep_html: bool,
}

impl Default for CorpusSettings {
    fn default() -> Self {
        CorpusSettings {
            record_format: RecordFormat::Text,
            text_title: false,
            languages: Vec::new(),
            min_words: DEFAULT_MIN_WORDS,
            skip_near_duplicates: false,
            on_update: OnUpdate::Keep,
            full_text: FullText::Auto,
            max_pages_per_poll: 20,
            keep_html: false,
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
    pub database: Database,
    pub corpus_dir: PathBuf,
    /// Instances sharing a database: how long a claimed feed stays claimed without a heartbeat
    /// (a killed instance's feeds go to the others after this). Heartbeats come every quarter.
    pub lease: Duration,
}

impl Storage {
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

    /// How often an instance says it is alive and renews its claims.
    pub fn heartbeat(&self) -> Duration {
        self.lease / 4
    }
}

/// Where the entries live: an SQLite file (a path, or a `sqlite:` URL) embedded in the process,
/// or a PostgreSQL server (`postgres://` / `postgresql://` URL) that several instances share.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

/// The environment variable that, when set, names the database instead of `[storage] database`.
pub const DATABASE_URL_ENV: &str = "FEEDCORPUS_DATABASE_URL";

impl Database {
    /// A `[storage] database` value: a URL by its scheme, else a path relative to `base`.
    pub fn parse(value: &str, base: &Path) -> Result<Database, String> {
        let v = value.trim();
        if v.is_empty() {
            return Err("must not be empty".into());
        }
        let lower = v.get(..13).unwrap_or(v).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Url::parse(v)
                .map(|_| Database::Postgres(v.to_string()))
                .map_err(|e| format!("not a valid PostgreSQL URL: {e}"));
        }
        if let Some(rest) = lower.strip_prefix("sqlite:").map(|_| &v[7..]) {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                return Err("an SQLite URL must name a file".into());
            }
            return Ok(Database::Sqlite(lexically_normal(&base.join(path))));
        }
        if lower.contains("://") {
            return Err(format!(
                "unknown database URL scheme in {:?}: use a path, sqlite:PATH or postgres://…",
                Database::redact(v)
            ));
        }
        Ok(Database::Sqlite(lexically_normal(&base.join(v))))
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(p) => Some(p),
            Database::Postgres(_) => None,
        }
    }

    /// Several processes may share this database (each with its own instance row).
    pub fn is_shared(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }

    /// A URL without its password, for logs and errors.
    fn redact(url: &str) -> String {
        match Url::parse(url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(u) => u.to_string(),
            Err(_) => "(an invalid URL)".into(),
        }
    }
}

/// Paths as they are; URLs without their password.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "{}", p.display()),
            Database::Postgres(url) => f.write_str(&Database::redact(url)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({self})")
    }
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
    /// Fewer body words than this and an entry gets no record.
    pub min_words: usize,
    /// Its entries keep their HTML (`[corpus] keep_html`).
    pub keep_html: bool,
}

impl Feed {
    /// A feed polled every `interval` with every other setting of its own off: no schedule,
    /// no adaptive interval, no article pages, no strip patterns or language filter.
    pub fn plain(name: String, url: Url, interval: Duration) -> Feed {
        Feed {
            name,
            url,
            interval,
            schedule: None,
            pin_interval: false,
            adaptive: false,
            full_text: FullText::Never,
            strip: Vec::new(),
            languages: Vec::new(),
            min_words: 0,
            keep_html: false,
        }
    }
}

/// `[corpus] min_words` when unset: a date and a word or two (`test`) is no record.
pub const DEFAULT_MIN_WORDS: usize = 3;

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

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text, path)?;
        if let Some(url) = std::env::var(DATABASE_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            let base = config.path.parent().unwrap_or(Path::new("."));
            let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
            config.storage.database =
                Database::parse(&url, &base).map_err(|message| ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line: 0,
                    key: format!("${DATABASE_URL_ENV}"),
                    message,
                })?;
        }
        Ok(config)
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
        let storage = sections::storage(&raw.storage, &src, &base)?;
        let poll = sections::poll(&raw.poll, &src)?;
        let http = sections::http(&raw.http, &src)?;
        let metrics_listen = sections::metrics(&raw.metrics, &src)?;
        let corpus = sections::corpus(&raw.corpus, &src)?;
        let feeds = sections::feeds(raw.feeds, &src, &poll, &corpus)?;
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
            Database::Sqlite(PathBuf::from("/etc/fc/data/feedcorpus.db"))
        );
        assert_eq!(c.storage.corpus_dir, PathBuf::from("/etc/fc/data/corpus"));
        assert_eq!(c.feeds.len(), 1);
        assert_eq!(c.feeds[0].name, "novastan-war-in-ukraine");
        assert_eq!(c.feeds[0].interval, Poll::default().interval);
        assert_eq!(c.http.user_agent, DEFAULT_USER_AGENT);
    }

    #[test]
    fn the_database_value_picks_the_backend_by_its_scheme() {
        let base = Path::new("/etc/fc");
        let sqlite = |p: &str| Ok(Database::Sqlite(PathBuf::from(p)));
        let pg = |u: &str| Ok(Database::Postgres(u.to_string()));
        let cases: &[(&str, Result<Database, String>)] = &[
            ("data/f.db", sqlite("/etc/fc/data/f.db")),
            ("/var/lib/f.db", sqlite("/var/lib/f.db")),
            ("sqlite:data/f.db", sqlite("/etc/fc/data/f.db")),
            ("sqlite:///var/lib/f.db?mode=rwc", sqlite("/var/lib/f.db")),
            (
                "postgres://fc@db.example/corpus",
                pg("postgres://fc@db.example/corpus"),
            ),
            ("PostgreSQL://fc@db/c", pg("PostgreSQL://fc@db/c")),
        ];
        for (value, want) in cases {
            assert_eq!(&Database::parse(value, base), want, "{value}");
        }
        for bad in [
            "",
            "  ",
            "sqlite:",
            "sqlite::memory:",
            "mysql://x/y",
            "postgres://[bad",
        ] {
            assert!(Database::parse(bad, base).is_err(), "{bad:?} accepted");
        }
        let shown = Database::Postgres("postgres://fc:secret@db/c".into()).to_string();
        assert!(
            !shown.contains("secret") && shown.contains("fc:***@db"),
            "{shown}"
        );
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
        let (line, key, _) = invalid(&text);
        assert_eq!(key, "[poll] → min_interval");
        assert_eq!(
            line,
            text.lines()
                .position(|l| l.starts_with("min_interval"))
                .map_or(0, |i| i + 1)
        );
        // The error points at the value, not at the first place the word occurs (a comment).
        let commented = format!(
            "# min_interval is raised below
{text}"
        );
        let (line, key, _) = invalid(&commented);
        assert_eq!(key, "[poll] → min_interval");
        assert_eq!(
            line,
            commented
                .lines()
                .position(|l| l.starts_with("min_interval ="))
                .map_or(0, |i| i + 1)
        );
        // Only max_interval written (below the default min_interval): the error names it.
        let only_max = format!("{MINIMAL}[poll]\nmax_interval = \"1m\"\n");
        let (line, key, _) = invalid(&only_max);
        assert_eq!(key, "[poll] → max_interval");
        assert_eq!(line, only_max.lines().count());
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
        assert_eq!((c.corpus.min_words, c.feeds[0].min_words), (3, 3));
        // HTML is kept where Markdown records need it, unless told otherwise.
        assert!(c.corpus.keep_html && c.feeds[0].keep_html);
        let text_records =
            parse(&text.replace("record_format = \"markdown\"\n", "")).expect("valid");
        assert!(!text_records.corpus.keep_html && !text_records.feeds[0].keep_html);
        let kept = parse(&text.replace("record_format = \"markdown\"\n", "keep_html = true\n"))
            .expect("valid");
        assert!(kept.corpus.keep_html && kept.feeds[0].keep_html);
        let dropped =
            parse(&text.replace("[corpus]\n", "[corpus]\nkeep_html = false\n")).expect("valid");
        assert!(!dropped.corpus.keep_html);
        let all = parse(&text.replace("[corpus]\n", "[corpus]\nmin_words = 0\n")).expect("valid");
        assert_eq!((all.corpus.min_words, all.feeds[0].min_words), (0, 0));
        let own =
            parse(&text.replace("full_text = \"always\"\n", "min_words = 10\n")).expect("valid");
        assert_eq!((own.corpus.min_words, own.feeds[0].min_words), (3, 10));
        let (_, key, _) = invalid(&text.replace("[corpus]\n", "[corpus]\nmin_words = -1\n"));
        assert_eq!(key, "[corpus] → min_words");
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
            Database::Sqlite(PathBuf::from("/repo/data/feedcorpus.db"))
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
