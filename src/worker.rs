//! One pass of the pipeline for a feed — fetch, parse, normalize — and the single writer that
//! stores results and writes records.
//!
//! Fetching is concurrent; writing is not: SQLite has one writer anyway, and one writer task also
//! owns the record numbering, so numbers never race. The writer stores each fetch in its own
//! transaction, then writes the records of everything stored so far as one batch with one
//! durability barrier, and only then marks them in the database. A crash at any point leaves
//! entries that are stored but unmarked; the next start writes (or adopts) their records.

use std::collections::HashMap;
use std::fs::File;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use url::Url;

use crate::boilerplate::BoilerplateModel;
use crate::clock::Clock;
use crate::config::{self, Config};
use crate::corpus::{Corpus, CorpusError};
use crate::fetch::{CacheHints, FetchError, Fetcher, Redirect, Validators};
use crate::hints::{FeedHints, read_hints};
use crate::parse::parse_feed;
use crate::quality::FeedQuality;
use crate::schedule;
use crate::store::{
    FeedInfo, FeedSpec, FeedState, FeedUpdate, FetchWrite, IngestRules, IngestStats, NewEntry,
    Store, StoreError,
};

/// A configured feed with its database id.
#[derive(Debug, Clone)]
pub struct FeedJob {
    pub id: i64,
    pub name: String,
    pub url: Url,
    pub cfg: config::Feed,
    /// The longest wait a server may impose on this feed (`[poll] max_interval`).
    pub max_wait: Duration,
    /// Entries kept from one fetch (`[poll] max_entries_per_fetch`; 0 = all).
    pub max_entries: usize,
    /// Article pages fetched per poll at most (`[corpus] max_pages_per_poll`).
    pub max_pages: usize,
}

/// What fetching and preparing one feed produced, before anything is stored.
#[derive(Debug)]
pub enum Outcome {
    Parsed {
        info: FeedInfo,
        entries: Vec<NewEntry>,
        body_hash: String,
        hints: FeedHints,
        recovered: bool,
        /// Publication times of the document's entries (adaptive intervals, gap detection).
        published: Vec<DateTime<Utc>>,
        /// The feed's boilerplate model after learning from this document, JSON.
        boilerplate: Option<String>,
        /// An article page's site answered 429: its host is held until then.
        page_hold: Option<Box<(String, DateTime<Utc>)>>,
    },
    /// 304: the server says nothing changed.
    NotModified,
    /// 200 with the same bytes as last time: nothing to parse.
    Unchanged,
    Failed {
        error: String,
        http_status: Option<u16>,
        retry_after: Option<Duration>,
    },
    /// Not fetched: disabled (410) or the server asked us to wait.
    Skipped(String),
}

/// One fetch: the feed, its state before the fetch, the outcome and the response metadata.
#[derive(Debug)]
pub struct Fetch {
    pub job: FeedJob,
    /// When the fetch started: intervals run from one start to the next.
    pub started_at: DateTime<Utc>,
    pub state: FeedState,
    pub outcome: Outcome,
    pub response: Option<ResponseMeta>,
}

impl Fetch {
    /// A fetch that failed before it produced anything (an internal error, a panic).
    pub fn failed(job: FeedJob, started_at: DateTime<Utc>, error: String) -> Fetch {
        Fetch {
            job,
            started_at,
            state: FeedState::default(),
            outcome: Outcome::Failed {
                error,
                http_status: None,
                retry_after: None,
            },
            response: None,
        }
    }

    /// Entries the fetch carries (parsed ones only).
    pub fn entry_count(&self) -> usize {
        match &self.outcome {
            Outcome::Parsed { entries, .. } => entries.len(),
            _ => 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ResponseMeta {
    pub validators: Validators,
    pub cache: CacheHints,
    pub redirects: Vec<Redirect>,
    pub final_url: Url,
    pub elapsed: Duration,
}

/// What one fetch came to, for summaries and for the scheduler.
#[derive(Debug, Clone)]
pub struct FeedReport {
    pub feed_id: i64,
    pub name: String,
    pub url: String,
    pub result: FeedResult,
    /// When the feed is due again; `None` once disabled.
    pub next_poll: Option<DateTime<Utc>>,
    /// A 429 holds back every feed of this host until then.
    pub host_block: Option<(String, DateTime<Utc>)>,
    /// How long the HTTP exchange took, when there was one.
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FeedResult {
    Stored(IngestStats),
    NotModified,
    Unchanged,
    Failed(String),
    Skipped(String),
}

impl FeedResult {
    pub fn is_failure(&self) -> bool {
        matches!(self, FeedResult::Failed(_))
    }
}

/// The host part used for per-host politeness.
pub fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or("").to_ascii_lowercase()
}

/// Permits for CPU-bound parse work: one per core.
fn cpu_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cores)
    });
    &SLOTS
}

