//! `feedcorpus search WORDS…`: full-text search, best match first.

use feedcorpus::store::SearchQuery;

use super::common::{Context, bounds};
use super::output;

#[derive(clap::Args)]
pub struct Args {
    /// Words that must all appear (with --raw: FTS5 query syntax)
    #[arg(required = true, num_args = 1..)]
    query: Vec<String>,
    /// Only entries of this feed
    #[arg(long)]
    feed: Option<String>,
    /// Only entries published on or after this date (YYYY-MM-DD or RFC 3339)
    #[arg(long)]
    since: Option<String>,
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Pass the query to FTS5 as written (AND, OR, NOT, "phrases", prefix*)
    #[arg(long)]
    raw: bool,
    #[arg(long)]
    json: bool,
}

pub async fn run(cx: &Context, args: Args) -> anyhow::Result<()> {
    let (_, store) = cx.open_for_queries().await?;
    let (since, _) = bounds(args.since, None)?;
    let fts = output::fts_query(&args.query.join(" "), args.raw);
    let hits = store
        .search(&SearchQuery {
            query: &fts,
            feed: args.feed.as_deref(),
            since: since.as_deref(),
            limit: args.limit,
        })
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
    } else {
        print!("{}", output::search_text(&hits));
    }
    Ok(())
}
