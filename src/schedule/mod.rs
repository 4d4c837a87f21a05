//! When each feed is polled.
//!
//! [`policy`] holds the rules as pure functions of (feed settings, server hints, times):
//! intervals, backoff, Retry-After holds, caps; it is re-exported here. [`daemon`] runs the
//! pipeline on those times: `run` (forever, with reloads and shutdown) and `poll` (once);
//! [`backfill`] walks one feed's archive pages through the same pipeline. The
//! loops may call the pipeline and hand results to the writer; they never touch storage rows
//! themselves.

pub mod backfill;
pub mod daemon;
pub mod policy;

pub use policy::*;