/// Fetches, parses and normalizes one feed. Reads the feed's state; never writes.
/// `poll_slot` (the scheduler's concurrency permit) is given back before article pages are
/// fetched.
pub async fn fetch_feed(
    fetcher: &Fetcher,
    store: &Store,
    clock: &dyn Clock,
    job: FeedJob,
    poll_slot: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Fetch {
    let started_at = clock.now();
    let state = match store.feed_state(job.id).await {
        Ok(s) => s,
        Err(e) => {
            return Fetch {
                job,
                started_at,
                state: FeedState::default(),
                outcome: Outcome::Failed {
                    error: format!("cannot read the feed's state: {e}"),
                    http_status: None,
                    retry_after: None,
                },
                response: None,
            };
        }
    };
    if let Some(reason) = &state.disabled_reason {
        let outcome = Outcome::Skipped(format!("disabled: {reason}"));
        return Fetch {
            job,
            started_at,
            state,
            outcome,
            response: None,
        };
    }
    // A hold longer than `max_interval` (written by an older version, or by hand) is capped.
    if let Some(until) = state
        .retry_until
        .as_deref()
        .and_then(parse_time)
        .map(|t| t.min(schedule::add(started_at, job.max_wait)))
        && until > clock.now()
    {
        let outcome = Outcome::Skipped(format!(
            "the server asked to wait until {}",
            until.to_rfc3339()
        ));
        return Fetch {
            job,
            started_at,
            state,
            outcome,
            response: None,
        };
    }
    let url = state
        .fetch_url
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .unwrap_or_else(|| job.url.clone());
    let validators = Validators {
        etag: state.etag.clone(),
        last_modified: state.last_modified.clone(),
    };
    let fetched = match fetcher.get(&url, Some(&validators)).await {
        Ok(f) => f,
        Err(e) => {
            let (http_status, retry_after) = match e {
                FetchError::Status {
                    status,
                    retry_after,
                } => (Some(status), retry_after),
                _ => (None, None),
            };
            let outcome = Outcome::Failed {
                error: e.to_string(),
                http_status,
                retry_after,
            };
            return Fetch {
                job,
                started_at,
                state,
                outcome,
                response: None,
            };
        }
    };
    let response = Some(ResponseMeta {
        validators: fetched.validators.clone(),
        cache: fetched.cache.clone(),
        redirects: fetched.redirects.clone(),
        final_url: fetched.final_url.clone(),
        elapsed: fetched.elapsed,
    });
    if fetched.not_modified() {
        return Fetch {
            job,
            started_at,
            state,
            outcome: Outcome::NotModified,
            response,
        };
    }
    let body_hash = hex::encode(Sha256::digest(&fetched.body));
    if state.body_hash.as_deref() == Some(body_hash.as_str()) {
        return Fetch {
            job,
            started_at,
            state,
            outcome: Outcome::Unchanged,
            response,
        };
    }
    // Keys of non-global GUIDs hang off the configured URL, which stays stable when a feed moves.
    let feed_url = job.url.as_str().to_string();
    let status = fetched.status;
    let content_type = fetched.content_type;
    let body = fetched.body;
    let cfg = job.cfg.clone();
    let max_entries = job.max_entries;
    let model_json = state.boilerplate.clone();
    // Parsing and HTML work is CPU-bound; keep it off the I/O threads, and run no more of it at
    // once than there are cores: more would only take CPU from the writer, whose pace every
    // fetch waits for anyway.
    let _cpu = cpu_slots().acquire().await.ok();
    let parsed = tokio::task::spawn_blocking(move || {
        let hints = read_hints(&body);
        parse_feed(&body, content_type.as_deref(), &feed_url).map(|mut p| {
            let left_out = crate::parse::keep_newest(&mut p.entries, max_entries);
            (p, hints, left_out)
        })
    })
    .await;
    let parsed = match parsed {
        Ok(Ok((p, hints, left_out))) => {
            if left_out > 0 {
                tracing::warn!(
                    feed = %job.name, url = %job.url, kept = p.entries.len(), left_out,
                    "the document holds more entries than [poll] max_entries_per_fetch; the oldest are left out"
                );
            }
            Ok(Ok((p, hints)))
        }
        Ok(Err(e)) => Ok(Err(e)),
        Err(e) => Err(e),
    };
    // Entries stored before with the same text need no language or fingerprint: on a feed that
    // gained a few items, that is most of the work.
    let known = Arc::new(match &parsed {
        Ok(Ok((p, _))) => {
            let keys: Vec<&str> = p.entries.iter().map(|e| e.key.as_str()).collect();
            store.known_feed_hashes(&keys).await.unwrap_or_default()
        }
        _ => HashMap::new(),
    });
    let parsed = match parsed {
        Ok(Ok((p, hints))) => {
            let known = Arc::clone(&known);
            tokio::task::spawn_blocking(move || {
                let mut model: BoilerplateModel = model_json
                    .as_deref()
                    .and_then(|m| serde_json::from_str(m).ok())
                    .unwrap_or_default();
                let mut q = FeedQuality {
                    strip: &cfg.strip,
                    languages: &cfg.languages,
                    model: Some(&mut model),
                    known: Some(known.as_ref()),
                };
                let entries = prepare(&p, Utc::now(), &mut q);
                Ok((p, entries, hints, serde_json::to_string(&model).ok()))
            })
            .await
        }
        Ok(Err(e)) => Ok(Err(e)),
        Err(e) => Err(e),
    };
    drop(_cpu);
    // Page fetches wait on other servers, not on this feed's: the poll slot goes to the next
    // feed meanwhile.
    drop(poll_slot);
    let mut page_hold = None;
    let parsed = match parsed {
        Ok(Ok((p, mut entries, hints, model))) => {
            page_hold = fetch_pages(fetcher, &known, &job, &mut entries)
                .await
                .map(Box::new);
            Ok(Ok((p, entries, hints, model)))
        }
        other => other,
    };
    let outcome = match parsed {
        Ok(Ok((p, entries, hints, boilerplate))) => Outcome::Parsed {
            page_hold,
            boilerplate,
            published: p
                .entries
                .iter()
                .filter_map(|e| e.published.or(e.updated))
                .map(|d| d.with_timezone(&Utc))
                .collect(),
            info: FeedInfo {
                title: p.title.map(|t| crate::normalize::inline_text(&t)),
                site_url: p.site_url,
                http_status: Some(status),
            },
            entries,
            body_hash,
            hints,
            recovered: p.recovered,
        },
        Ok(Err(e)) => Outcome::Failed {
            error: e.to_string(),
            http_status: Some(status),
            retry_after: None,
        },
        Err(e) => Outcome::Failed {
            error: format!("parser task failed: {e}"),
            http_status: Some(status),
            retry_after: None,
        },
    };
    Fetch {
        job,
        started_at,
        state,
        outcome,
        response,
    }
}

/// Replaces teasers of new entries with the article page's text (`full_text`). Page fetches go
/// through the same fetcher — per-host limits, timeouts, size cap, and the refusal of internal
/// addresses — as feeds, a few at a time, at most `max_pages` per poll; extraction takes a CPU
/// slot like parsing. A 429 from the site stops this poll's page fetches to that host. Any
/// failure keeps the feed's text. Entries in `known` are stored already: their page is not
/// fetched again.
async fn fetch_pages(
    fetcher: &Fetcher,
    known: &HashMap<String, String>,
    job: &FeedJob,
    entries: &mut [NewEntry],
) -> Option<(String, DateTime<Utc>)> {
    use futures_util::StreamExt;
    if job.cfg.full_text == config::FullText::Never {
        return None;
    }
    let wanted: Vec<(usize, Url)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| crate::quality::wants_page(job.cfg.full_text, e))
        .filter(|(_, e)| !known.contains_key(&e.key))
        .filter_map(|(i, e)| Some((i, e.url.as_deref().and_then(|u| Url::parse(u).ok())?)))
        .collect();
    if wanted.len() > job.max_pages {
        tracing::info!(
            feed = %job.name, url = %job.url, pages = wanted.len(), max = job.max_pages,
            "more teasers than [corpus] max_pages_per_poll; the others keep the feed's text"
        );
    }
    let hold: std::sync::Mutex<Option<(String, DateTime<Utc>)>> = std::sync::Mutex::new(None);
    let hold_ref = &hold;
    let entries_ref: &[NewEntry] = entries;
    let results: Vec<(usize, Option<NewEntry>)> = futures_util::stream::iter(
        wanted.into_iter().take(job.max_pages),
    )
    .map(|(i, url)| async move {
        if fetcher.is_held(&url) {
            tracing::info!(feed = %job.name, url = %job.url, page = %url, "the site asked to wait (429); keeping the feed's text");
            return (i, None);
        }
        if let Err(why) = fetcher.robots_allow(&url, &job.url).await {
            tracing::info!(feed = %job.name, url = %job.url, page = %url, reason = %why, "article page not fetched (robots.txt); keeping the feed's text");
            return (i, None);
        }
        let page = match fetcher.get_linked(&url, &job.url).await {
            Ok(p) => p,
            Err(e) => {
                if let FetchError::Status {
                    status: 429,
                    retry_after,
                } = &e
                {
                    // Like a 429 on a feed: the host is left alone for a while, by the page
                    // fetches of every feed and by the feeds on that host.
                    let wait = retry_after
                        .unwrap_or(Duration::from_secs(60))
                        .min(schedule::HOST_BLOCK_CAP);
                    fetcher.hold_host(&url, wait);
                    if let Ok(mut h) = hold_ref.lock() {
                        *h = Some((host_of(&url), schedule::add(Utc::now(), wait)));
                    }
                }
                tracing::warn!(feed = %job.name, url = %job.url, page = %url, error = %e, "article page not fetched; keeping the feed's text");
                return (i, None);
            }
        };
        (i, page_text(job, &url, page, entries_ref[i].clone()).await)
    })
    .buffer_unordered(PAGE_FETCHES)
    .collect()
    .await;
    for (i, entry) in results {
        if let (Some(entry), Some(slot)) = (entry, entries.get_mut(i)) {
            *slot = entry;
        }
    }
    hold.into_inner().ok().flatten()
}

