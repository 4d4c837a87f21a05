//! A configured feed as the pipeline sees it: its config and its database id.

use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use crate::config;

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

/// What a successful fetch says about its feed.
#[derive(Debug, Clone, Default)]
pub struct FeedInfo {
    pub title: Option<String>,
    pub site_url: Option<String>,
    pub http_status: Option<u16>,
}

/// A feed's polling state, read before each fetch.
#[derive(Debug, Clone, Default)]
pub struct FeedState {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub body_hash: Option<String>,
    /// Where the feed moved to after repeated permanent redirects.
    pub fetch_url: Option<String>,
    pub redirect_target: Option<String>,
    pub redirect_count: i64,
    pub error_count: i64,
    pub disabled_reason: Option<String>,
    /// Interval in force (adaptive mode and gap shortening move it), seconds.
    pub interval_secs: Option<i64>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub next_poll_at: Option<DateTime<Utc>>,
    pub retry_until: Option<DateTime<Utc>>,
    /// JSON of the last document's polling hints.
    pub hints: Option<String>,
}

/// Outcome of one fetch, as the feed row records it.
#[derive(Debug, Clone, Default)]
pub struct FeedUpdate {
    pub status: FeedStatus,
    /// When the fetch started (`last_fetch_at`; intervals run from one start to the next);
    /// `None`: when it is stored.
    pub fetched_at: Option<DateTime<Utc>>,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// New validators (only with a 200).
    pub validators: Option<(Option<String>, Option<String>)>,
    pub body_hash: Option<String>,
    pub hints: Option<String>,
    pub next_poll_at: Option<DateTime<Utc>>,
    pub retry_until: Option<DateTime<Utc>>,
    pub interval_secs: Option<i64>,
    /// This fetch may have missed entries.
    pub gap: bool,
    pub recovered: bool,
    pub duration_ms: Option<i64>,
    pub redirect_target: Option<String>,
    pub redirect_count: i64,
    /// Set once a permanent redirect has repeated: poll this URL from now on.
    pub fetch_url: Option<String>,
    pub disabled_reason: Option<String>,
    /// Info from the document (title, site URL), with a 200.
    pub info: Option<FeedInfo>,
    /// The feed's learned boilerplate model, JSON.
    pub boilerplate: Option<String>,
}

/// How a feed's last fetch ended, as `feeds.last_status` stores it (a public interface: the
/// words below are what the column holds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FeedStatus {
    /// A document was read and stored.
    #[default]
    Ok,
    /// 304 Not Modified.
    NotModified,
    /// 200 with the same bytes as last time.
    Unchanged,
    /// The fetch failed (`last_error` says why).
    Error,
    /// 410 Gone: disabled until its URL changes.
    Gone,
}

impl FeedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedStatus::Ok => "ok",
            FeedStatus::NotModified => "not_modified",
            FeedStatus::Unchanged => "unchanged",
            FeedStatus::Error => "error",
            FeedStatus::Gone => "gone",
        }
    }

    /// The server answered and the feed is healthy.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            FeedStatus::Ok | FeedStatus::NotModified | FeedStatus::Unchanged
        )
    }
}
