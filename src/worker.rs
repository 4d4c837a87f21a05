//! One pass of the pipeline for a feed — fetch, parse, normalize — and the single writer that
//! stores results and writes records.
//!
//! Fetching is concurrent; writing is not: SQLite has one writer anyway, and one writer task also
//! owns the record numbering, so numbers never race. The writer stores each fetch in its own
//! transaction, then writes the records of everything stored so far as one batch with one
//! durability barrier, and only then marks them in the database. A crash at any point leaves
//! entries that are stored but unmarked; the next start writes (or adopts) their records.

use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::Utc;
use tokio::sync::mpsc;
use url::Url;

use crate::config::Config;
use crate::corpus::{Corpus, CorpusError};
use crate::entry::{rfc3339_utc, sha256_hex};
use crate::fetch::{FetchError, Fetcher};
use crate::normalize::normalize_entry;
use crate::parse::{ParsedFeed, parse_feed};
use crate::store::{FeedInfo, FeedSpec, IngestStats, NewEntry, Store, StoreError};

/// A configured feed with its database id.
#[derive(Debug, Clone)]
pub struct FeedJob {
    pub id: i64,
    pub name: String,
    pub url: Url,
}

/// What fetching and preparing one feed produced, before anything is stored.
#[derive(Debug)]
pub enum Outcome {
    Parsed {
        info: FeedInfo,
        entries: Vec<NewEntry>,
    },
    Failed {
        error: String,
        http_status: Option<u16>,
    },
}

/// The result of one feed in a poll.
#[derive(Debug, Clone)]
pub struct FeedReport {
    pub name: String,
    pub url: String,
    pub result: Result<IngestStats, String>,
}

/// Fetches, parses and normalizes one feed. Never stores anything.
pub async fn fetch_and_prepare(fetcher: &Fetcher, url: &Url) -> Outcome {
    let fetched = match fetcher.get(url).await {
        Ok(f) => f,
        Err(e) => {
            let http_status = match e {
                FetchError::Status { status } => Some(status),
                _ => None,
            };
            return Outcome::Failed {
                error: e.to_string(),
                http_status,
            };
        }
    };
    let feed_url = url.as_str().to_string();
    let body = fetched.body;
    let content_type = fetched.content_type;
    // Parsing and HTML work is CPU-bound; keep it off the I/O threads.
    let parsed = tokio::task::spawn_blocking(move || {
        parse_feed(&body, content_type.as_deref(), &feed_url).map(|p| {
            let entries = prepare(&p, Utc::now());
            (p, entries)
        })
    })
    .await;
    match parsed {
        Ok(Ok((p, entries))) => Outcome::Parsed {
            info: FeedInfo {
                title: p.title.map(|t| crate::normalize::inline_text(&t)),
                site_url: p.site_url,
                http_status: Some(fetched.status),
            },
            entries,
        },
        Ok(Err(e)) => Outcome::Failed {
            error: e.to_string(),
            http_status: Some(fetched.status),
        },
        Err(e) => Outcome::Failed {
            error: format!("parser task failed: {e}"),
            http_status: Some(fetched.status),
        },
    }
}

/// Normalizes parsed entries into rows ready to store.
pub fn prepare(feed: &ParsedFeed, fetched_at: chrono::DateTime<Utc>) -> Vec<NewEntry> {
    feed.entries
        .iter()
        .map(|e| {
            let n = normalize_entry(e);
            let content_text = n.text();
            NewEntry {
                key: e.key.clone(),
                guid: e.guid.clone(),
                url: e.url.clone(),
                title: n.title,
                author: e.author.clone(),
                published: e.published.as_ref().map(rfc3339_utc),
                updated: e.updated.as_ref().map(rfc3339_utc),
                record_date: e.record_date(fetched_at),
                content_hash: sha256_hex(&content_text),
                content_text,
            }
        })
        .collect()
}

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
}

