//! The single writer: stores fetch results and writes records.
//!
//! Fetching is concurrent; writing is not: SQLite has one writer anyway, and one writer task also
//! owns the record numbering, so numbers never race. The writer stores each fetch in its own
//! transaction, then writes the records of everything stored so far as one batch with one
//! durability barrier, and only then marks them in the database. A crash at any point leaves
//! entries that are stored but unmarked; the next start writes (or adopts) their records.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::mpsc;

use crate::config;
use crate::corpus::{Corpus, CorpusError};
use crate::ingest::report::{FeedReport, FeedResult};
use crate::model::feed::FeedJob;
use crate::pipeline::fetch::Redirect;
use crate::pipeline::hints::FeedHints;
use crate::pipeline::run::{
    Fetch, Outcome, ResponseMeta, host_of, panic_text, parse_time, rfc3339,
};
use crate::runtime::clock::Clock;
use crate::schedule;
use crate::store::{
    FeedState, FeedUpdate, FetchWrite, IngestRules, IngestStats, NewEntry, Store, StoreError,
};

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
    metrics: Option<Arc<crate::runtime::metrics::Metrics>>,
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
            near_duplicate: &crate::pipeline::text::quality::near_duplicate,
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
    pub fn with_metrics(
        mut self,
        metrics: Option<Arc<crate::runtime::metrics::Metrics>>,
    ) -> Writer {
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