/// Article pages of one feed fetched at the same time (per-host limits still apply).
const PAGE_FETCHES: usize = 4;

/// The entry with the page's text, if the page says more than the feed.
async fn page_text(
    job: &FeedJob,
    url: &Url,
    page: crate::fetch::Fetched,
    entry: NewEntry,
) -> Option<NewEntry> {
    let html = String::from_utf8_lossy(&page.body).into_owned();
    let page_url = page.final_url.to_string();
    let cfg = job.cfg.clone();
    let _cpu = cpu_slots().acquire().await.ok();
    let result = tokio::task::spawn_blocking(move || {
        let article = crate::extract::extract_article(&html, Some(&page_url))?;
        let mut entry = entry;
        let q = FeedQuality {
            known: None,
            strip: &cfg.strip,
            languages: &cfg.languages,
            model: None,
        };
        let used = crate::quality::use_page_text(&mut entry, article, &q);
        Ok::<_, crate::extract::ExtractError>((entry, used))
    })
    .await;
    match result {
        Ok(Ok((entry, true))) => {
            tracing::info!(feed = %job.name, url = %job.url, page = %url, "full text from the article page");
            Some(entry)
        }
        Ok(Ok((_, false))) => {
            tracing::info!(feed = %job.name, url = %job.url, page = %url, "article page says no more than the feed; keeping the feed's text");
            None
        }
        Ok(Err(e)) => {
            tracing::warn!(feed = %job.name, url = %job.url, page = %url, error = %e, "no article text in the page; keeping the feed's text");
            None
        }
        Err(e) => {
            tracing::warn!(feed = %job.name, url = %job.url, page = %url, error = %e, "extraction task failed");
            None
        }
    }
}

