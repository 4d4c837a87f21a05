//! When feeds are fetched: once each (`poll`) or each when due until shutdown (`run`).
//!
//! Both modes share one shape: fetch tasks bounded by a semaphore feed a channel, and the single
//! writer drains it, decides each feed's next due time and reports back. Shutdown stops new
//! fetches and aborts the ones in flight — an aborted fetch has written nothing — while the
//! writer finishes what it already received, so no fetch is ever half stored.
//!
//! On a database several instances share, which feeds to fetch is not decided in memory: due
//! feeds are claimed in the database ([`Store::claim_due`]), under the fleet's per-host limits,
//! a heartbeat renews the claims while fetches run, and the writer's commit ends them.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::ingest::decide::{Decision, Settings, decide_guarded};
use crate::ingest::report::{FeedReport, FeedResult};
use crate::ingest::writer::WriterStats;
use crate::model::feed::{FeedJob, FeedState};
use crate::pipeline::fetch::host_of;
use crate::pipeline::run::{Fetch, Source, panic_text, run_feed};
use crate::runtime::clock::Clock;
use crate::runtime::engine::Engine;
use crate::runtime::metrics::Metrics;
use crate::runtime::systemd;
use crate::schedule;
use crate::store::{ClaimLimits, ClaimMode, Store};

/// Renews this instance's heartbeat and leases every `every` until `stop` (shared databases).
fn spawn_heartbeat(store: &Store, every: std::time::Duration, stop: CancellationToken) {
    if !store.is_shared() {
        return;
    }
    let store = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(e) = store.heartbeat().await {
                        tracing::warn!(error = %e, "cannot renew this instance's heartbeat");
                    }
                }
            }
        }
    });
}

/// A feed another instance holds at the moment (`poll` on a shared database).
fn held_elsewhere(job: &FeedJob) -> FeedReport {
    FeedReport {
        feed_id: job.id,
        name: job.name.clone(),
        url: job.url.to_string(),
        result: FeedResult::Skipped("being fetched by another instance".into()),
        next_poll: None,
        host_block: None,
        duration: None,
    }
}

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
    tx: &mpsc::Sender<Decision>,
    job: FeedJob,
    state: Option<FeedState>,
) {
    let settings = Settings::from(&engine.config.poll);
    let notes = Arc::clone(&engine.notes);
    let fetcher = engine.fetcher.clone();
    let store = engine.store.clone();
    let clock = Arc::clone(clock);
    let sem = Arc::clone(sem);
    let tx = tx.clone();
    set.spawn(async move {
        // The semaphore is never closed; if it were, the fetch would run unbounded.
        let permit = sem.acquire_owned().await.ok();
        tracing::debug!(feed = %job.name, url = %job.url, "fetching");
        // A panic anywhere in this feed's fetch, parse or text work fails this feed alone: the
        // writer still hears of it, so its slot is freed and its next poll scheduled.
        let started_at = clock.now();
        let fallback = job.clone();
        let fetch = AssertUnwindSafe(run_feed(&fetcher, Some(&store), clock.as_ref(), job, state, Source::Feed, permit))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                let error = format!("internal error on this feed: {}", panic_text(&*panic));
                tracing::error!(feed = %fallback.name, url = %fallback.url, error = %error, "feed failed");
                Fetch::failed(fallback, started_at, error)
            });
        // What the fetch means for the feed is decided here, next to the fetch; the writer
        // only stores it.
        let decision = decide_guarded(fetch, &settings, rand::random::<f64>());
        notes.log(&decision.job, &decision.notes);
        let _ = tx.send(decision).await;
    });
}

/// `poll` on a shared database: one round of every configured feed, claimed a few at a time.
struct Round {
    since: DateTime<Utc>,
    /// Not claimed by this poll yet.
    todo: Vec<i64>,
    claimed: Vec<i64>,
    /// Feeds are held back (another instance's claims, a full host): ask again then.
    retry_at: Option<tokio::time::Instant>,
}

enum RoundStep {
    Fetch(Vec<FeedJob>),
    Wait,
    Done,
}

impl Round {
    async fn new(engine: &Engine, now: DateTime<Utc>) -> anyhow::Result<Round> {
        Ok(Round {
            since: engine.store.join_round(now).await?,
            todo: engine.feeds.iter().map(|j| j.id).collect(),
            claimed: Vec::new(),
            retry_at: None,
        })
    }

