//! Several instances on one database: each has a row in `instances` with a heartbeat; due feeds
//! are claimed with a lease in one statement (`FOR UPDATE SKIP LOCKED`), under a fleet-wide
//! per-host limit that every claim sees, because claims take turns on an advisory lock for the
//! few milliseconds they last. A lease is renewed with the heartbeat while the fetch runs and
//! cleared in the transaction that stores the fetch; a killed instance's leases simply expire.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Col, Context, PgStore};
use crate::store::{Claim, ClaimLimits, ClaimMode, InstanceRow, StoreError};

/// Claims take turns on this advisory lock ("fcclaim!").
const CLAIM_LOCK: i64 = 0x6663_636c_6169_6d21;

/// Who this process is in the `instances` table.
#[derive(Debug, Clone)]
pub(crate) struct Me {
    pub id: i64,
    /// "machine:corpus_dir": where this instance's record files are.
    pub corpus: String,
    pub lease: Duration,
}

/// Where a process id names one process: this boot of this machine, this PID namespace.
fn pid_space() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if boot.is_empty() || ns.is_empty() {
        // Unknown: a unique value, so no other process's instance is ever taken for dead.
        return format!(
            "unknown-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        );
    }
    format!("{boot}/{ns}")
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl PgStore {
    /// Registers this process as an instance; its id goes into everything it claims and stores.
    pub async fn join(
        mut self,
        corpus_dir: &std::path::Path,
        lease: Duration,
    ) -> Result<PgStore, StoreError> {
        let machine = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown".into());
        let pid = i64::from(std::process::id());
        let space = pid_space();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO instances (name, host, pid, pid_space) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .bind(format!("{machine}:{pid}"))
        .bind(&machine)
        .bind(pid)
        .bind(&space)
        .fetch_one(&self.pool)
        .await
        .ctx("registering this instance")?;
        self.reap(id, &space).await?;
        self.me = Some(std::sync::Arc::new(Me {
            id,
            corpus: format!("{machine}:{}", corpus_dir.display()),
            lease,
        }));
        Ok(self)
    }

    /// Instances of this machine (same boot, same PID namespace) whose process is gone died
    /// without leaving: their leases go back now instead of at their expiry (a restart after a
    /// crash resumes at once), and their rows say they stopped.
    async fn reap(&self, me: i64, space: &str) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "SELECT id, pid FROM instances WHERE pid_space = $1 AND stopped_at IS NULL AND id <> $2",
        )
        .bind(space)
        .bind(me)
        .fetch_all(&self.pool)
        .await
        .ctx("listing this machine's instances")?;
        let mut dead = Vec::new();
        for r in &rows {
            let (id, pid): (i64, i64) = (r.col(0)?, r.col(1)?);
            let gone = i32::try_from(pid).is_ok_and(|p| {
                p > 0
                    && nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None)
                        == Err(nix::errno::Errno::ESRCH)
            });
            if gone {
                dead.push(id);
            }
        }
        if dead.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.ctx("starting a clean-up")?;
        sqlx::query(
            "UPDATE feeds SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ANY($1)",
        )
        .bind(&dead)
        .execute(&mut *tx)
        .await
        .ctx("releasing a dead instance's leases")?;
        sqlx::query("UPDATE instances SET stopped_at = now() WHERE id = ANY($1)")
            .bind(&dead)
            .execute(&mut *tx)
            .await
            .ctx("marking dead instances")?;
        tx.commit().await.ctx("committing a clean-up")?;
        tracing::info!(
            instances = dead.len(),
            "took back the claims of this machine's instances that died"
        );
        Ok(())
    }

    pub(crate) fn me_id(&self) -> Option<i64> {
        self.me.as_ref().map(|m| m.id)
    }

    fn me(&self) -> Result<&Me, StoreError> {
        self.me
            .as_deref()
            .ok_or_else(|| StoreError::Internal("this store has not joined the fleet".into()))
    }

    /// Claims up to `limit` of `feeds` that `mode` selects, unclaimed (or whose lease expired)
    /// and whose host has room under `limits` across the whole fleet; `Due` also skips feeds
    /// disabled or held (Retry-After, a host's 429). Also says when the next of the others
    /// becomes claimable, and how many of this round's are held back.
    pub async fn claim(
        &self,
        feeds: &[i64],
        limit: usize,
        limits: &ClaimLimits,
        mode: ClaimMode,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let me = self.me()?;
        let (round, since) = match mode {
            ClaimMode::Due => (false, None),
            ClaimMode::Round { since } => (true, Some(since)),
        };
        let mut tx = self.pool.begin().await.ctx("starting a claim")?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CLAIM_LOCK)
            .execute(&mut *tx)
            .await
            .ctx("waiting for another instance's claim")?;
        let rows = sqlx::query(
            "WITH round AS (
                 -- The earliest round a running instance polls: polls under way together
                 -- share it, whichever joined first.
                 SELECT least($8, (SELECT min(round_since) FROM instances
                                   WHERE round_since IS NOT NULL AND stopped_at IS NULL
                                     AND heartbeat_at > now() - make_interval(secs => $6))) AS since
             ), busy AS (
                 SELECT host, count(*) AS n FROM feeds
                 WHERE lease_until IS NOT NULL AND lease_until > now() GROUP BY host
             ), cand AS (
                 SELECT f.id, f.host, f.next_poll_at,
                        row_number() OVER (PARTITION BY f.host
                                           ORDER BY f.next_poll_at NULLS FIRST, f.id) AS rn
                 FROM feeds f LEFT JOIN hosts h ON h.host = f.host
                 WHERE f.id = ANY($1)
                   AND (f.lease_until IS NULL OR f.lease_until <= now())
                   AND (h.next_request_at IS NULL OR h.next_request_at <= $9)
                   AND CASE WHEN $7 THEN f.last_fetch_at IS NULL
                                         OR f.last_fetch_at < (SELECT since FROM round)
                            ELSE f.active AND f.disabled_reason IS NULL
                                 AND (f.next_poll_at IS NULL OR f.next_poll_at <= $9)
                                 AND (f.retry_until IS NULL OR f.retry_until <= $9)
                                 AND (h.hold_until IS NULL OR h.hold_until <= $9)
                       END
             ), pick AS (
                 SELECT c.id FROM cand c LEFT JOIN busy b ON b.host = c.host
                 WHERE c.rn <= $3 - coalesce(b.n, 0) AND (NOT $4 OR c.rn = 1)
                 ORDER BY c.next_poll_at NULLS FIRST, c.id
                 LIMIT $2
             )
             UPDATE feeds f SET lease_owner = $5,
                                lease_until = now() + make_interval(secs => $6)
             WHERE f.id IN (SELECT id FROM feeds WHERE id IN (SELECT id FROM pick)
                            FOR UPDATE SKIP LOCKED)
             RETURNING f.id, f.host",
        )
        .bind(feeds)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(limits.per_host).unwrap_or(i64::MAX))
        .bind(!limits.min_gap.is_zero())
        .bind(me.id)
        .bind(secs(me.lease))
        .bind(round)
        .bind(since)
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .ctx("claiming feeds")?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut hosts: Vec<String> = Vec::new();
        for r in &rows {
            ids.push(r.col::<i64>(0)?);
            if let Some(h) = r.col::<Option<String>>(1)? {
                hosts.push(h);
            }
        }
        if !limits.min_gap.is_zero() && !hosts.is_empty() {
            sqlx::query(
                "INSERT INTO hosts (host, next_request_at)
                 SELECT h, $3 + make_interval(secs => $2) FROM unnest($1::text[]) AS h
                 ON CONFLICT (host) DO UPDATE SET next_request_at = excluded.next_request_at",
            )
            .bind(&hosts)
            .bind(secs(limits.min_gap))
            .bind(now)
            .execute(&mut *tx)
            .await
            .ctx("spacing requests to the claimed hosts")?;
        }
        // The earliest moment another of these feeds can be claimed, and (a round) how many
        // of them are still to fetch.
        let r = sqlx::query(
            "SELECT min(greatest(coalesce(f.next_poll_at, $5), coalesce(f.retry_until, $5),
                                 coalesce(h.hold_until, $5), coalesce(h.next_request_at, $5),
                                 $5 + greatest(f.lease_until - now(), interval '0')))
                        FILTER (WHERE f.active AND f.disabled_reason IS NULL),
                    count(*) FILTER (WHERE $3 AND (f.last_fetch_at IS NULL OR f.last_fetch_at <
                        least($4, (SELECT min(round_since) FROM instances
                                   WHERE round_since IS NOT NULL AND stopped_at IS NULL
                                     AND heartbeat_at > now() - make_interval(secs => $6)))))
             FROM feeds f LEFT JOIN hosts h ON h.host = f.host
             WHERE f.id = ANY($1) AND NOT (f.id = ANY($2))",
        )
        .bind(feeds)
        .bind(&ids)
        .bind(round)
        .bind(since)
        .bind(now)
        .bind(secs(me.lease))
        .fetch_one(&mut *tx)
        .await
        .ctx("finding the next due feed")?;
        let next: Option<DateTime<Utc>> = r.col(0)?;
        let waiting: i64 = r.col(1)?;
        tx.commit().await.ctx("committing a claim")?;
        Ok(Claim {
            ids,
            next,
            waiting: usize::try_from(waiting).unwrap_or(0),
        })
    }

    /// A `poll` begins a round at `since`. Claims of its round count a feed as fetched when
    /// anyone fetched it since the earliest round a running instance polls (so polls started
    /// together split one round, whichever began first). Returns that round's start so far.
    pub async fn join_round(&self, since: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
        let me = self.me()?;
        sqlx::query("UPDATE instances SET round_since = $2 WHERE id = $1")
            .bind(me.id)
            .bind(since)
            .execute(&self.pool)
            .await
            .ctx("starting a round")?;
        let earliest: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT min(round_since) FROM instances
             WHERE round_since IS NOT NULL AND stopped_at IS NULL
               AND heartbeat_at > now() - make_interval(secs => $1)",
        )
        .bind(secs(me.lease))
        .fetch_one(&self.pool)
        .await
        .ctx("finding the round under way")?;
        Ok(earliest.map_or(since, |e| e.min(since)))
    }

    /// This instance is alive: its heartbeat and every lease it holds are renewed.
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        let me = self.me()?;
        let mut tx = self.pool.begin().await.ctx("starting a heartbeat")?;
        sqlx::query("UPDATE instances SET heartbeat_at = now() WHERE id = $1")
            .bind(me.id)
            .execute(&mut *tx)
            .await
            .ctx("renewing the heartbeat")?;
        sqlx::query(
            "UPDATE feeds SET lease_until = now() + make_interval(secs => $2)
             WHERE lease_owner = $1 AND lease_until IS NOT NULL",
        )
        .bind(me.id)
        .bind(secs(me.lease))
        .execute(&mut *tx)
        .await
        .ctx("renewing leases")?;
        tx.commit().await.ctx("committing a heartbeat")?;
        Ok(())
    }

    /// Gives up this instance's claims on these feeds (fetched without anything to store, or
    /// not fetched at all).
    pub async fn release(&self, feeds: &[i64]) -> Result<(), StoreError> {
        let me = self.me()?;
        if feeds.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE feeds SET lease_owner = NULL, lease_until = NULL
             WHERE id = ANY($1) AND lease_owner = $2",
        )
        .bind(feeds)
        .bind(me.id)
        .execute(&self.pool)
        .await
        .ctx("releasing feeds")?;
        Ok(())
    }

    /// A 429 from `host`: no instance claims its feeds before `until`.
    pub async fn hold_host(&self, host: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO hosts (host, hold_until) VALUES ($1, $2)
             ON CONFLICT (host) DO UPDATE
             SET hold_until = greatest(coalesce(hosts.hold_until, excluded.hold_until), excluded.hold_until)",
        )
        .bind(super::text::clean(host))
        .bind(super::text::in_range(until))
        .execute(&self.pool)
        .await
        .ctx("holding a host")?;
        Ok(())
    }

    /// A clean shutdown: this instance's leases go back, its row says it stopped.
    pub async fn leave(&self) -> Result<(), StoreError> {
        let me = self.me()?;
        let mut tx = self.pool.begin().await.ctx("starting to leave")?;
        sqlx::query(
            "UPDATE feeds SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        )
        .bind(me.id)
        .execute(&mut *tx)
        .await
        .ctx("releasing leases")?;
        sqlx::query("UPDATE instances SET stopped_at = now() WHERE id = $1")
            .bind(me.id)
            .execute(&mut *tx)
            .await
            .ctx("leaving the fleet")?;
        tx.commit().await.ctx("committing the leave")?;
        Ok(())
    }

    /// Running instances: not stopped, heartbeat younger than `stale`.
    pub async fn instances(&self, stale: Duration) -> Result<Vec<InstanceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.name, rfc3339(i.started_at), rfc3339(i.heartbeat_at),
                    (SELECT count(*) FROM feeds f WHERE f.lease_owner = i.id AND f.lease_until > now())
             FROM instances i
             WHERE i.stopped_at IS NULL AND i.heartbeat_at > now() - make_interval(secs => $1)
             ORDER BY i.started_at, i.id",
        )
        .bind(secs(stale))
        .fetch_all(&self.pool)
        .await
        .ctx("listing instances")?;
        rows.iter()
            .map(|r| {
                Ok(InstanceRow {
                    name: r.col(0)?,
                    started_at: r.col(1)?,
                    heartbeat_at: r.col(2)?,
                    leases: r.col(3)?,
                })
            })
            .collect()
    }
}

/// An instance whose heartbeat is older than this is gone: its pending records are anyone's.
pub(super) fn gone_after(me: Option<&Me>) -> f64 {
    me.map(|m| secs(m.lease))
        .unwrap_or(secs(crate::config::Storage::DEFAULT_LEASE))
}
