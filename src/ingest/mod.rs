//! What a fetch means and storing it: [`decide`] turns a fetch into the feed's update, its
//! entries and its report (a pure function, called by each fetch task); exactly one
//! [`writer`] per process stores bursts of decisions in one transaction (a savepoint per
//! fetch), then writes their records with one durability barrier and marks them written;
//! [`cluster`] is the near-duplicate matching backends use inside that transaction.
//!
//! It may use the store's interface and the corpus; it never fetches or parses.

pub mod cluster;
pub mod decide;
pub mod notes;
pub mod report;
pub mod writer;
