//! feedcorpus: polls RSS/Atom feeds and grows a normalized plain-text corpus.
//!
//! Data flows one way: [`config`] → [`scheduler`] → [`fetch`] → [`parse`] → [`normalize`] →
//! [`store`] → [`corpus`]. [`worker`] runs that path for one feed and owns the single writer;
//! [`inspect`] runs fetch → parse → normalize without storing anything.
//!
//! Corpus quality building blocks, pure and synchronous: [`extract`] (article text from a page),
//! [`boilerplate`] (chrome lines, fixed and learned per feed), [`lang`] (language of a text),
//! [`neardup`] (MinHash near-duplicates) and [`markdown`] (the Markdown record form).

pub mod backfill;
pub mod boilerplate;
pub mod clock;
pub mod config;
pub mod corpus;
pub mod entry;
pub mod export;
pub mod extract;
pub mod feedlist;
pub mod fetch;
pub mod hints;
pub mod inspect;
pub mod lang;
pub mod markdown;
pub mod metrics;
pub mod neardup;
pub mod normalize;
pub mod parse;
pub mod quality;
pub mod report;
pub mod robots;
pub mod schedule;
pub mod scheduler;
pub mod service;
pub mod shallow;
pub mod store;
pub mod worker;
