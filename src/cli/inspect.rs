//! `feedcorpus inspect SOURCE`: one feed through the pipeline, printed, nothing stored.

use super::common::Context;

#[derive(clap::Args)]
pub struct Args {
    /// The name (or URL) of a configured feed — its own settings apply: strip, languages,
    /// full_text, max_entries_per_fetch and its learned boilerplate model — or any feed URL
    /// (http/https) or local file, read with the defaults
    source: String,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
}

pub async fn run(cx: &Context, args: Args) -> anyhow::Result<()> {
    // The config is optional here: a URL or a file can be inspected without one.
    let config = match cx.explicit_config()? {
        Some(c) => Some(c),
        None => cx.load_config().ok(),
    };
    let result = feedcorpus::pipeline::inspect::inspect(&args.source, config.as_ref()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", result.to_text());
    }
    Ok(())
}