/// The message of a caught panic.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub use crate::quality::prepare;

/// Holds the instance lock: one process at a time owns a database and its corpus, because
/// record numbers are handed out by that process.
pub struct InstanceLock {
    _lock: nix::fcntl::Flock<File>,
}

impl InstanceLock {
    pub fn acquire(database: &Path) -> anyhow::Result<InstanceLock> {
        let mut path = database.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open lock file {}: {e}", path.display()))?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| {
                anyhow::anyhow!(
                    "another feedcorpus process is using {} (lock {}): {e}",
                    database.display(),
                    path.display()
                )
            })?;
        Ok(InstanceLock { _lock: lock })
    }
}

/// Opens everything a poll needs: lock, database (migrated, feed list synced), fetcher.
pub struct Engine {
    pub config: Config,
    pub store: Store,
    pub fetcher: Fetcher,
    pub feeds: Vec<FeedJob>,
    _lock: InstanceLock,
    _corpus_lock: crate::corpus::CorpusLock,
}

impl Engine {
    pub async fn open(config: Config) -> anyhow::Result<Engine> {
        let lock = InstanceLock::acquire(&config.storage.database)?;
        let corpus_lock = crate::corpus::CorpusLock::acquire(&config.storage.corpus_dir)?;
        let store = Store::open(&config.storage.database).await?;
        let feeds = sync_feeds(&store, &config).await?;
        let fetcher = Fetcher::new(&config.http)?;
        Ok(Engine {
            config,
            store,
            fetcher,
            feeds,
            _lock: lock,
            _corpus_lock: corpus_lock,
        })
    }

    /// Makes a new config the running one: the feed list is synced to the database and the
    /// HTTP client rebuilt when its settings changed. Storage paths need a restart.
    pub async fn reload(&mut self, config: Config) -> anyhow::Result<()> {
        if config.storage != self.config.storage {
            tracing::warn!("[storage] changed; it takes effect at the next restart");
        }
        let feeds = sync_feeds(&self.store, &config).await?;
        if config.http != self.config.http {
            self.fetcher = Fetcher::new(&config.http)?;
        }
        let storage = self.config.storage.clone();
        self.config = config;
        self.config.storage = storage;
        self.feeds = feeds;
        Ok(())
    }

    pub fn writer(&self, clock: Arc<dyn Clock>) -> Writer {
        Writer::new(
            self.store.clone(),
            self.config.storage.corpus_dir.clone(),
            self.config.poll.clone(),
            clock,
        )
        .with_corpus_settings(self.config.corpus.clone())
    }
}

/// Registers the config's feeds in the database and pairs each with its row id.
async fn sync_feeds(store: &Store, config: &Config) -> Result<Vec<FeedJob>, StoreError> {
    let specs: Vec<FeedSpec<'_>> = config
        .feeds
        .iter()
        .map(|f| FeedSpec {
            name: &f.name,
            url: f.url.as_str(),
        })
        .collect();
    let ids = store.sync_feeds(&specs).await?;
    Ok(config
        .feeds
        .iter()
        .filter_map(|f| {
            ids.get(&f.name).map(|&id| FeedJob {
                id,
                name: f.name.clone(),
                url: f.url.clone(),
                cfg: f.clone(),
                max_wait: config.poll.max_interval,
                max_entries: config.poll.max_entries_per_fetch,
                max_pages: config.corpus.max_pages_per_poll,
            })
        })
        .collect())
}

/// Totals of one writer's life, for summaries.
#[derive(Debug, Clone, Default)]
pub struct WriterStats {
    pub records_written: usize,
    pub records_pending: usize,
    pub last_corpus_error: Option<String>,
}

/// Stores fetch results and writes records. Exactly one per process.
pub struct Writer {
    store: Store,
    corpus_dir: PathBuf,
    corpus: Option<Corpus>,
    poll: config::Poll,
    clock: Arc<dyn Clock>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    corpus_settings: config::CorpusSettings,
    pub stats: WriterStats,
    /// Feeds whose too-long server wait was logged already (once per feed and process).
    capped_noted: std::collections::HashSet<i64>,
}