    /// The next feeds to fetch, given `free` fetch slots and `in_flight` fetch tasks of this
    /// poll.
    async fn next(
        &mut self,
        engine: &Engine,
        free: usize,
        in_flight: usize,
        now: DateTime<Utc>,
    ) -> anyhow::Result<RoundStep> {
        if self.todo.is_empty() {
            return Ok(if in_flight == 0 {
                RoundStep::Done
            } else {
                RoundStep::Wait
            });
        }
        if free == 0
            || self
                .retry_at
                .is_some_and(|t| t > tokio::time::Instant::now())
        {
            return Ok(RoundStep::Wait);
        }
        self.retry_at = None;
        let limits = ClaimLimits {
            per_host: engine.config.http.per_host_connections,
            min_gap: engine.config.http.per_host_min_gap,
        };
        let mode = ClaimMode::Round { since: self.since };
        let claim = engine
            .store
            .claim(&self.todo, free, &limits, mode, now)
            .await?;
        if claim.ids.is_empty() {
            if in_flight > 0 {
                // This poll's own fetches hold the hosts: their reports bring the next claim.
                return Ok(RoundStep::Wait);
            }
            if claim.waiting == 0 {
                return Ok(RoundStep::Done);
            }
            self.retry_at = Some(tokio::time::Instant::now() + CLAIM_RETRY);
            return Ok(RoundStep::Wait);
        }
        self.todo.retain(|id| !claim.ids.contains(id));
        self.claimed.extend(&claim.ids);
        Ok(RoundStep::Fetch(
            engine
                .feeds
                .iter()
                .filter(|j| claim.ids.contains(&j.id))
                .cloned()
                .collect(),
        ))
    }
}

/// Polls every configured feed once (feeds disabled by a 410, or inside a server's
/// Retry-After window, are reported as skipped). `on_report` sees each feed as it is stored.
pub async fn poll_once(
    engine: &Engine,
    shutdown: CancellationToken,
    clock: Arc<dyn Clock>,
    on_report: &mut (dyn FnMut(&FeedReport) + Send),
) -> anyhow::Result<PollSummary> {
    let writer = engine.writer(Arc::clone(&clock));
    let (tx, rx) = mpsc::channel(engine.config.poll.concurrency);
    let (rep_tx, mut rep_rx) = mpsc::unbounded_channel();
    let stored = writer.stored_signal();
    let writer_task = tokio::spawn(writer.serve(rx, Some(rep_tx)));
    let sem = Arc::new(Semaphore::new(engine.config.poll.concurrency));
    let mut set = JoinSet::new();
    let heartbeat = CancellationToken::new();
    spawn_heartbeat(
        &engine.store,
        engine.config.storage.heartbeat(),
        heartbeat.clone(),
    );
    let mut tx = Some(tx);
    // Every feed once. On a shared database the round is claimed piece by piece: instances
    // polling together split it, and none fetches a feed another fetched since it began.
    // Alone on the database, every feed's state is read in one query: nothing else writes it
    // before the feed's fetch (the writer stores each feed once, after its fetch).
    let mut queue: std::collections::VecDeque<FeedJob> = std::collections::VecDeque::new();
    let mut states = HashMap::new();
    let mut round = if engine.store.is_shared() {
        Some(Round::new(engine, clock.now()).await?)
    } else {
        queue.extend(engine.feeds.iter().cloned());
        states = engine.store.feed_states().await?;
        None
    };
    let mut reports = Vec::with_capacity(engine.feeds.len());
    let mut stopping = false;
    // The report channel closes when the writer ends, which it does once every fetch task has
    // finished (or was aborted), the round handed out everything, and all is stored.
    loop {
        if let (Some(r), Some(sender)) = (&mut round, &tx) {
            // Fetch tasks end when their result is with the writer: the next claims need not
            // wait for it to store them (their leases last until it has).
            let fetching = set.len();
            let free = engine.config.poll.concurrency.saturating_sub(fetching);
            match r.next(engine, free, fetching, clock.now()).await? {
                RoundStep::Fetch(jobs) => {
                    for job in jobs {
                        spawn_fetch(&mut set, engine, &clock, &sem, sender, job, None);
                    }
                }
                RoundStep::Wait => {}
                RoundStep::Done => tx = None,
            }
        } else if let (None, Some(sender)) = (&round, &tx) {
            // A fetch task ends when the writer has its result. The semaphore bounds the
            // fetches and parses running; this bounds the results parsed but not yet taken by
            // the writer, which would otherwise pile up in memory when it is the slower side.
            while set.len() < POLL_TASKS_PER_SLOT * engine.config.poll.concurrency
                && let Some(job) = queue.pop_front()
            {
                let state = states.remove(&job.id);
                spawn_fetch(&mut set, engine, &clock, &sem, sender, job, state);
            }
            if queue.is_empty() {
                tx = None;
            }
        }
        let retry = round.as_ref().and_then(|r| r.retry_at);
        tokio::select! {
            report = rep_rx.recv() => match report {
                Some(r) => {
                    on_report(&r);
                    reports.push(r);
                }
                None => break,
            },
            () = shutdown.cancelled(), if !stopping => {
                stopping = true;
                tx = None;
                tracing::info!(in_flight = set.len(), "shutdown requested; abandoning fetches in flight");
                set.abort_all();
                while set.join_next().await.is_some() {}
            }
            Some(_) = set.join_next(), if !set.is_empty() => {}
            // A stored batch ended its leases: their hosts take the next feeds.
            () = stored.notified(), if round.is_some() && tx.is_some() => {
                if let Some(r) = &mut round {
                    r.retry_at = None;
                }
            }
            () = tokio::time::sleep_until(retry.unwrap_or_else(tokio::time::Instant::now)), if retry.is_some() => {}
        }
    }
    let writer = writer_task.await??;
    heartbeat.cancel();
    if let Some(r) = round {
        if !stopping {
            // The rest of the round was fetched by other instances meanwhile.
            for job in engine.feeds.iter().filter(|j| r.todo.contains(&j.id)) {
                let rep = held_elsewhere(job);
                on_report(&rep);
                reports.push(rep);
            }
        }
        engine.store.release(&r.claimed).await?;
    }
    Ok(PollSummary {
        interrupted: engine.feeds.len() - reports.len(),
        reports,
        writer: writer.stats.clone(),
    })
}

