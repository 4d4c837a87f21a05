//! Wall-clock time for the scheduler, replaceable in tests.
//!
//! Scheduling decisions use wall time (skipHours and crontab lines are wall-time rules, and due
//! times are stored in the database). Tests drive the daemon with [`ManualClock`] to check rules
//! like "no request before Retry-After" without waiting for them. HTTP timeouts keep using tokio's
//! own timers; only the schedule is under the clock's control.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Completes at or after `t`.
    fn sleep_until(&self, t: DateTime<Utc>) -> Sleep<'_>;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> Sleep<'_> {
        // Sleep in bounded steps: the wall clock can jump (NTP, suspend), and the caller
        // re-checks what is due whenever this returns.
        let wait = (t - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(60));
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when told to.
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    tick: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
            tick: watch::Sender::new(start),
        }
    }

    pub fn advance(&self, by: Duration) {
        let next = {
            let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
            *now += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
            *now
        };
        self.tick.send_replace(next);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> Sleep<'_> {
        let mut rx = self.tick.subscribe();
        Box::pin(async move {
            let _ = rx.wait_for(|now| *now >= t).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleep_ends_only_when_advanced_past() {
        let start = Utc::now();
        let clock = std::sync::Arc::new(ManualClock::new(start));
        let c = std::sync::Arc::clone(&clock);
        let target = start + chrono::Duration::seconds(120);
        let sleeper = tokio::spawn(async move { c.sleep_until(target).await });
        clock.advance(Duration::from_secs(119));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(1));
        sleeper.await.expect("sleeper ends");
        assert_eq!(clock.now(), target);
    }
}
