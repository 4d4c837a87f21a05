//! The small types every stage shares: a configured feed with its database id, an entry and the
//! dedup key that makes "never store an entry twice" true.
//!
//! Plain data and pure functions only: nothing here does I/O or knows a stage.

pub mod entry;
pub mod feed;
pub mod record;

/// A time as the schema stores it: RFC 3339 UTC with whole seconds.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
