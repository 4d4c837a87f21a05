//! `feedcorpus poll`: every configured feed once, a progress bar on a terminal, a summary.

use std::io::{IsTerminal, Write};

use feedcorpus::ingest::report::{FeedReport, FeedResult};
use feedcorpus::runtime::engine::Engine;
use feedcorpus::schedule::daemon::{PollSummary, poll_once};

use super::common::{Context, shutdown_on_signals, system_clock};

pub async fn run(cx: &Context) -> anyhow::Result<()> {
    let engine = Engine::open(cx.load_config()?).await?;
    let shutdown = shutdown_on_signals()?;
    let total = engine.feeds.len() as u64;
    // A progress bar on a terminal; plain summary lines otherwise.
    let bar = std::io::stdout().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} feeds, {msg} [{elapsed_precise}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut new_entries = 0usize;
    let mut on_report = |r: &FeedReport| {
        if let (Some(bar), FeedResult::Stored(s)) = (&bar, &r.result) {
            new_entries += s.new;
            bar.set_message(format!("{new_entries} new entries"));
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    };
    let summary = poll_once(&engine, shutdown, system_clock(), &mut on_report).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    print_summary(&summary);
    engine.close().await;
    Ok(())
}

fn report_line(r: &FeedReport) -> String {
    match &r.result {
        FeedResult::Stored(st) => format!(
            "ok      {}  {} new, {} linked, {} in feed",
            r.name, st.new, st.linked, st.total
        ),
        FeedResult::NotModified => format!("ok      {}  not modified (304)", r.name),
        FeedResult::Unchanged => format!("ok      {}  unchanged", r.name),
        FeedResult::Skipped(why) => format!("skipped {}  {}", r.name, why),
        FeedResult::Failed(e) => format!("FAILED  {}  {}: {}", r.name, r.url, e),
    }
}

fn print_summary(s: &PollSummary) {
    // One line per feed: written in blocks, not a write per line (1,000 feeds made 1,000).
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in &s.reports {
        let _ = writeln!(out, "{}", report_line(r));
    }
    let failed = s.count(FeedResult::is_failure);
    let skipped = s.count(|r| matches!(r, FeedResult::Skipped(_)));
    let note = |n: usize, what: &str| {
        if n > 0 {
            format!(", {n} {what}")
        } else {
            String::new()
        }
    };
    let _ = writeln!(
        out,
        "polled {} feeds: {} ok, {} failed{}{}; {} new entries, {} records written",
        s.reports.len() - skipped,
        s.reports.len() - failed - skipped,
        failed,
        note(skipped, "skipped"),
        note(s.interrupted, "not polled (shutdown)"),
        s.new_entries(),
        s.writer.records_written
    );
    if let Some(e) = &s.writer.last_corpus_error {
        let _ = writeln!(
            out,
            "records: {} pending, not written: {e} (entries are stored; the next poll writes them)",
            s.writer.records_pending
        );
    }
}