/// Fetch tasks a `poll` or the daemon keeps alive per concurrency slot: the extra ones wait for
/// article pages (without a slot) or for the writer, holding their results.
const POLL_TASKS_PER_SLOT: usize = 2;

/// Per-feed scheduling state of the daemon.
struct Slot {
    job: FeedJob,
    /// `None`: disabled (410), not polled.
    due: Option<DateTime<Utc>>,
    in_flight: bool,
    failing: bool,
}

fn initial_due(
    engine: &Engine,
    job: &FeedJob,
    state: &FeedState,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if let Some(reason) = &state.disabled_reason {
        tracing::warn!(feed = %job.name, url = %job.url, reason = %reason, "feed disabled; not polling it");
        return None;
    }
    let stored = state.next_poll_at;
    Some(schedule::first_due(
        stored,
        now,
        engine.config.poll.startup_jitter,
        job.cfg.interval,
        rand::random::<f64>(),
    ))
}

/// Builds the slots for the engine's current feed list, carrying over the state of feeds that
/// are still configured with the same URL, so a reload loses no poll.
async fn rebuild_slots(
    engine: &Engine,
    old: Vec<Slot>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Slot>> {
    let mut by_id: HashMap<i64, Slot> = old.into_iter().map(|s| (s.job.id, s)).collect();
    let mut slots = Vec::with_capacity(engine.feeds.len());
    // New feeds' states in one query (at start-up, every feed is new).
    let mut states = if engine
        .feeds
        .iter()
        .any(|j| by_id.get(&j.id).is_none_or(|p| p.job.url != j.url))
    {
        engine.store.feed_states().await?
    } else {
        HashMap::new()
    };
    for job in &engine.feeds {
        match by_id.remove(&job.id) {
            Some(prev) if prev.job.url == job.url => {
                let mut due = prev.due;
                if job.cfg.interval < prev.job.cfg.interval
                    || job.cfg.schedule != prev.job.cfg.schedule
                {
                    // A shorter interval or a new schedule applies now, not after the old wait.
                    due = due.map(|d| d.min(schedule::base_next(&job.cfg, job.cfg.interval, now)));
                }
                slots.push(Slot {
                    job: job.clone(),
                    due,
                    ..prev
                });
            }
            _ => slots.push(Slot {
                job: job.clone(),
                due: initial_due(
                    engine,
                    job,
                    &states.remove(&job.id).unwrap_or_default(),
                    now,
                ),
                in_flight: false,
                failing: false,
            }),
        }
    }
    Ok(slots)
}

fn status_line(slots: &[Slot], now: DateTime<Utc>, last_error: Option<&str>) -> String {
    let due = slots
        .iter()
        .filter(|s| s.in_flight || s.due.is_some_and(|d| d <= now))
        .count();
    let failing = slots.iter().filter(|s| s.failing).count();
    let disabled = slots
        .iter()
        .filter(|s| s.due.is_none() && !s.in_flight)
        .count();
    let mut line = format!(
        "polling {} feeds, {due} due, {failing} failing",
        slots.len()
    );
    if disabled > 0 {
        line.push_str(&format!(", {disabled} disabled"));
    }
    if let Some(e) = last_error {
        let short: String = e.chars().take(120).collect();
        line.push_str(&format!("; last error: {short}"));
    }
    line
}

/// The daemon's view of its feeds between rounds: when each is due, which are in flight, and
/// which hosts asked (429) to be left alone until when. Scheduling decisions live in
/// [`crate::ingest::decide`] and [`crate::schedule::policy`]; this only acts on their results.
struct Fleet {
    slots: Vec<Slot>,
    host_blocks: HashMap<String, DateTime<Utc>>,
    last_error: Option<String>,
}

impl Fleet {
    /// At most `limit` of the feeds due at `now` whose host is not held, the longest overdue
    /// first, marked in flight. A held feed's due time moves to the end of its host's hold.
    fn take_due(&mut self, now: DateTime<Utc>, limit: usize) -> Vec<FeedJob> {
        self.host_blocks.retain(|_, until| *until > now);
        let mut due_now = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(due) = slot.due else { continue };
            if slot.in_flight || due > now {
                continue;
            }
            if let Some(until) = self.host_blocks.get(&host_of(&slot.job.url)) {
                slot.due = Some(due.max(*until));
                continue;
            }
            due_now.push((due, i));
        }
        if due_now.len() > limit {
            due_now.sort_unstable();
            due_now.truncate(limit);
        }
        let mut jobs = Vec::with_capacity(due_now.len());
        for (_, i) in due_now {
            if let Some(slot) = self.slots.get_mut(i) {
                slot.in_flight = true;
                jobs.push(slot.job.clone());
            }
        }
        jobs
    }

    /// A shared database: claims due feeds for the free fetch slots (the database decides
    /// which, under the fleet's per-host limits), marks them in flight, and says when to look
    /// again: when the next becomes claimable, soon if some are due but held back, and at least
    /// every few seconds (other instances free hosts and die without telling anyone).
    async fn claim(
        &mut self,
        store: &Store,
        free: usize,
        limits: &ClaimLimits,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(Vec<FeedJob>, DateTime<Utc>)> {
        let look_again = |next: Option<DateTime<Utc>>| {
            let soon = schedule::add(now, CLAIM_RETRY);
            let latest = schedule::add(now, CLAIM_POLL);
            match next {
                Some(t) if t <= now => soon,
                Some(t) => t.min(latest),
                None => latest,
            }
        };
        let ids: Vec<i64> = self
            .slots
            .iter()
            .filter(|s| !s.in_flight && s.due.is_some())
            .map(|s| s.job.id)
            .collect();
        if free == 0 || ids.is_empty() {
            return Ok((Vec::new(), look_again(None)));
        }
        let claim = store.claim(&ids, free, limits, ClaimMode::Due, now).await?;
        let mut jobs = Vec::with_capacity(claim.ids.len());
        for slot in self.slots.iter_mut() {
            if claim.ids.contains(&slot.job.id) {
                slot.in_flight = true;
                jobs.push(slot.job.clone());
            }
        }
        Ok((jobs, look_again(claim.next)))
    }

    /// When the next feed not in flight is due.
    fn wake(&self) -> Option<DateTime<Utc>> {
        self.slots
            .iter()
            .filter(|s| !s.in_flight)
            .filter_map(|s| s.due)
            .min()
    }

    fn in_flight(&self) -> bool {
        self.slots.iter().any(|s| s.in_flight)
    }

    /// Takes a stored fetch's report: the feed's next due time, a host hold, the metrics.
    fn on_report(&mut self, report: FeedReport, metrics: Option<&Metrics>) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.job.id == report.feed_id) {
            slot.in_flight = false;
            slot.due = report.next_poll;
            slot.failing = report.result.is_failure();
        }
        if let FeedResult::Failed(e) = &report.result {
            self.last_error = Some(format!("{}: {e}", report.name));
        }
        if let Some(m) = metrics {
            m.observe(&report);
            let failing = self.slots.iter().filter(|s| s.failing).count();
            let disabled = self
                .slots
                .iter()
                .filter(|s| s.due.is_none() && !s.in_flight)
                .count();
            m.set_feeds(self.slots.len(), failing, disabled);
        }
        if let Some(next) = report.next_poll {
            tracing::debug!(feed = %report.name, url = %report.url, next = %next.to_rfc3339(), "next poll");
        }
        if let Some((host, until)) = report.host_block {
            tracing::warn!(host = %host, until = %until.to_rfc3339(), "host asked us to slow down (429); holding its feeds");
            let entry = self.host_blocks.entry(host).or_insert(until);
            *entry = (*entry).max(until);
        }
    }

    fn status(&self, now: DateTime<Utc>) -> String {
        status_line(&self.slots, now, self.last_error.as_deref())
    }
}

