//! `feedcorpus status`: is it healthy? Feeds, entries, records, corpus size, failing feeds.

use super::common::Context;
use super::output::Status;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

pub async fn run(cx: &Context, args: Args) -> anyhow::Result<()> {
    let (config, store) = cx.open_for_queries().await?;
    let today = chrono::Utc::now().format("%Y-%m-%dT00:00:00Z").to_string();
    // An instance silent for two leases is gone.
    let instances = store.instances(config.storage.lease * 2).await?;
    let status = Status::build(
        &config,
        store.feed_rows().await?,
        store.totals(&today).await?,
        instances,
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", status.to_text());
    }
    Ok(())
}
