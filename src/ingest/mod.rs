//! Storing what the pipeline produced: exactly one writer per process takes fetch results,
//! stores bursts of them in one transaction (a savepoint per fetch), then writes their records
//! with one durability barrier and marks them written.
//!
//! It may use the store's interface and the corpus; it never fetches or parses.

pub mod cluster;
pub mod decide;
pub mod report;
pub mod writer;
