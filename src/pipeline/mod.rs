//! One feed, start to finish, without writing anything.
//!
//! [`fetch`] (HTTP with politeness and the refusal of internal addresses) → [`parse`] (lenient
//! RSS/Atom/JSON Feed reading) → [`text`] (normalization, boilerplate, language,
//! near-duplicate fingerprints, article extraction). [`run`] strings them together for one feed;
//! [`pages`] fetches article pages for teaser feeds; [`hints`] reads a document's own polling
//! hints. Nothing here writes to the store or the corpus: the results go to the ingest stage.

pub mod fetch;
pub mod hints;
pub mod inspect;
pub mod pages;
pub mod parse;
pub mod run;
pub mod text;

/// Permits for CPU-bound parse work: one per core.
pub(crate) fn cpu_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cores)
    });
    &SLOTS
}
