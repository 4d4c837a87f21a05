//! The command line: parses arguments and wires the library's stages together.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use feedcorpus::clock::{Clock, SystemClock};
use feedcorpus::config::{Config, Http};
use feedcorpus::scheduler::{PollSummary, poll_once, run_daemon};
use feedcorpus::worker::Engine;
use feedcorpus::worker::FeedResult;

#[derive(Parser)]
#[command(
    name = "feedcorpus",
    version,
    about = "Polls RSS/Atom feeds into a deduplicated SQLite database and a plain-text corpus"
)]
struct Cli {
    /// Config file [default: $FEEDCORPUS_CONFIG, then /etc/feedcorpus/feedcorpus.toml]
    #[arg(long, global = true, env = "FEEDCORPUS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log line format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Poll every configured feed once, then exit
    Poll,
    /// Run as a daemon: poll each feed on its interval until SIGTERM or SIGINT
    Run,
    /// Store a WordPress feed's archive (?paged=2,3,…) until a page holds only known entries
    Backfill {
        /// Name (or URL) of a configured feed
        feed: String,
        /// Pages to read at most, the feed itself included
        #[arg(long, default_value_t = 100)]
        max_pages: usize,
    },
    /// Fetch or read one feed and print what would be stored, storing nothing
    Inspect {
        /// A feed URL (http/https) or a local file
        source: String,
        /// Print one JSON object instead of text
        #[arg(long)]
        json: bool,
    },
}

fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // journald stamps every line itself; a second timestamp is noise.
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let color = std::io::stderr().is_terminal();
    match (format, under_journald) {
        (LogFormat::Json, _) => builder.json().flatten_event(true).init(),
        (LogFormat::Text, true) => builder.without_time().with_ansi(false).init(),
        (LogFormat::Text, false) => builder.with_ansi(color).init(),
    }
}

/// Cancels the token on SIGTERM or SIGINT; a second signal exits at once.
fn shutdown_on_signals() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let t = token.clone();
    tokio::spawn(async move {
        for round in 0..2 {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            if round == 0 {
                tracing::info!(signal = name, "stopping: finishing stored work");
                t.cancel();
            } else {
                tracing::warn!(signal = name, "second signal: exiting now");
                std::process::exit(130);
            }
        }
    });
    Ok(token)
}

/// Re-reads the config on SIGHUP (`systemctl reload`). A config that fails validation is
/// logged and the running one kept.
fn reload_on_sighup(path: PathBuf) -> anyhow::Result<tokio::sync::mpsc::Receiver<Config>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match Config::load(&path) {
                Ok(config) => {
                    tracing::info!(config = %path.display(), "SIGHUP: reloading the config");
                    if tx.send(config).await.is_err() {
                        break;
                    }
                }
                Err(e) => tracing::error!(
                    config = %path.display(), error = %e,
                    "config reload failed; keeping the running one"
                ),
            }
        }
    });
    Ok(rx)
}

fn print_summary(s: &PollSummary) {
    for r in &s.reports {
        match &r.result {
            FeedResult::Stored(st) => println!(
                "ok      {}  {} new, {} linked, {} in feed",
                r.name, st.new, st.linked, st.total
            ),
            FeedResult::NotModified => println!("ok      {}  not modified (304)", r.name),
            FeedResult::Unchanged => println!("ok      {}  unchanged", r.name),
            FeedResult::Skipped(why) => println!("skipped {}  {}", r.name, why),
            FeedResult::Failed(e) => println!("FAILED  {}  {}: {}", r.name, r.url, e),
        }
    }
    let failed = s.count(FeedResult::is_failure);
    let skipped = s.count(|r| matches!(r, FeedResult::Skipped(_)));
    println!(
        "polled {} feeds: {} ok, {} failed{}{}; {} new entries, {} records written",
        s.reports.len() - skipped,
        s.reports.len() - failed - skipped,
        failed,
        if skipped > 0 {
            format!(", {skipped} skipped")
        } else {
            String::new()
        },
        if s.interrupted > 0 {
            format!(", {} not polled (shutdown)", s.interrupted)
        } else {
            String::new()
        },
        s.new_entries(),
        s.writer.records_written
    );
    if let Some(e) = &s.writer.last_corpus_error {
        println!(
            "records: {} pending, not written: {e} (entries are stored; the next poll writes them)",
            s.writer.records_pending
        );
    }
}

async fn real_main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect { source, json } => {
            let http = match &cli.config {
                Some(p) => Config::load(p)?.http,
                None => Http::default(),
            };
            let result = feedcorpus::inspect::inspect(&source, &http).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                print!("{}", result.to_text());
            }
            Ok(())
        }
        Command::Poll => {
            let path = Config::locate(cli.config.as_deref());
            let config = Config::load(&path)?;
            let engine = Engine::open(config).await?;
            let shutdown = shutdown_on_signals()?;
            let summary = poll_once(&engine, shutdown, system_clock()).await?;
            print_summary(&summary);
            engine.store.close().await;
            Ok(())
        }
        Command::Backfill { feed, max_pages } => {
            let config = Config::load(&Config::locate(cli.config.as_deref()))?;
            let engine = Engine::open(config).await?;
            let r =
                feedcorpus::backfill::backfill(&engine, &feed, max_pages, system_clock()).await?;
            println!(
                "backfill {}: {} pages, {} new entries, {} records written; stopped: {}",
                r.feed, r.pages, r.new_entries, r.records_written, r.stopped
            );
            engine.store.close().await;
            Ok(())
        }
        Command::Run => {
            let path = Config::locate(cli.config.as_deref());
            let config = Config::load(&path)?;
            tracing::info!(config = %path.display(), feeds = config.feeds.len(), "starting");
            // Handlers first: a signal during start-up must not kill the process.
            let shutdown = shutdown_on_signals()?;
            let reloads = reload_on_sighup(path)?;
            let mut engine = Engine::open(config).await?;
            run_daemon(&mut engine, shutdown, system_clock(), reloads).await?;
            engine.store.close().await;
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = cli.log_format;
    init_logging(log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(real_main(cli)) {
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
