//! The small types every stage shares: a configured feed with its database id, an entry and the
//! dedup key that makes "never store an entry twice" true.
//!
//! Plain data and pure functions only: nothing here does I/O or knows a stage.

pub mod entry;
pub mod feed;
pub mod record;
