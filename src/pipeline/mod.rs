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
    static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> =
        std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(cores()));
    &SLOTS
}

/// How much lower the CPU stages' threads run than the rest (`nice` steps). The writer is the
/// pipeline's one serial stage: each of its statements wakes a database thread and then the
/// writer's task, and with both cores busy parsing each wake-up waited for a time slice (the
/// writer was busy 99 % of a cold poll, a third of it waiting so).
const CPU_NICE: i32 = 10;

/// Runs CPU-bound work on the CPU pool (one thread per core, at [`CPU_NICE`]); a panic in it
/// comes back as an error.
pub(crate) async fn on_cpu<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job = move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .map_err(|p| run::panic_text(&*p));
        let _ = tx.send(out);
    };
    match cpu_pool() {
        Some(pool) => pool.spawn(job),
        // No pool (threads could not be made): the runtime's blocking threads.
        None => drop(tokio::task::spawn_blocking(job)),
    }
    rx.await
        .unwrap_or_else(|_| Err("the CPU task ended without a result".into()))
}

fn cpu_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::LazyLock<Option<rayon::ThreadPool>> = std::sync::LazyLock::new(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(cores())
            .thread_name(|i| format!("cpu-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .map_err(|e| tracing::warn!(error = %e, "no CPU pool; parsing on the blocking threads"))
            .ok()
    });
    POOL.as_ref()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// Lowers the calling thread's priority by [`CPU_NICE`] (on Linux a thread's own; elsewhere
/// nothing).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only changes the scheduling priority of the calling thread (who = 0).
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, CPU_NICE);
    }
}
