//! `feedcorpus report --html FILE`: the corpus in one self-contained HTML page.

use std::path::PathBuf;

use anyhow::Context as _;
use feedcorpus::corpus::report::{gather, render_html};

use super::common::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Write the page here (one file: inline SVG, no script, nothing fetched when opened)
    #[arg(long, value_name = "FILE")]
    html: PathBuf,
}

pub async fn run(cx: &Context, args: Args) -> anyhow::Result<()> {
    let (config, store) = cx.open_for_queries().await?;
    let report = gather(&store, &config.storage.corpus_dir, chrono::Utc::now()).await?;
    let page = render_html(&report);
    std::fs::write(&args.html, page)
        .with_context(|| format!("cannot write {}", args.html.display()))?;
    println!(
        "report of {} entries written to {}",
        report.data.totals.entries,
        args.html.display()
    );
    Ok(())
}
