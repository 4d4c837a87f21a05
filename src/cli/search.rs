//! `feedcorpus search WORDS…`: full-text search, best match first.

use feedcorpus::store::SearchQuery;

use super::common::{Context, bounds};
use super::output;

#[derive(clap::Args)]
pub struct Args {
    /// Words that must all appear (with --raw: the database's query syntax: FTS5's on SQLite,
    /// tsquery on PostgreSQL)
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
    /// Pass the query as written: SQLite FTS5 (AND, OR, NOT, "phrases", prefix*) or
    /// PostgreSQL tsquery (&, |, !, <->, prefix:*)
    #[arg(long)]
    raw: bool,
    #[arg(long)]
    json: bool,
}

pub async fn run(cx: &Context, args: Args) -> anyhow::Result<()> {
    let (_, store) = cx.open_for_queries().await?;
    let (since, _) = bounds(args.since, None)?;
    let words = args.query.join(" ");
    let hits = store
        .search(&SearchQuery {
            words: &words,
            raw: args.raw,
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