/// A shared database is asked again this soon when feeds are due but held back (per-host
/// limits, no free slot) ...
const CLAIM_RETRY: std::time::Duration = std::time::Duration::from_millis(200);
/// ... and at least this often.
const CLAIM_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// What a stored fetch's report means on a shared database: the claim ends (the writer's
/// commit ended it if anything was stored), and a 429 holds the host for every instance.
async fn settle_claim(store: &Store, fleet: &Fleet, report: &FeedReport) {
    if let Err(e) = store.release(&[report.feed_id]).await {
        tracing::warn!(feed = %report.name, url = %report.url, error = %e, "cannot release the feed's claim; it expires with the lease");
    }
    if let Some((_, until)) = &report.host_block
        && let Some(slot) = fleet.slots.iter().find(|s| s.job.id == report.feed_id)
    {
        let host = crate::pipeline::fetch::host_key(&slot.job.url);
        if let Err(e) = store.hold_host(&host, *until).await {
            tracing::warn!(feed = %report.name, url = %report.url, error = %e, "cannot hold the host for the other instances");
        }
    }
}

/// Makes a reloaded config the running one; a config the engine refuses keeps the old one.
async fn reload(
    engine: &mut Engine,
    fleet: &mut Fleet,
    config: Config,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    systemd::reloading();
    let path = config.path.display().to_string();
    match engine.reload(config).await {
        Ok(()) => {
            let old = std::mem::take(&mut fleet.slots);
            fleet.slots = rebuild_slots(engine, old, now).await?;
            tracing::info!(config = %path, feeds = fleet.slots.len(), "config reloaded");
        }
        Err(e) => {
            tracing::error!(config = %path, error = %format!("{e:#}"), "config reload failed; keeping the running one")
        }
    }
    systemd::ready(&fleet.status(now));
    Ok(())
}

