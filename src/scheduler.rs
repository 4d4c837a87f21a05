//! When feeds are fetched: once each (`poll`) or each on its own interval until shutdown (`run`).
//!
//! Both modes share one shape: fetch tasks bounded by a semaphore feed a channel, and the single
//! writer drains it. Shutdown stops new fetches and aborts the ones in flight — an aborted fetch
//! has written nothing — while the writer finishes what it already received, so no fetch is ever
//! half stored.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::worker::{Engine, FeedJob, FeedReport, Outcome, WriterStats, fetch_and_prepare};

/// What one `poll` did.
#[derive(Debug, Clone, Default)]
pub struct PollSummary {
    pub reports: Vec<FeedReport>,
    pub writer: WriterStats,
    /// Feeds not polled because shutdown was requested.
    pub skipped: usize,
}

impl PollSummary {
    pub fn failed(&self) -> usize {
        self.reports.iter().filter(|r| r.result.is_err()).count()
    }
    pub fn new_entries(&self) -> usize {
        self.reports
            .iter()
            .filter_map(|r| r.result.as_ref().ok())
            .map(|s| s.new)
            .sum()
    }
}

fn spawn_fetch(
    set: &mut JoinSet<usize>,
    engine: &Engine,
    sem: &Arc<Semaphore>,
    tx: &mpsc::Sender<(FeedJob, Outcome)>,
    idx: usize,
    job: FeedJob,
) {
    let fetcher = engine.fetcher.clone();
    let sem = Arc::clone(sem);
    let tx = tx.clone();
    set.spawn(async move {
        // The semaphore is never closed, so acquiring only fails if it were; then run unbounded.
        let _permit = sem.acquire_owned().await.ok();
        tracing::debug!(feed = %job.name, url = %job.url, "fetching");
        let outcome = fetch_and_prepare(&fetcher, &job.url).await;
        let _ = tx.send((job, outcome)).await;
        idx
    });
}

/// Polls every configured feed once.
pub async fn poll_once(
    engine: &Engine,
    shutdown: CancellationToken,
) -> anyhow::Result<PollSummary> {
    let mut writer = engine.writer();
    writer.repair_missing().await?;
    writer.flush_records().await?;

    let (tx, rx) = mpsc::channel(engine.config.poll.concurrency * 2);
    let (rep_tx, mut rep_rx) = mpsc::unbounded_channel();
    let writer_task = tokio::spawn(writer.run(rx, Some(rep_tx)));
    let sem = Arc::new(Semaphore::new(engine.config.poll.concurrency));
    let mut set = JoinSet::new();
    for (idx, job) in engine.feeds.iter().enumerate() {
        spawn_fetch(&mut set, engine, &sem, &tx, idx, job.clone());
    }
    drop(tx);
    loop {
        tokio::select! {
            next = set.join_next() => if next.is_none() { break },
            () = shutdown.cancelled() => {
                tracing::info!(in_flight = set.len(), "shutdown requested; abandoning fetches in flight");
                set.abort_all();
                while set.join_next().await.is_some() {}
                break;
            }
        }
    }
    let writer = writer_task.await??;
    let mut summary = PollSummary {
        writer: writer.stats.clone(),
        ..PollSummary::default()
    };
    while let Ok(r) = rep_rx.try_recv() {
        summary.reports.push(r);
    }
    summary.skipped = engine.feeds.len() - summary.reports.len();
    Ok(summary)
}

/// Runs until `shutdown`: each feed is fetched when due, then again one interval after its
/// previous fetch finished. A feed is never fetched twice at once.
pub async fn run_daemon(engine: &Engine, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut writer = engine.writer();
    writer.repair_missing().await?;
    writer.flush_records().await?;

    let (tx, rx) = mpsc::channel(engine.config.poll.concurrency * 2);
    let writer_task = tokio::spawn(writer.run(rx, None));
    let sem = Arc::new(Semaphore::new(engine.config.poll.concurrency));
    let intervals: Vec<Duration> = engine.config.feeds.iter().map(|f| f.interval).collect();
    let start = Instant::now();
    let mut next_due: Vec<Instant> = vec![start; engine.feeds.len()];
    let mut in_flight = vec![false; engine.feeds.len()];
    let mut set: JoinSet<usize> = JoinSet::new();
    tracing::info!(feeds = engine.feeds.len(), "daemon started");

    loop {
        let now = Instant::now();
        for (idx, job) in engine.feeds.iter().enumerate() {
            if !in_flight[idx] && next_due[idx] <= now {
                in_flight[idx] = true;
                spawn_fetch(&mut set, engine, &sem, &tx, idx, job.clone());
            }
        }
        let wake = (0..engine.feeds.len())
            .filter(|&i| !in_flight[i])
            .map(|i| next_due[i])
            .min();
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(done) = set.join_next(), if !set.is_empty() => {
                match done {
                    Ok(idx) => {
                        in_flight[idx] = false;
                        next_due[idx] = Instant::now() + intervals[idx];
                        tracing::debug!(feed = %engine.feeds[idx].name, url = %engine.feeds[idx].url,
                            next_in_s = intervals[idx].as_secs(), "next poll scheduled");
                    }
                    Err(e) => tracing::error!(error = %e, "fetch task failed"),
                }
            }
            () = sleep_until_opt(wake) => {}
        }
    }

    tracing::info!(
        in_flight = set.len(),
        "shutdown requested; abandoning fetches in flight"
    );
    set.abort_all();
    while set.join_next().await.is_some() {}
    drop(tx);
    writer_task.await??;
    tracing::info!("daemon stopped");
    Ok(())
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