/// A fetch turned into writes, waiting for its batch's transaction.
struct Prepared {
    report: FeedReport,
    interval: Duration,
    /// `None`: nothing to store (the fetch was skipped, or preparing it failed).
    update: Option<FeedUpdate>,
    entries: Vec<NewEntry>,
}

/// Fetch results stored in one transaction at most, and the entries they may carry.
const BATCH_FETCHES: usize = 64;
const BATCH_ENTRIES: usize = 500;

/// How many pending records one barrier covers at most.
const RECORD_BATCH: usize = 2000;

/// How long the writer waits for more fetch results before writing the records it has.
const FLUSH_IDLE: Duration = Duration::from_millis(100);

impl Writer {
    pub fn new(
        store: Store,
        corpus_dir: PathBuf,
        poll: config::Poll,
        clock: Arc<dyn Clock>,
    ) -> Writer {
        Writer {
            store,
            corpus_dir,
            corpus: None,
            poll,
            clock,
            metrics: None,
            corpus_settings: config::CorpusSettings::default(),
            stats: WriterStats::default(),
            capped_noted: std::collections::HashSet::new(),
        }
    }

    /// Record format, near-duplicate and update rules.
    pub fn with_corpus_settings(mut self, settings: config::CorpusSettings) -> Writer {
        self.corpus_settings = settings;
        self
    }

