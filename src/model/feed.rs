//! A configured feed as the pipeline sees it: its config and its database id.

use std::time::Duration;

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
