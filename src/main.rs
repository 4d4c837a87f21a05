//! The `feedcorpus` binary: parses the arguments and hands them to the command's file in
//! [`cli`]. Everything else is the library's.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, LogFormat};

/// glibc gives every thread that allocates its own arena, and freed memory stays in them: with
/// a parse pool, a database thread and the runtime, that doubled peak RSS. Two arenas cost no
/// measurable speed. A fixed mmap threshold keeps big buffers (feed bodies, batched inserts)
/// out of the arenas, so they go back to the system when freed instead of fragmenting the heap.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator tunables; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let log_format = cli.log_format;
    cli::init_logging(log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match log_format {
                LogFormat::Json => tracing::error!("{e:#}"),
                LogFormat::Text => eprintln!("error: {e:#}"),
            }
            ExitCode::from(2)
        }
    }
}
