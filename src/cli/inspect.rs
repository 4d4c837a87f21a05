//! `feedcorpus inspect SOURCE`: one feed through the pipeline, printed, nothing stored.

use feedcorpus::config::Http;

use super::common::Context;

#[derive(clap::Args)]
pub struct Args {
    /// A feed URL (http/https) or a local file
    source: String,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
}

pub async fn run(cx: &Context, args: Args) -> anyhow::Result<()> {
    let http = cx
        .explicit_config()?
        .map(|c| c.http)
        .unwrap_or_else(Http::default);
    let result = feedcorpus::pipeline::inspect::inspect(&args.source, &http).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", result.to_text());
    }
    Ok(())
}
