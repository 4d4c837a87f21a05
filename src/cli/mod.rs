//! The command line, in two layers: [`Cli`] and [`Command`] say what the arguments are (clap
//! derives the parser, the man page and the completions from them), and each command's file
//! turns its arguments into calls on the library. Output for people lives in [`output`]; what
//! several commands share (the config, the read-only store, signals, logging) in [`common`].

mod assets;
mod backfill;
mod common;
mod entries;
mod export;
mod extract;
mod feeds;
mod inspect;
mod opml;
pub mod output;
mod poll;
mod report;
mod run;
mod search;
mod status;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use common::Context;
pub use common::init_logging;

#[derive(Parser)]
#[command(
    name = "feedcorpus",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("FEEDCORPUS_COMMIT"), ")"),
    about = "Polls RSS/Atom feeds into a deduplicated SQLite database and a plain-text corpus"
)]
pub struct Cli {
    /// Config file [default: $FEEDCORPUS_CONFIG, then /etc/feedcorpus/feedcorpus.toml]
    #[arg(long, global = true, env = "FEEDCORPUS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log line format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Poll every configured feed once, then exit
    Poll,
    /// Write the man page (feedcorpus.1) and bash, zsh and fish completions into DIR (packaging)
    #[command(hide = true)]
    GenerateAssets(assets::Args),
    /// Run as a daemon: poll each feed when due until SIGTERM or SIGINT; SIGHUP reloads the config
    Run,
    /// Fetch or read one feed and print what would be stored, storing nothing
    Inspect(inspect::Args),
    /// Store a WordPress feed's archive (?paged=2,3,…) until a page holds only known entries
    Backfill(backfill::Args),
    /// Full-text search over titles and texts, best match first
    Search(search::Args),
    /// List stored entries in publication order
    Entries(entries::Args),
    /// Regenerate the corpus (text or Markdown records) or a JSONL dataset from the database
    Export(export::Args),
    /// Print the article text the extractor keeps from a web page (URL or local HTML file)
    Extract(extract::Args),
    /// Is it healthy? Feeds, entries, records, corpus size, failing feeds
    Status(status::Args),
    /// The corpus in a picture: entries per day by feed and language, feeds, near-duplicates (HTML)
    Report(report::Args),
    /// Manage the feed list in the config file (comments are kept)
    Feeds {
        #[command(subcommand)]
        action: feeds::Action,
    },
    /// Import or export the feed list as OPML 2.0
    Opml {
        #[command(subcommand)]
        action: opml::Action,
    },
}

/// Runs the command the arguments name.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let cx = Context::new(cli.config);
    match cli.command {
        Command::GenerateAssets(args) => assets::run(args),
        Command::Poll => poll::run(&cx).await,
        Command::Run => run::run(&cx).await,
        Command::Inspect(args) => inspect::run(&cx, args).await,
        Command::Backfill(args) => backfill::run(&cx, args).await,
        Command::Search(args) => search::run(&cx, args).await,
        Command::Entries(args) => entries::run(&cx, args).await,
        Command::Export(args) => export::run(&cx, args).await,
        Command::Extract(args) => extract::run(&cx, args).await,
        Command::Status(args) => status::run(&cx, args).await,
        Command::Report(args) => report::run(&cx, args).await,
        Command::Feeds { action } => feeds::run(&cx, action).await,
        Command::Opml { action } => opml::run(&cx, action).await,
    }
}
