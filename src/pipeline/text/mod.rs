//! The corpus text of an entry: pure and synchronous building blocks.
//!
//! [`normalize`] (HTML → paragraphs), [`boilerplate`] (chrome lines, fixed and learned per
//! feed), [`lang`] (language of a text), [`neardup`] (MinHash fingerprints), [`extract`]
//! (article text from a page), [`shallow`] (a depth bound before any HTML parser), and
//! [`quality`], which applies them to an entry as the pipeline does. No I/O, no storage.

pub mod boilerplate;
pub mod extract;
pub mod lang;
pub mod neardup;
pub mod normalize;
pub mod quality;
pub mod shallow;
