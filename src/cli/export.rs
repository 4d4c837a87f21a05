//! `feedcorpus export`: the corpus (text or Markdown records) or a JSONL dataset, regenerated
//! from the database.

use std::path::PathBuf;

use clap::ValueEnum;
use feedcorpus::corpus::export::{ExportFormat, export};
use feedcorpus::store::EntryFilter;

use super::common::{Context, bounds};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Markdown,
    Jsonl,
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_enum)]
    format: Format,
    /// A new or empty folder (text, markdown) or a file (jsonl)
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
    #[arg(long)]
    feed: Option<String>,
    /// Only entries in this language (ISO 639-1)
    #[arg(long)]
    language: Option<String>,
}

pub async fn run(cx: &Context, args: Args) -> anyhow::Result<()> {
    let (config, store) = cx.open_for_queries().await?;
    let (since, until) = bounds(args.since, args.until)?;
    let filter = EntryFilter {
        feed: args.feed.as_deref(),
        since: since.as_deref(),
        until: until.as_deref(),
        language: args.language.as_deref(),
    };
    let format = match args.format {
        Format::Text => ExportFormat::Text,
        Format::Markdown => ExportFormat::Markdown,
        Format::Jsonl => ExportFormat::Jsonl,
    };
    let n = export(&store, &filter, format, config.corpus.text_title, &args.out).await?;
    println!("exported {n} entries to {}", args.out.display());
    Ok(())
}
