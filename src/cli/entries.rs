//! `feedcorpus entries`: stored entries in publication order, as lines, JSON or JSONL.

use std::io::Write;

use feedcorpus::store::{EntryFilter, EntryRow};

use super::common::{Context, bounds};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    feed: Option<String>,
    /// On or after this date (YYYY-MM-DD or RFC 3339)
    #[arg(long)]
    since: Option<String>,
    /// On or before this date (YYYY-MM-DD: the whole day) or before this RFC 3339 time
    #[arg(long)]
    until: Option<String>,
    /// One JSON array with every stored field
    #[arg(long, conflicts_with = "jsonl")]
    json: bool,
    /// One JSON object per line with every stored field
    #[arg(long)]
    jsonl: bool,
}

pub async fn run(cx: &Context, args: Args) -> anyhow::Result<()> {
    let (_, store) = cx.open_for_queries().await?;
    let (since, until) = bounds(args.since, args.until)?;
    let filter = EntryFilter {
        feed: args.feed.as_deref(),
        since: since.as_deref(),
        until: until.as_deref(),
        language: None,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (json, jsonl) = (args.json, args.jsonl);
    let mut first = true;
    if json {
        out.write_all(b"[")?;
    }
    store
        .for_each_entry(&filter, |e| {
            write_entry(&mut out, &e, json, jsonl, first)?;
            first = false;
            Ok(())
        })
        .await?;
    let finished = if json {
        out.write_all(b"\n]\n").and_then(|()| out.flush())
    } else {
        out.flush()
    };
    match finished {
        // `| head` closing the pipe early is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn write_entry(
    out: &mut impl Write,
    e: &EntryRow,
    json: bool,
    jsonl: bool,
    first: bool,
) -> std::io::Result<()> {
    if json || jsonl {
        if json && !first {
            out.write_all(b",")?;
        }
        if json {
            out.write_all(b"\n")?;
        }
        serde_json::to_writer(&mut *out, e)?;
        if jsonl {
            out.write_all(b"\n")?;
        }
        Ok(())
    } else {
        writeln!(
            out,
            "{}  {}  {}",
            e.published.as_deref().unwrap_or(&e.record_date),
            e.feeds.join(","),
            e.title.as_deref().unwrap_or("(untitled)")
        )
    }
}
