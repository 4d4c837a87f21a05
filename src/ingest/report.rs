//! What one fetch came to, for summaries, metrics and the scheduler.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::IngestStats;

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
