//! `feedcorpus backfill FEED`: a WordPress feed's archive pages, stored until a page holds only
//! known entries.

use feedcorpus::runtime::engine::Engine;

use super::common::{Context, system_clock};

#[derive(clap::Args)]
pub struct Args {
    /// Name (or URL) of a configured feed
    feed: String,
    /// Pages to read at most, the feed itself included
    #[arg(long, default_value_t = 100)]
    max_pages: usize,
}

pub async fn run(cx: &Context, args: Args) -> anyhow::Result<()> {
    let engine = Engine::open(cx.load_config()?).await?;
    let r = feedcorpus::schedule::backfill::backfill(
        &engine,
        &args.feed,
        args.max_pages,
        system_clock(),
    )
    .await?;
    println!(
        "backfill {}: {} pages, {} new entries, {} records written; stopped: {}",
        r.feed, r.pages, r.new_entries, r.records_written, r.stopped
    );
    engine.close().await;
    Ok(())
}