/// Runs until `shutdown`: each feed is fetched when due. The writer reports each feed's next
/// due time (interval or crontab, server hints, backoff, Retry-After); a 429 also holds back the
/// other feeds of its host for a bounded time. A feed is never fetched twice at once. A config
/// arriving on `reloads` replaces the feed list without losing a due poll. Fetches in flight at
/// shutdown are abandoned; everything already handed to the writer is stored first.
pub async fn run_daemon(
    engine: &mut Engine,
    shutdown: CancellationToken,
    clock: Arc<dyn Clock>,
    mut reloads: mpsc::Receiver<Config>,
    metrics: Option<Arc<Metrics>>,
) -> anyhow::Result<()> {
    let writer = engine
        .writer(Arc::clone(&clock))
        .with_metrics(metrics.clone());
    let (tx, rx) = mpsc::channel(engine.config.poll.concurrency);
    let (rep_tx, mut rep_rx) = mpsc::unbounded_channel::<FeedReport>();
    let stored = writer.stored_signal();
    let mut writer_task = tokio::spawn(writer.serve(rx, Some(rep_tx)));
    let sem = Arc::new(Semaphore::new(engine.config.poll.concurrency));

    let mut fleet = Fleet {
        slots: rebuild_slots(engine, Vec::new(), clock.now()).await?,
        host_blocks: HashMap::new(),
        last_error: None,
    };
    let mut set: JoinSet<()> = JoinSet::new();
    let mut watchdog = systemd::watchdog_interval().map(tokio::time::interval);
    let shared = engine.store.is_shared();
    let heartbeat = CancellationToken::new();
    spawn_heartbeat(
        &engine.store,
        engine.config.storage.heartbeat(),
        heartbeat.clone(),
    );
    let _stop_heartbeat = heartbeat.drop_guard();
    tracing::info!(feeds = fleet.slots.len(), shared, "daemon started");
    // The start-up checks (every record file, every feed's state) are done with their memory.
    engine.store.release_memory().await;
    trim_heap();
    systemd::ready(&fleet.status(clock.now()));

    loop {
        let (due, wake) = if shared {
            let limits = ClaimLimits {
                per_host: engine.config.http.per_host_connections,
                min_gap: engine.config.http.per_host_min_gap,
            };
            // Fetch tasks still running: a fetch whose result is with the writer keeps its
            // lease (and its slot stays in flight) but no longer takes a fetch slot.
            let free = engine.config.poll.concurrency.saturating_sub(set.len());
            let now = clock.now();
            match fleet.claim(&engine.store, free, &limits, now).await {
                Ok((jobs, wake)) => (jobs, Some(wake)),
                Err(e) => {
                    // The database is away: nothing is claimed, so nothing is fetched twice.
                    tracing::error!(error = %format!("{e:#}"), "cannot claim due feeds; trying again shortly");
                    (Vec::new(), Some(schedule::add(now, CLAIM_POLL)))
                }
            }
        } else {
            // As in a poll: fetch tasks are bounded, not only the fetches they run, so parsed
            // documents cannot pile up in memory waiting for a writer that is the slower side
            // (a round of 1,000 due feeds held 178 MB so). The rest wait for a task to end.
            while set.try_join_next().is_some() {}
            let free =
                (POLL_TASKS_PER_SLOT * engine.config.poll.concurrency).saturating_sub(set.len());
            (fleet.take_due(clock.now(), free), None)
        };
        for job in due {
            spawn_fetch(&mut set, engine, &clock, &sem, &tx, job, None);
        }
        while set.try_join_next().is_some() {}
        // Feeds left due because every task is taken are started when one ends, not by a timer
        // that has already passed.
        let tasks_full =
            !shared && set.len() >= POLL_TASKS_PER_SLOT * engine.config.poll.concurrency;
        let wake = if tasks_full {
            None
        } else {
            wake.or_else(|| fleet.wake())
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(report) = rep_rx.recv() => {
                if shared {
                    settle_claim(&engine.store, &fleet, &report).await;
                }
                fleet.on_report(report, metrics.as_deref());
                systemd::status(&fleet.status(clock.now()));
                if !fleet.in_flight() {
                    // The round is over and its records are written: give its memory back.
                    if long_pause(clock.now(), fleet.wake()) {
                        engine.fetcher.close_idle_connections();
                    }
                    engine.store.release_memory().await;
                    trim_heap();
                }
            }
            Some(config) = reloads.recv() => reload(engine, &mut fleet, config, clock.now()).await?,
            // A finished fetch task frees a slot for the next feed (on a shared database, for
            // the next claim); a stored batch frees the hosts its leases held.
            Some(_) = set.join_next(), if !set.is_empty() => {}
            () = stored.notified(), if shared => {}
            _ = tick(&mut watchdog) => systemd::watchdog(),
            () = sleep_until_opt(clock.as_ref(), wake) => {}
            res = &mut writer_task => {
                set.abort_all();
                return Err(match res {
                    Ok(Ok(_)) => anyhow::anyhow!("the writer stopped unexpectedly"),
                    Ok(Err(e)) => anyhow::Error::new(e).context("the writer failed"),
                    Err(e) => anyhow::Error::new(e).context("the writer task failed"),
                });
            }
        }
    }

    systemd::stopping();
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

/// A pause between fetches this long makes kept-alive connections not worth keeping: servers
/// close theirs after seconds to a minute or so.
const KEEP_CONNECTIONS_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether nothing is due for [`KEEP_CONNECTIONS_FOR`] from `now` (`next`: the next due time,
/// none when nothing is scheduled).
fn long_pause(now: DateTime<Utc>, next: Option<DateTime<Utc>>) -> bool {
    next.is_none_or(|next| next >= schedule::add(now, KEEP_CONNECTIONS_FOR))
}

/// Hands heap memory the allocator holds but no longer uses back to the system: between rounds
/// the daemon idles needing a fraction of a round's peak, which glibc would otherwise keep.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory held by the allocator to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(clock: &dyn Clock, at: Option<DateTime<Utc>>) {
    match at {
        Some(at) => clock.sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Feed;
    use std::time::Duration;
    use url::Url;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-06-15T12:{minute:02}:00Z"))
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn slot(id: i64, host: &str, due: Option<u32>) -> Slot {
        let url =
            Url::parse(&format!("http://{host}/feed/{id}")).unwrap_or_else(|_| unreachable!());
        Slot {
            job: FeedJob {
                id,
                name: format!("feed-{id}"),
                url: url.clone(),
                cfg: Feed::plain(format!("feed-{id}"), url, Duration::from_secs(3600)),
                max_wait: Duration::from_secs(86_400),
                max_entries: 0,
                max_pages: 0,
            },
            due: due.map(at),
            in_flight: false,
            failing: false,
        }
    }

    #[test]
    fn connections_are_closed_only_for_a_long_pause() {
        let now = at(10);
        let secs = |s: i64| Some(now + chrono::Duration::seconds(s));
        let cases = [
            (None, true),
            (secs(-5), false),
            (secs(0), false),
            (secs(59), false),
            (secs(60), true),
            (secs(3600), true),
        ];
        for (next, closes) in cases {
            assert_eq!(long_pause(now, next), closes, "next due {next:?}");
        }
    }

    fn fleet(slots: Vec<Slot>) -> Fleet {
        Fleet {
            slots,
            host_blocks: HashMap::new(),
            last_error: None,
        }
    }

    fn ids(jobs: &[FeedJob]) -> Vec<i64> {
        jobs.iter().map(|j| j.id).collect()
    }

    #[test]
    fn take_due_takes_at_most_the_limit_longest_overdue_first() {
        // (due minutes of feeds 1.., limit, ids taken first, then with no limit)
        type Case = (
            &'static [Option<u32>],
            usize,
            &'static [i64],
            &'static [i64],
        );
        let cases: &[Case] = &[
            (&[Some(5), Some(1), Some(3), Some(2)], 2, &[2, 4], &[1, 3]),
            (
                &[Some(5), Some(1), Some(3), Some(2)],
                10,
                &[1, 2, 3, 4],
                &[],
            ),
            (&[Some(5), None, Some(40), Some(5)], 1, &[1], &[4]),
            (&[Some(1), Some(2)], 0, &[], &[1, 2]),
        ];
        for (dues, limit, first, rest) in cases {
            let slots = dues
                .iter()
                .enumerate()
                .map(|(i, d)| slot(i as i64 + 1, "127.0.0.1", *d))
                .collect();
            let mut f = fleet(slots);
            let mut taken = ids(&f.take_due(at(10), *limit));
            taken.sort_unstable();
            assert_eq!(taken, *first, "{dues:?} limit {limit}");
            let mut then = ids(&f.take_due(at(10), usize::MAX));
            then.sort_unstable();
            assert_eq!(then, *rest, "{dues:?} limit {limit}: the rest");
            assert!(f.take_due(at(10), usize::MAX).is_empty(), "all in flight");
        }
    }

    #[test]
    fn a_held_host_is_not_taken_and_its_feed_waits_for_the_hold() {
        let mut f = fleet(vec![
            slot(1, "127.0.0.2", Some(1)),
            slot(2, "127.0.0.3", Some(2)),
        ]);
        f.host_blocks.insert(host_of(&f.slots[0].job.url), at(30));
        assert_eq!(ids(&f.take_due(at(10), 1)), vec![2]);
        assert_eq!(f.slots[0].due, Some(at(30)));
        assert!(!f.slots[0].in_flight);
    }
}
