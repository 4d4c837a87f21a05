//! The corpus text of an entry: pure and synchronous building blocks.
//!
//! [`normalize`] (HTML → paragraphs), [`boilerplate`] (chrome lines, fixed and learned per
//! feed), [`lang`] (language of a text), [`neardup`] (MinHash fingerprints), [`extract`]
//! (article text from a page), [`repair`] (mojibake and twice-escaped HTML undone),
//! [`shallow`] (a depth bound before any HTML parser), [`memo`] (what the feed's last document
//! made of each entry, so an unchanged one is not made again), and
//! [`quality`], which applies them to an entry as the pipeline does. No I/O, no storage, except
//! [`eval`], which reads page sets from disk to measure [`extract`] and is not in the pipeline.

pub mod boilerplate;
pub mod eval;
pub mod extract;
pub mod lang;
pub mod memo;
pub mod neardup;
pub mod normalize;
pub mod quality;
pub mod repair;
pub mod shallow;
