//! feedcorpus: polls RSS/Atom feeds and grows a normalized plain-text corpus.
//!
//! The folders are the pipeline, and data flows one way through them:
//!
//! ```text
//! config ──▶ schedule ──▶ pipeline ──────────────────────────────▶ ingest ──▶ store ──▶ corpus
//!  (what)     (when)      fetch → parse → text                     (decide,     (one      (record
//!                         (normalize, boilerplate, language,        dedup,       interface, files)
//!                          near-duplicates, extraction)             batches)     backends)
//! ```
//!
//! - [`config`]: the TOML file turned into a validated [`config::Config`]; feed-list edits.
//! - [`model`]: the small types every stage shares (a feed with its id, an entry and its key).
//! - [`schedule`]: when each feed is due ([`schedule::policy`], pure) and the loops that run
//!   the pipeline on time ([`schedule::daemon`]).
//! - [`pipeline`]: one feed, start to finish, without writing anything: [`pipeline::run`]
//!   fetches, parses and prepares the text; the daemon, `poll`, `inspect` and `backfill` all go
//!   through it.
//! - [`ingest`]: the single writer: batches of fetches stored in transactions, then records.
//! - [`store`]: the storage interface; only `store/<backend>/` speaks SQL.
//! - [`corpus`]: record files on disk, the Markdown form, exports.
//! - [`runtime`]: the composition root ([`runtime::engine`]), locks, clock, systemd, metrics.

pub mod config;
pub mod corpus;
pub mod ingest;
pub mod model;
pub mod pipeline;
pub mod runtime;
pub mod schedule;
pub mod store;