    fn rules(&self) -> IngestRules<'static> {
        IngestRules {
            skip_near_duplicates: self.corpus_settings.skip_near_duplicates,
            rewrite_on_update: self.corpus_settings.on_update == config::OnUpdate::Rewrite,
            near_duplicate: &crate::quality::near_duplicate,
        }
    }

    /// Stores entries for a feed without touching its polling state (archive backfill).
    pub async fn ingest_entries(
        &self,
        feed_id: i64,
        entries: &[NewEntry],
    ) -> Result<IngestStats, StoreError> {
        self.store
            .ingest_entries(feed_id, entries, &self.rules())
            .await
    }

    /// Counts written records in `metrics` too.
    pub fn with_metrics(mut self, metrics: Option<Arc<crate::metrics::Metrics>>) -> Writer {
        self.metrics = metrics;
        self
    }

    /// A server or document asked for a longer wait than `max_interval`: capped, and logged
    /// the first time for this feed (the asked value stays in `feeds.hints`/`last_error`).
    fn note_capped(&mut self, job: &FeedJob, asked: Option<Duration>) {
        let Some(asked) = asked else { return };
        let max = self.poll.max_interval;
        if self.capped_noted.insert(job.id) {
            tracing::warn!(
                feed = %job.name, url = %job.url, asked_s = asked.as_secs(), max_interval_s = max.as_secs(),
                "the server asks for a longer wait than [poll] max_interval; capped"
            );
        } else {
            tracing::debug!(feed = %job.name, url = %job.url, asked_s = asked.as_secs(), "server wait capped again");
        }
    }

    /// Turns one fetch into the writes to store and decides when the feed is due again.
    async fn prepare(&mut self, fetch: Fetch) -> Result<Prepared, StoreError> {
        let Fetch {
            job,
            started_at: now,
            state,
            outcome,
            response,
        } = fetch;
        let cfg = &job.cfg;
        let interval = state
            .interval_secs
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .unwrap_or(cfg.interval);
        let stored_hints: FeedHints = state
            .hints
            .as_deref()
            .and_then(|h| serde_json::from_str(h).ok())
            .unwrap_or_default();
        let cache = response
            .as_ref()
            .map(|r| r.cache.clone())
            .unwrap_or_default();
        let mut update = FeedUpdate {
            duration_ms: response
                .as_ref()
                .and_then(|r| i64::try_from(r.elapsed.as_millis()).ok()),
            ..FeedUpdate::default()
        };
        let mut report = FeedReport {
            feed_id: job.id,
            name: job.name.clone(),
            url: job.url.to_string(),
            result: FeedResult::NotModified,
            next_poll: None,
            host_block: None,
            duration: response.as_ref().map(|r| r.elapsed),
        };
        if let Some(r) = &response {
            self.note_redirects(&job, &state, r, &mut update);
        }
        let mut entries: Vec<NewEntry> = Vec::new();
        let next = match outcome {
            Outcome::Skipped(reason) => {
                tracing::info!(feed = %job.name, url = %job.url, reason = %reason, "feed skipped");
                report.result = FeedResult::Skipped(reason);
                report.next_poll = if state.disabled_reason.is_some() {
                    None
                } else {
                    state
                        .retry_until
                        .as_deref()
                        .and_then(parse_time)
                        .map(|t| t.min(schedule::add(now, self.poll.max_interval)))
                        .or(Some(schedule::add(now, interval)))
                };
                return Ok(Prepared {
                    report,
                    interval: cfg.interval,
                    update: None,
                    entries,
                });
            }
            Outcome::NotModified | Outcome::Unchanged => {
                let not_modified = matches!(outcome, Outcome::NotModified);
                update.status = if not_modified {
                    "not_modified"
                } else {
                    "unchanged"
                }
                .into();
                update.http_status = Some(if not_modified { 304 } else { 200 });
                if !not_modified {
                    update.validators = response.as_ref().map(|r| {
                        (
                            r.validators.etag.clone(),
                            r.validators.last_modified.clone(),
                        )
                    });
                }
                let interval = if cfg.adaptive { interval } else { cfg.interval };
                update.interval_secs = i64::try_from(interval.as_secs()).ok();
                report.result = if not_modified {
                    FeedResult::NotModified
                } else {
                    FeedResult::Unchanged
                };
                tracing::info!(feed = %job.name, url = %job.url, status = %update.status, "feed unchanged");
                let due = schedule::next_after_success(
                    cfg,
                    interval,
                    now,
                    &stored_hints,
                    &cache,
                    self.poll.max_interval,
                );
                self.note_capped(&job, due.capped);
                due.at
            }
            Outcome::Parsed {
                info,
                entries: parsed,
                body_hash,
                hints,
                recovered,
                published,
                boilerplate,
                page_hold,
            } => {
                report.host_block = page_hold.map(|h| *h);
                let keys: Vec<&str> = parsed.iter().map(|e| e.key.as_str()).collect();
                let all_new = self.store.count_known(&keys).await? == 0;
                let last_success = state.last_success_at.as_deref().and_then(parse_time);
                let gap = schedule::gap_suspected(
                    all_new,
                    parsed.len(),
                    published.iter().min().copied(),
                    last_success,
                );
                let mut interval = if cfg.adaptive {
                    schedule::adaptive_interval(
                        &published,
                        self.poll.min_interval,
                        self.poll.max_interval,
                    )
                    .unwrap_or(interval)
                } else {
                    cfg.interval
                };
                if gap {
                    let shorter = schedule::shortened(interval, self.poll.min_interval);
                    tracing::warn!(
                        feed = %job.name, url = %job.url, entries = parsed.len(),
                        interval_s = shorter.as_secs(),
                        "every entry is new and older ones scrolled out since the last poll: entries may have been missed; polling more often"
                    );
                    interval = shorter;
                }
                if recovered {
                    tracing::warn!(feed = %job.name, url = %job.url, "feed is not well-formed XML; read through recovery");
                }
                update.status = "ok".into();
                update.http_status = info.http_status;
                update.validators = response.as_ref().map(|r| {
                    (
                        r.validators.etag.clone(),
                        r.validators.last_modified.clone(),
                    )
                });
                update.body_hash = Some(body_hash);
                update.hints = serde_json::to_string(&hints).ok();
                update.interval_secs = i64::try_from(interval.as_secs()).ok();
                update.gap = gap;
                update.recovered = recovered;
                update.boilerplate = boilerplate;
                update.info = Some(info);
                entries = parsed;
                let due = schedule::next_after_success(
                    cfg,
                    interval,
                    now,
                    &hints,
                    &cache,
                    self.poll.max_interval,
                );
                self.note_capped(&job, due.capped);
                due.at
            }
            Outcome::Failed {
                error,
                http_status,
                retry_after,
            } => {
                let errors = u32::try_from(state.error_count + 1).unwrap_or(u32::MAX);
                update.status = "error".into();
                update.http_status = http_status;
                update.error = Some(error.clone());
                report.result = FeedResult::Failed(error.clone());
                if let Some(ra) = retry_after {
                    let hold = schedule::retry_hold(ra, self.poll.max_interval);
                    if hold < ra {
                        self.note_capped(&job, Some(ra));
                    }
                    update.retry_until = Some(rfc3339(schedule::add(now, hold)));
                }
                if http_status == Some(429) {
                    let hold = retry_after
                        .unwrap_or(Duration::from_secs(60))
                        .min(schedule::HOST_BLOCK_CAP);
                    let host = host_of(&job.url);
                    report.host_block = Some((host, schedule::add(now, hold)));
                }
                if http_status == Some(410) {
                    update.status = "gone".into();
                    update.disabled_reason = Some(format!("410 Gone at {}", rfc3339(now)));
                    tracing::error!(feed = %job.name, url = %job.url, "the server says the feed is gone (410); it is disabled until its URL changes in the config");
                    return Ok(Prepared {
                        report,
                        interval: cfg.interval,
                        update: Some(update),
                        entries,
                    });
                }
                tracing::warn!(feed = %job.name, url = %job.url, error = %error, errors, "feed failed");
                schedule::next_after_failure(
                    interval,
                    errors,
                    self.poll.max_backoff,
                    retry_after,
                    self.poll.max_interval,
                    now,
                    rand::random::<f64>(),
                )
            }
        };
        update.next_poll_at = Some(rfc3339(next));
        report.next_poll = Some(next);
        Ok(Prepared {
            report,
            interval: cfg.interval,
            update: Some(update),
            entries,
        })
    }

    /// Stores a burst of fetches in one transaction (one savepoint each, so a fetch the
    /// database refuses fails alone) and returns their reports in order.
    async fn store_batch(&mut self, fetches: Vec<Fetch>) -> Vec<FeedReport> {
        let mut prepared = Vec::with_capacity(fetches.len());
        for fetch in fetches {
            let (id, name, url, interval) = (
                fetch.job.id,
                fetch.job.name.clone(),
                fetch.job.url.to_string(),
                fetch.job.cfg.interval,
            );
            // A panic while deciding on one fetch costs that feed its fetch, not the batch.
            let outcome = AssertUnwindSafe(self.prepare(fetch))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(StoreError::Internal(panic_text(&*panic))));
            match outcome {
                Ok(p) => prepared.push(p),
                Err(e) => {
                    let report = FeedReport {
                        feed_id: id,
                        name,
                        url,
                        result: FeedResult::NotModified,
                        next_poll: None,
                        host_block: None,
                        duration: None,
                    };
                    prepared.push(Prepared {
                        report: self.store_failed(report, interval, &e),
                        interval,
                        update: None,
                        entries: Vec::new(),
                    });
                }
            }
        }
        let writes: Vec<FetchWrite<'_>> = prepared
            .iter()
            .filter_map(|p| {
                p.update.as_ref().map(|u| FetchWrite {
                    feed_id: p.report.feed_id,
                    update: Some(u),
                    entries: &p.entries,
                })
            })
            .collect();
        let results = if writes.is_empty() {
            Ok(Vec::new())
        } else {
            // A panic in the store fails this batch's fetches (their next poll brings the same
            // entries), never the writer.
            let rules = self.rules();
            AssertUnwindSafe(self.store.apply_fetches(&writes, &rules))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(StoreError::Internal(panic_text(&*panic))))
        };
        drop(writes);
        let results: Vec<Result<IngestStats, String>> = match results {
            Ok(r) => r
                .into_iter()
                .map(|r| r.map_err(|e| e.to_string()))
                .collect(),
            // Nothing of the batch was stored: every fetch in it failed the same way.
            Err(e) => {
                vec![Err(e.to_string()); prepared.iter().filter(|p| p.update.is_some()).count()]
            }
        };
        let mut results = results.into_iter();
        let mut reports = Vec::with_capacity(prepared.len());
        for p in prepared {
            let Prepared {
                mut report,
                interval,
                update,
                ..
            } = p;
            let Some(update) = update else {
                reports.push(report);
                continue;
            };
            match results.next() {
                Some(Ok(stats)) => {
                    if update.status == "ok" {
                        tracing::info!(
                            feed = %report.name, url = %report.url, new = stats.new, linked = stats.linked,
                            total = stats.total, "feed fetched"
                        );
                        report.result = FeedResult::Stored(stats);
                    }
                    reports.push(report);
                }
                Some(Err(e)) => reports.push(self.store_failed(report, interval, &e)),
                None => reports.push(report),
            }
        }
        reports
    }

    /// A fetch the database did not take fails this feed, not the whole run: its next fetch
    /// brings the same entries again.
    fn store_failed(
        &self,
        report: FeedReport,
        interval: Duration,
        e: &dyn std::fmt::Display,
    ) -> FeedReport {
        tracing::error!(feed = %report.name, url = %report.url, error = %e, "cannot store the fetch");
        FeedReport {
            result: FeedResult::Failed(format!("cannot store the fetch: {e}")),
            next_poll: Some(schedule::add(self.clock.now(), interval)),
            host_block: None,
            duration: None,
            ..report
        }
    }

    /// Permanent redirects move the feed only once they repeat; temporary ones never do.
    fn note_redirects(
        &self,
        job: &FeedJob,
        state: &FeedState,
        r: &ResponseMeta,
        update: &mut FeedUpdate,
    ) {
        let permanent = !r.redirects.is_empty() && r.redirects.iter().all(Redirect::is_permanent);
        if !permanent {
            update.redirect_target = None;
            update.redirect_count = 0;
            return;
        }
        let target = r.final_url.to_string();
        let count = if state.redirect_target.as_deref() == Some(target.as_str()) {
            state.redirect_count + 1
        } else {
            1
        };
        if count >= 2 && state.fetch_url.as_deref() != Some(target.as_str()) {
            tracing::warn!(feed = %job.name, url = %job.url, moved_to = %target,
                "feed moved permanently (repeated 301/308); polling the new URL — update the config");
            update.fetch_url = Some(target.clone());
        }
        update.redirect_target = Some(target);
        update.redirect_count = count;
    }

    /// Runs a blocking corpus operation on the blocking pool (the corpus does file I/O and a
    /// filesystem sync).
    async fn with_corpus<T: Send + 'static>(
        &mut self,
        op: impl FnOnce(&mut Corpus) -> T + Send + 'static,
    ) -> Result<T, CorpusError> {
        let corpus = self.corpus.take();
        let floor = match &corpus {
            Some(_) => 0,
            None => self
                .store
                .next_record_seq()
                .await
                .map_err(|e| CorpusError::Folder {
                    path: self.corpus_dir.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?,
        };
        let dir = self.corpus_dir.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut corpus = match corpus {
                Some(c) => c,
                None => {
                    let mut c = Corpus::open(&dir)?;
                    c.raise_next_seq(floor);
                    c
                }
            };
            let out = op(&mut corpus);
            Ok::<_, CorpusError>((corpus, out))
        })
        .await;
        match joined {
            Ok(Ok((corpus, out))) => {
                self.corpus = Some(corpus);
                Ok(out)
            }
            Ok(Err(e)) => Err(e),
            Err(join) => Err(CorpusError::Folder {
                path: self.corpus_dir.clone(),
                source: std::io::Error::other(join.to_string()),
            }),
        }
    }

    /// Re-emits records whose file is missing from the corpus folder (deleted, or lost with a
    /// disk) under their recorded name. Called at start-up.
    pub async fn repair_missing(&mut self) -> Result<usize, StoreError> {
        let paths = self.store.record_paths().await?;
        if paths.is_empty() {
            return Ok(0);
        }
        let missing = match self.with_corpus(move |c| c.missing(&paths)).await {
            Ok(m) => m,
            Err(e) => {
                self.note_corpus_error(&e);
                return Ok(0);
            }
        };
        if missing.is_empty() {
            return Ok(0);
        }
        tracing::warn!(
            count = missing.len(),
            "record files missing from the corpus; writing them again"
        );
        let records = self.store.records_by_id(&missing).await?;
        let format = self.corpus_settings.record_format;
        let (written, err) = self
            .with_corpus(move |c| c.write(&records, format))
            .await
            .unwrap_or_else(|e| (Vec::new(), Some(e)));
        if let Some(e) = err {
            self.note_corpus_error(&e);
        }
        self.store.set_record_paths(&written).await?;
        Ok(written.len())
    }

    /// Writes every pending record, one batch and one barrier at a time. A corpus error (full
    /// disk, read-only folder) is logged and kept for the summary; the entries stay pending in
    /// the database and are written by a later flush.
    pub async fn flush_records(&mut self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let markdown = self.corpus_settings.record_format == config::RecordFormat::Markdown;
            let pending = self.store.pending_records(RECORD_BATCH, markdown).await?;
            if pending.is_empty() {
                self.stats.records_pending = 0;
                break;
            }
            let batch_len = pending.len();
            let format = self.corpus_settings.record_format;
            let (written, err) = match self.with_corpus(move |c| c.write(&pending, format)).await {
                Ok(r) => r,
                Err(e) => (Vec::new(), Some(e)),
            };
            self.store.set_record_paths(&written).await?;
            total += written.len();
            self.stats.records_written += written.len();
            if let Some(m) = &self.metrics {
                m.records_written(written.len());
            }
            if let Some(e) = err {
                self.note_corpus_error(&e);
                self.stats.records_pending = batch_len - written.len();
                break;
            }
            if batch_len < RECORD_BATCH {
                self.stats.records_pending = 0;
                break;
            }
        }
        if total > 0 {
            tracing::info!(records = total, "records written");
        }
        Ok(total)
    }

    async fn flush_and_report(
        &mut self,
        waiting: &mut Vec<FeedReport>,
        reports: &Option<mpsc::UnboundedSender<FeedReport>>,
    ) -> Result<(), StoreError> {
        self.flush_records().await?;
        if let Some(tx) = reports {
            for r in waiting.drain(..) {
                let _ = tx.send(r);
            }
        } else {
            waiting.clear();
        }
        Ok(())
    }

    fn note_corpus_error(&mut self, e: &CorpusError) {
        tracing::error!(corpus = %self.corpus_dir.display(), error = %e, "records not written; entries stay stored and will be written later");
        self.stats.last_corpus_error = Some(e.to_string());
        // Re-open next time: the folder may have been fixed or replaced.
        self.corpus = None;
    }

    /// Consumes fetch results until every sender is gone: stores each, and writes records after
    /// each burst of results that arrived together.
    pub async fn run(
        mut self,
        mut results: mpsc::Receiver<Fetch>,
        reports: Option<mpsc::UnboundedSender<FeedReport>>,
    ) -> Result<Writer, StoreError> {
        // Records are written in batches: when enough entries wait, or when no fetch result has
        // arrived for a moment. One durability barrier then covers many feeds.
        let mut waiting: Vec<FeedReport> = Vec::new();
        let mut unflushed = 0usize;
        loop {
            let next = if waiting.is_empty() {
                results.recv().await
            } else {
                match tokio::time::timeout(FLUSH_IDLE, results.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        self.flush_and_report(&mut waiting, &reports).await?;
                        unflushed = 0;
                        continue;
                    }
                }
            };
            let Some(first) = next else { break };
            // Whatever arrived together is stored in one transaction, up to a bound on the
            // entries it holds in memory.
            let mut entries = first.entry_count();
            let mut batch = vec![first];
            while entries < BATCH_ENTRIES
                && batch.len() < BATCH_FETCHES
                && let Ok(more) = results.try_recv()
            {
                entries += more.entry_count();
                batch.push(more);
            }
            for report in self.store_batch(batch).await {
                if let FeedResult::Stored(s) = &report.result {
                    unflushed += s.new + s.updated;
                }
                waiting.push(report);
            }
            if unflushed >= RECORD_BATCH {
                self.flush_and_report(&mut waiting, &reports).await?;
                unflushed = 0;
            }
        }
        self.flush_and_report(&mut waiting, &reports).await?;
        Ok(self)
    }
}
