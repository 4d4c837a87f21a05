//! When feeds are fetched: once each (`poll`) or each when due until shutdown (`run`).
//!
//! Both modes share one shape: fetch tasks bounded by a semaphore feed a channel, and the single
//! writer drains it, decides each feed's next due time and reports back. Shutdown stops new
//! fetches and aborts the ones in flight — an aborted fetch has written nothing — while the
//! writer finishes what it already received, so no fetch is ever half stored.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::schedule;
use crate::worker::{
    Engine, FeedJob, FeedReport, FeedResult, Fetch, WriterStats, fetch_feed, host_of,
};

/// What one `poll` did.
#[derive(Debug, Clone, Default)]
pub struct PollSummary {
    pub reports: Vec<FeedReport>,
    pub writer: WriterStats,
    /// Feeds not polled because shutdown was requested.
    pub interrupted: usize,
}

impl PollSummary {
    pub fn count(&self, pred: impl Fn(&FeedResult) -> bool) -> usize {
        self.reports.iter().filter(|r| pred(&r.result)).count()
    }
    pub fn new_entries(&self) -> usize {
        self.reports
            .iter()
            .map(|r| match &r.result {
                FeedResult::Stored(s) => s.new,
                _ => 0,
            })
            .sum()
    }
}

fn spawn_fetch(
    set: &mut JoinSet<()>,
    engine: &Engine,
    clock: &Arc<dyn Clock>,
    sem: &Arc<Semaphore>,
    tx: &mpsc::Sender<Fetch>,
    job: FeedJob,
) {
    let fetcher = engine.fetcher.clone();
    let store = engine.store.clone();
    let clock = Arc::clone(clock);
    let sem = Arc::clone(sem);
    let tx = tx.clone();
    set.spawn(async move {
        // The semaphore is never closed; if it were, the fetch would run unbounded.
        let _permit = sem.acquire_owned().await.ok();
        tracing::debug!(feed = %job.name, url = %job.url, "fetching");
        let fetch = fetch_feed(&fetcher, &store, clock.as_ref(), job).await;
        let _ = tx.send(fetch).await;
    });
}

/// Polls every configured feed once (feeds disabled by a 410, or inside a server's
/// Retry-After window, are reported as skipped).
pub async fn poll_once(
    engine: &Engine,
    shutdown: CancellationToken,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<PollSummary> {
    let mut writer = engine.writer(Arc::clone(&clock));
    writer.repair_missing().await?;
    writer.flush_records().await?;

    let (tx, rx) = mpsc::channel(engine.config.poll.concurrency * 2);
    let (rep_tx, mut rep_rx) = mpsc::unbounded_channel();
    let writer_task = tokio::spawn(writer.run(rx, Some(rep_tx)));
    let sem = Arc::new(Semaphore::new(engine.config.poll.concurrency));
    let mut set = JoinSet::new();
    for job in &engine.feeds {
        spawn_fetch(&mut set, engine, &clock, &sem, &tx, job.clone());
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
    summary.interrupted = engine.feeds.len() - summary.reports.len();
    Ok(summary)
}

/// Runs until `shutdown`: each feed is fetched when due. The writer reports each feed's next
/// due time (interval or crontab, server hints, backoff, Retry-After); a 429 also holds back the
/// other feeds of its host for a bounded time. A feed is never fetched twice at once.
pub async fn run_daemon(
    engine: &Engine,
    shutdown: CancellationToken,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let mut writer = engine.writer(Arc::clone(&clock));
    writer.repair_missing().await?;
    writer.flush_records().await?;

    let (tx, rx) = mpsc::channel(engine.config.poll.concurrency * 2);
    let (rep_tx, mut rep_rx) = mpsc::unbounded_channel::<FeedReport>();
    let mut writer_task = tokio::spawn(writer.run(rx, Some(rep_tx)));
    let sem = Arc::new(Semaphore::new(engine.config.poll.concurrency));

    let now = clock.now();
    let mut next_due: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(engine.feeds.len());
    let mut index: HashMap<i64, usize> = HashMap::new();
    for (idx, job) in engine.feeds.iter().enumerate() {
        index.insert(job.id, idx);
        let state = engine.store.feed_state(job.id).await?;
        if let Some(reason) = &state.disabled_reason {
            tracing::warn!(feed = %job.name, url = %job.url, reason = %reason, "feed disabled; not polling it");
            next_due.push(None);
            continue;
        }
        let stored = state
            .next_poll_at
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc));
        next_due.push(Some(schedule::first_due(
            stored,
            now,
            engine.config.poll.startup_jitter,
            job.cfg.interval,
            rand::random::<f64>(),
        )));
    }
    let mut in_flight = vec![false; engine.feeds.len()];
    let mut host_blocks: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut set: JoinSet<()> = JoinSet::new();
    tracing::info!(feeds = engine.feeds.len(), "daemon started");

    loop {
        let now = clock.now();
        host_blocks.retain(|_, until| *until > now);
        for (idx, job) in engine.feeds.iter().enumerate() {
            let Some(due) = next_due[idx] else { continue };
            if in_flight[idx] || due > now {
                continue;
            }
            if let Some(until) = host_blocks.get(&host_of(&job.url)) {
                next_due[idx] = Some(due.max(*until));
                continue;
            }
            in_flight[idx] = true;
            spawn_fetch(&mut set, engine, &clock, &sem, &tx, job.clone());
        }
        while set.try_join_next().is_some() {}
        let wake = (0..engine.feeds.len())
            .filter(|&i| !in_flight[i])
            .filter_map(|i| next_due[i])
            .min();
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(report) = rep_rx.recv() => {
                if let Some(&idx) = index.get(&report.feed_id) {
                    in_flight[idx] = false;
                    next_due[idx] = report.next_poll;
                    if let Some(next) = report.next_poll {
                        tracing::debug!(feed = %report.name, url = %report.url, next = %next.to_rfc3339(), "next poll");
                    }
                }
                if let Some((host, until)) = report.host_block {
                    tracing::warn!(host = %host, until = %until.to_rfc3339(), "host asked us to slow down (429); holding its feeds");
                    let entry = host_blocks.entry(host).or_insert(until);
                    *entry = (*entry).max(until);
                }
            }
            () = sleep_until_opt(clock.as_ref(), wake) => {}
            res = &mut writer_task => {
                set.abort_all();
                return match res {
                    Ok(Ok(_)) => Err(anyhow::anyhow!("the writer stopped unexpectedly")),
                    Ok(Err(e)) => Err(anyhow::Error::new(e).context("the writer failed")),
                    Err(e) => Err(anyhow::Error::new(e).context("the writer task failed")),
                };
            }
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

async fn sleep_until_opt(clock: &dyn Clock, at: Option<DateTime<Utc>>) {
    match at {
        Some(at) => clock.sleep_until(at).await,
        None => std::future::pending().await,
    }
}
