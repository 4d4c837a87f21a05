//! The single writer: stores decided fetches and writes records. It makes no decision about a
//! feed (that is [`super::decide`]'s, in the fetch task) and never fetches or parses.
//!
//! Fetching is concurrent; writing is not: SQLite has one writer anyway, and one writer task also
//! owns the record numbering, so numbers never race. The writer stores a burst of fetches in one
//! transaction (a savepoint each), then writes the records of everything stored so far as one batch with one
//! durability barrier, and only then marks them in the database. A crash at any point leaves
//! entries that are stored but unmarked; the next start writes (or adopts) their records.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use tokio::sync::mpsc;

use crate::config;
use crate::corpus::{Corpus, CorpusError, FolderState, Form};
use crate::ingest::decide::Decision;
use crate::ingest::report::{FeedReport, FeedResult};
use crate::model::entry::NewEntry;
use crate::model::feed::FeedStatus;
use crate::pipeline::run::panic_text;
use crate::runtime::clock::Clock;
use crate::schedule;
use crate::store::{FetchWrite, IngestRules, IngestStats, Store, StoreError};

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
    clock: Arc<dyn Clock>,
    metrics: Option<Arc<crate::runtime::metrics::Metrics>>,
    corpus_settings: config::CorpusSettings,
    pub stats: WriterStats,
    /// Told after each stored batch (on a shared database its commit ended the batch's leases).
    stored: Arc<tokio::sync::Notify>,
    /// The corpus folder's state while it is known to hold the record of every entry with a
    /// record path (checked at start-up, then followed through this writer's own changes);
    /// `None` once anyone else may have changed it. Saved as the folder's mark at the end.
    folder: Option<FolderState>,
    /// When every record path was last compared with the folder.
    checked_at: Option<DateTime<Utc>>,
    /// The mark the database holds (folder state and check time), as read or saved by this
    /// writer: saving the same again is skipped.
    marked: Option<(FolderState, DateTime<Utc>)>,
}

/// What a blocking corpus operation gives back: the corpus, its result, the folder's state.
type CorpusOutcome<T> = Result<(Corpus, T, Option<FolderState>), CorpusError>;

/// A blocking corpus operation under way (see [`Writer::start_corpus`]).
struct CorpusJob<T> {
    task: tokio::task::JoinHandle<CorpusOutcome<T>>,
    /// The operation opened the folder (it was not open before).
    opened: bool,
}

/// Records written and the error that stopped their batch, if any.
type Written = (Vec<(i64, String)>, Option<CorpusError>);

/// A batch of records on its way to the folder while the writer goes on storing fetches: the
/// files and their barrier take as long as storing several fetches, and fetches waited for
/// them.
struct Flight {
    job: CorpusJob<Written>,
    /// Records in the batch; a full batch may have left others pending.
    len: usize,
    /// Reports of fetches stored before the batch was read, sent once their records are
    /// durable.
    reports: Vec<FeedReport>,
}

/// Fetch results stored in one transaction at most, and the entries they may carry.
const BATCH_FETCHES: usize = 64;
const BATCH_ENTRIES: usize = 500;

/// How many pending records one barrier covers at most. The batch's texts are read back from
/// the database at once: 500 keep that a few MB (2,000 cost 7 MB at the peak for no
/// measurable speed).
const RECORD_BATCH: usize = 500;

/// How long the writer waits for more fetch results before writing the records it has.
const FLUSH_IDLE: Duration = Duration::from_millis(100);

/// A start-up compares every record path with the folder at least this often, whatever the
/// folder's mark says (a change made in the same instant as this writer's own could leave the
/// folder's times as they were).
const FULL_CHECK_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(24);

impl Writer {
    pub fn new(store: Store, corpus_dir: PathBuf, clock: Arc<dyn Clock>) -> Writer {
        Writer {
            store,
            corpus_dir,
            corpus: None,
            clock,
            metrics: None,
            corpus_settings: config::CorpusSettings::default(),
            stats: WriterStats::default(),
            stored: Arc::new(tokio::sync::Notify::new()),
            folder: None,
            checked_at: None,
            marked: None,
        }
    }