impl Engine {
    pub async fn open(config: Config) -> anyhow::Result<Engine> {
        let lock = InstanceLock::acquire(&config.storage.database)?;
        let store = Store::open(&config.storage.database).await?;
        let specs: Vec<FeedSpec<'_>> = config
            .feeds
            .iter()
            .map(|f| FeedSpec {
                name: &f.name,
                url: f.url.as_str(),
            })
            .collect();
        let ids = store.sync_feeds(&specs).await?;
        let feeds = config
            .feeds
            .iter()
            .filter_map(|f| {
                ids.get(&f.name).map(|&id| FeedJob {
                    id,
                    name: f.name.clone(),
                    url: f.url.clone(),
                })
            })
            .collect();
        let fetcher = Fetcher::new(&config.http)?;
        Ok(Engine {
            config,
            store,
            fetcher,
            feeds,
            _lock: lock,
        })
    }

    pub fn writer(&self) -> Writer {
        Writer::new(self.store.clone(), self.config.storage.corpus_dir.clone())
    }
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
    pub stats: WriterStats,
}

/// How many pending records one barrier covers at most.
const RECORD_BATCH: usize = 2000;

impl Writer {
    pub fn new(store: Store, corpus_dir: PathBuf) -> Writer {
        Writer {
            store,
            corpus_dir,
            corpus: None,
            stats: WriterStats::default(),
        }
    }

    /// Stores one feed's outcome in one transaction (or notes its failure).
    pub async fn commit(
        &mut self,
        job: &FeedJob,
        outcome: Outcome,
    ) -> Result<FeedReport, StoreError> {
        let result = match outcome {
            Outcome::Parsed { info, entries } => {
                let stats = self.store.ingest(job.id, &info, &entries).await?;
                tracing::info!(
                    feed = %job.name, url = %job.url, new = stats.new, linked = stats.linked,
                    total = stats.total, "feed fetched"
                );
                Ok(stats)
            }
            Outcome::Failed { error, http_status } => {
                tracing::warn!(feed = %job.name, url = %job.url, error = %error, "feed failed");
                self.store
                    .record_failure(job.id, &error, http_status)
                    .await?;
                Err(error)
            }
        };
        Ok(FeedReport {
            name: job.name.clone(),
            url: job.url.to_string(),
            result,
        })
    }

    /// Runs a blocking corpus operation on the blocking pool (the corpus does file I/O and a
    /// filesystem sync).
    async fn with_corpus<T: Send + 'static>(
        &mut self,
        op: impl FnOnce(&mut Corpus) -> T + Send + 'static,
    ) -> Result<T, CorpusError> {
        let corpus = self.corpus.take();
        let dir = self.corpus_dir.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut corpus = match corpus {
                Some(c) => c,
                None => Corpus::open(&dir)?,
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
        let (written, err) = self
            .with_corpus(move |c| c.write(&records))
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
            let pending = self.store.pending_records(RECORD_BATCH).await?;
            if pending.is_empty() {
                self.stats.records_pending = 0;
                break;
            }
            let batch_len = pending.len();
            let (written, err) = match self.with_corpus(move |c| c.write(&pending)).await {
                Ok(r) => r,
                Err(e) => (Vec::new(), Some(e)),
            };
            self.store.set_record_paths(&written).await?;
            total += written.len();
            self.stats.records_written += written.len();
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
        mut results: mpsc::Receiver<(FeedJob, Outcome)>,
        reports: Option<mpsc::UnboundedSender<FeedReport>>,
    ) -> Result<Writer, StoreError> {
        while let Some((job, outcome)) = results.recv().await {
            let mut batch = vec![(job, outcome)];
            while let Ok(more) = results.try_recv() {
                batch.push(more);
                if batch.len() >= 64 {
                    break;
                }
            }
            let mut done = Vec::with_capacity(batch.len());
            for (job, outcome) in batch {
                // A database error fails this feed, not the whole run: the next fetch of the
                // feed brings the same entries again.
                let report = match self.commit(&job, outcome).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(feed = %job.name, url = %job.url, error = %e, "cannot store the fetch");
                        FeedReport {
                            name: job.name.clone(),
                            url: job.url.to_string(),
                            result: Err(format!("cannot store the fetch: {e}")),
                        }
                    }
                };
                done.push(report);
            }
            self.flush_records().await?;
            if let Some(tx) = &reports {
                for r in done {
                    let _ = tx.send(r);
                }
            }
        }
        Ok(self)
    }
}