    /// Notified after each batch of fetches is stored (before its records are written): the
    /// claims of a shared database can take the next feeds of those hosts then.
    pub fn stored_signal(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.stored)
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
        &mut self,
        feed_id: i64,
        entries: &[NewEntry],
    ) -> Result<IngestStats, StoreError> {
        self.open_numbering().await;
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

    /// Stores a burst of fetches in one transaction (one savepoint each, so a fetch the
    /// database refuses fails alone) and returns their reports in order.
    async fn store_batch(&mut self, prepared: Vec<Decision>) -> Vec<FeedReport> {
        let results = self.write_prepared(&prepared).await;
        let mut results = results.into_iter();
        let mut reports = Vec::with_capacity(prepared.len());
        for p in prepared {
            let interval = p.job.cfg.interval;
            let Decision {
                mut report, update, ..
            } = p;
            let Some(update) = update else {
                reports.push(report);
                continue;
            };
            match results.next() {
                Some(Ok(stats)) => {
                    if update.status == FeedStatus::Ok {
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

    /// Stores the fetches that have something to store, in one transaction; one result per
    /// such fetch, in order. A panic in the store fails this batch's fetches (their next poll
    /// brings the same entries), never the writer.
    async fn write_prepared(&self, prepared: &[Decision]) -> Vec<Result<IngestStats, String>> {
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
        if writes.is_empty() {
            return Vec::new();
        }
        let rules = self.rules();
        let results = AssertUnwindSafe(self.store.apply_fetches(&writes, &rules))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(StoreError::Internal(panic_text(&*panic))));
        match results {
            Ok(r) => r
                .into_iter()
                .map(|r| r.map_err(|e| e.to_string()))
                .collect(),
            // Nothing of the batch was stored: every fetch in it failed the same way.
            Err(e) => vec![Err(e.to_string()); writes.len()],
        }
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

    /// Runs a blocking corpus operation on the blocking pool (the corpus does file I/O and a
    /// filesystem sync).
    async fn with_corpus<T: Send + 'static>(
        &mut self,
        op: impl FnOnce(&mut Corpus) -> T + Send + 'static,
    ) -> Result<T, CorpusError> {
        let job = self.start_corpus(op).await?;
        let joined = job.task.await;
        self.finish_corpus(joined, job.opened).await
    }

    /// Starts a blocking corpus operation: the corpus (and the folder's known state) is the
    /// operation's until [`Writer::finish_corpus`] takes its result, and no other may start
    /// meanwhile.
    async fn start_corpus<T: Send + 'static>(
        &mut self,
        op: impl FnOnce(&mut Corpus) -> T + Send + 'static,
    ) -> Result<CorpusJob<T>, CorpusError> {
        let corpus = self.corpus.take();
        let opened = corpus.is_none();
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
        let shared = self.store.is_shared();
        // The folder stays known complete through this writer's own changes, not through anyone
        // else's: one made since the last operation unsettles it.
        let known = self.folder.take();
        let task = tokio::task::spawn_blocking(move || {
            let still_known = known.is_some() && FolderState::of(&dir) == known;
            let mut corpus = match corpus {
                Some(c) => c,
                None => {
                    let mut c = Corpus::open_with(&dir, shared)?;
                    c.raise_next_seq(floor);
                    c
                }
            };
            let out = op(&mut corpus);
            // Only an operation on the folder just opened may use its listing.
            corpus.forget_listing();
            let folder = if still_known {
                FolderState::of(&dir)
            } else {
                None
            };
            Ok::<_, CorpusError>((corpus, out, folder))
        });
        Ok(CorpusJob { task, opened })
    }

    /// Takes back the corpus from an operation [`Writer::start_corpus`] started, and its result.
    async fn finish_corpus<T>(
        &mut self,
        joined: Result<CorpusOutcome<T>, tokio::task::JoinError>,
        opened: bool,
    ) -> Result<T, CorpusError> {
        let shared = self.store.is_shared();
        match joined {
            Ok(Ok((corpus, out, folder))) => {
                self.folder = folder;
                if opened && shared {
                    // Numbers the database hands out start above the folder's own records.
                    self.store
                        .raise_record_seq(corpus.next_seq())
                        .await
                        .map_err(|e| CorpusError::Folder {
                            path: self.corpus_dir.clone(),
                            source: std::io::Error::other(e.to_string()),
                        })?;
                }
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
    /// disk) under their recorded name. Called at start-up. Skipped when the folder's mark shows
    /// it unchanged since a check that found everything (and as many record paths stored).
    pub async fn repair_missing(&mut self) -> Result<usize, StoreError> {
        let key = self.corpus_dir.display().to_string();
        let shared = self.store.is_shared();
        if !shared {
            // The folder exists from here on (as the first record write would make it), so
            // an empty corpus has a state to mark too.
            let _ = std::fs::create_dir_all(&self.corpus_dir);
        }
        let before = if shared {
            None
        } else {
            FolderState::of(&self.corpus_dir)
        };
        let now = self.clock.now();
        if let Some(state) = before
            && let Some(mark) = self.store.corpus_mark(&key).await?
            && FolderState::decode(&mark.folder_state) == Some(state)
            && mark.records == mark.records_now
            && mark.checked_at <= now
            && now - mark.checked_at < FULL_CHECK_EVERY
        {
            tracing::debug!(corpus = %key, "corpus folder unchanged since its last check");
            self.folder = Some(state);
            self.checked_at = Some(mark.checked_at);
            self.marked = Some((state, mark.checked_at));
            return Ok(0);
        }
        self.folder = before;
        self.checked_at = Some(now);
        let repaired = self.check_records().await?;
        // A folder changed moments ago (a poll that just ended) is marked at the end instead:
        // fetches are waiting.
        self.save_mark(false).await;
        Ok(repaired)
    }

    /// Saves the folder's mark if it is still known complete and its last change is settled;
    /// with `wait`, waits the few milliseconds until it is (a poll that wrote records ends so).
    async fn save_mark(&mut self, wait: bool) {
        let (Some(known), Some(checked_at)) = (self.folder, self.checked_at) else {
            return;
        };
        let unchanged = |dir: &std::path::Path| FolderState::of(dir) == Some(known);
        if !unchanged(&self.corpus_dir) {
            return;
        }
        // The database holds this mark already (a poll that wrote no record): saving it again
        // would only count the record paths once more. A record path stored meanwhile without
        // a file written (an entry adopting its record) leaves the saved count behind, which
        // makes the next start check the folder: the safe side.
        if self.marked == Some((known, checked_at)) {
            return;
        }
        if let Some(left) = known.settles_in(std::time::SystemTime::now()) {
            if !wait {
                return;
            }
            tokio::time::sleep(left).await;
            if !unchanged(&self.corpus_dir) || !known.settled(std::time::SystemTime::now()) {
                return;
            }
        }
        let key = self.corpus_dir.display().to_string();
        match self
            .store
            .save_corpus_mark(&key, &known.encode(), checked_at)
            .await
        {
            Ok(()) => self.marked = Some((known, checked_at)),
            Err(e) => {
                tracing::warn!(corpus = %key, error = %e, "cannot save the corpus folder's mark; the next start checks every record");
            }
        }
    }

    /// Compares every record path with the folder and writes the missing records again.
    async fn check_records(&mut self) -> Result<usize, StoreError> {
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
        let form = Form::of(&self.corpus_settings);
        let (written, err) = self
            .with_corpus(move |c| c.write(&records, form))
            .await
            .unwrap_or_else(|e| (Vec::new(), Some(e)));
        if let Some(e) = err {
            self.note_corpus_error(&e);
        }
        self.store.set_record_paths(&written).await?;
        Ok(written.len())
    }

    /// A shared database numbers records (when it stores them) only once it knows the corpus
    /// folder's numbers: the folder is opened first. False when it cannot be (logged).
    async fn open_numbering(&mut self) -> bool {
        if self.corpus.is_some() || !self.store.is_shared() {
            return true;
        }
        match self.with_corpus(|_| ()).await {
            Ok(()) => true,
            Err(e) => {
                self.note_corpus_error(&e);
                false
            }
        }
    }

    /// Writes every pending record, one batch and one barrier at a time. A corpus error (full
    /// disk, read-only folder) is logged and kept for the summary; the entries stay pending in
    /// the database and are written by a later flush.
    pub async fn flush_records(&mut self) -> Result<usize, StoreError> {
        let before = self.stats.records_written;
        loop {
            let Ok(mut flight) = self.launch(Vec::new()).await? else {
                break;
            };
            let joined = (&mut flight.job.task).await;
            let (_, more) = self.land(flight, joined).await?;
            if !more {
                break;
            }
        }
        Ok(self.stats.records_written - before)
    }

    /// Reads the next batch of pending records and starts writing it, for `reports`. The
    /// reports come back when there is nothing to write or it cannot start (logged; the
    /// entries stay pending). No other corpus operation may run until the batch has landed.
    async fn launch(
        &mut self,
        reports: Vec<FeedReport>,
    ) -> Result<Result<Flight, Vec<FeedReport>>, StoreError> {
        if !self.open_numbering().await {
            return Ok(Err(reports));
        }
        let markdown = self.corpus_settings.record_format == config::RecordFormat::Markdown;
        let pending = self.store.pending_records(RECORD_BATCH, markdown).await?;
        if pending.is_empty() {
            self.stats.records_pending = 0;
            return Ok(Err(reports));
        }
        let len = pending.len();
        let form = Form::of(&self.corpus_settings);
        match self.start_corpus(move |c| c.write(&pending, form)).await {
            Ok(job) => Ok(Ok(Flight { job, len, reports })),
            Err(e) => {
                self.note_corpus_error(&e);
                self.stats.records_pending = len;
                Ok(Err(reports))
            }
        }
    }

    /// Marks the records of a batch that has been written, once they are durable. Returns
    /// the batch's reports and whether more records may be pending (a full batch written
    /// without error).
    async fn land(
        &mut self,
        flight: Flight,
        joined: Result<CorpusOutcome<Written>, tokio::task::JoinError>,
    ) -> Result<(Vec<FeedReport>, bool), StoreError> {
        let (written, err) = self
            .finish_corpus(joined, flight.job.opened)
            .await
            .unwrap_or_else(|e| (Vec::new(), Some(e)));
        self.store.set_record_paths(&written).await?;
        self.stats.records_written += written.len();
        if let Some(m) = &self.metrics {
            m.records_written(written.len());
        }
        if !written.is_empty() {
            tracing::info!(records = written.len(), "records written");
        }
        if let Some(e) = err {
            self.note_corpus_error(&e);
            self.stats.records_pending = flight.len - written.len();
            return Ok((flight.reports, false));
        }
        let more = flight.len >= RECORD_BATCH;
        if !more {
            self.stats.records_pending = 0;
        }
        Ok((flight.reports, more))
    }

    /// [`Writer::launch`], sending the reports at once when there is nothing to write.
    async fn launch_or_report(
        &mut self,
        reports: Vec<FeedReport>,
        tx: &Option<mpsc::UnboundedSender<FeedReport>>,
    ) -> Result<Option<Flight>, StoreError> {
        Ok(match self.launch(reports).await? {
            Ok(flight) => Some(flight),
            Err(reports) => {
                send_reports(tx, reports);
                None
            }
        })
    }

    async fn flush_and_report(
        &mut self,
        waiting: &mut Vec<FeedReport>,
        reports: &Option<mpsc::UnboundedSender<FeedReport>>,
    ) -> Result<(), StoreError> {
        self.flush_records().await?;
        send_reports(reports, std::mem::take(waiting));
        Ok(())
    }

    fn note_corpus_error(&mut self, e: &CorpusError) {
        tracing::error!(corpus = %self.corpus_dir.display(), error = %e, "records not written; entries stay stored and will be written later");
        self.stats.last_corpus_error = Some(e.to_string());
        // Re-open next time: the folder may have been fixed or replaced.
        self.corpus = None;
    }

    /// What a poll's or the daemon's writer does: records missing from the folder and records
    /// still pending (a crash) first, then [`Writer::run`]. Fetches start meanwhile: their
    /// results wait in the channel, and nothing of theirs is written before the repair.
    pub async fn serve(
        mut self,
        results: mpsc::Receiver<Decision>,
        reports: Option<mpsc::UnboundedSender<FeedReport>>,
    ) -> Result<Writer, StoreError> {
        self.repair_missing().await?;
        self.flush_records().await?;
        self.run(results, reports).await
    }

    /// Consumes fetch results until every sender is gone: stores each, and writes records after
    /// each burst of results that arrived together.
    pub async fn run(
        mut self,
        mut results: mpsc::Receiver<Decision>,
        reports: Option<mpsc::UnboundedSender<FeedReport>>,
    ) -> Result<Writer, StoreError> {
        // Records are written in batches: when enough entries wait, or when no fetch result has
        // arrived for a moment. One durability barrier then covers many feeds, and the fetches
        // that arrive meanwhile are stored while the batch is written (a report waits for its
        // records).
        let mut waiting: Vec<FeedReport> = Vec::new();
        let mut unflushed = 0usize;
        let mut flight: Option<Flight> = None;
        let mut open = true;
        while open || flight.is_some() {
            tokio::select! {
                biased;
                joined = async {
                    match flight.as_mut() {
                        Some(f) => (&mut f.job.task).await,
                        None => std::future::pending().await,
                    }
                } => {
                    let Some(done) = flight.take() else { continue };
                    let (mut landed, more) = self.land(done, joined).await?;
                    if more {
                        // Records of these fetches may still be pending: the next batch.
                        landed.append(&mut waiting);
                        unflushed = 0;
                        flight = self.launch_or_report(landed, &reports).await?;
                    } else {
                        send_reports(&reports, landed);
                        if unflushed >= RECORD_BATCH {
                            unflushed = 0;
                            flight = self.launch_or_report(std::mem::take(&mut waiting), &reports).await?;
                        }
                    }
                }
                next = results.recv(), if open => {
                    let Some(first) = next else {
                        open = false;
                        continue;
                    };
                    // Whatever arrived together is stored in one transaction, up to a bound on
                    // the entries it holds in memory.
                    let mut entries = first.entry_count();
                    let mut batch = vec![first];
                    while entries < BATCH_ENTRIES
                        && batch.len() < BATCH_FETCHES
                        && let Ok(more) = results.try_recv()
                    {
                        entries += more.entry_count();
                        batch.push(more);
                    }
                    let stored = self.store_batch(batch).await;
                    self.stored.notify_one();
                    for report in stored {
                        if let FeedResult::Stored(s) = &report.result {
                            unflushed += s.new + s.updated;
                        }
                        waiting.push(report);
                    }
                    if unflushed >= RECORD_BATCH && flight.is_none() {
                        unflushed = 0;
                        flight = self.launch_or_report(std::mem::take(&mut waiting), &reports).await?;
                    }
                }
                () = tokio::time::sleep(FLUSH_IDLE), if open && flight.is_none() && !waiting.is_empty() => {
                    unflushed = 0;
                    flight = self.launch_or_report(std::mem::take(&mut waiting), &reports).await?;
                }
            }
        }
        self.flush_and_report(&mut waiting, &reports).await?;
        self.store.flush_bands().await?;
        self.save_mark(true).await;
        Ok(self)
    }
}

/// Hands reports on (to nobody when no one listens).
fn send_reports(tx: &Option<mpsc::UnboundedSender<FeedReport>>, reports: Vec<FeedReport>) {
    if let Some(tx) = tx {
        for r in reports {
            let _ = tx.send(r);
        }
    }
}
