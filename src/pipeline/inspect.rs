//! `feedcorpus inspect`: what a feed would give the corpus, without storing anything.

use std::path::Path;

use serde::Serialize;
use url::Url;

use crate::config::{Config, Feed, Poll, default_name, parse_feed_url};
use crate::model::feed::FeedJob;
use crate::pipeline::fetch::Fetcher;
use crate::pipeline::run::{Outcome, Source, run_feed};
use crate::runtime::clock::SystemClock;
use crate::store::Store;

#[derive(Debug, Serialize)]
pub struct Inspection {
    pub feed: FeedSummary,
    pub entries: Vec<InspectedEntry>,
}

#[derive(Debug, Serialize)]
pub struct FeedSummary {
    pub source: String,
    pub title: Option<String>,
    pub site_url: Option<String>,
    pub format: String,
    /// Character encoding the document was read in.
    pub encoding: String,
    /// Whether the document needed the broken-XML recovery pass.
    pub recovered: bool,
    pub entry_count: usize,
}

#[derive(Debug, Serialize)]
pub struct InspectedEntry {
    pub key: String,
    pub guid: Option<String>,
    pub url: Option<String>,
    pub title: Option<String>,
    pub author: Option<String>,
    /// RFC 3339 UTC, or null.
    pub published: Option<String>,
    pub text: String,
}

/// Reads `source` and runs it through the pipeline ([`run_feed`]) without storing anything.
///
/// `source` is the name (or URL) of a feed in `config` — then that feed's own settings apply:
/// `strip`, `languages`, `full_text` (article pages are fetched), `max_entries_per_fetch`, and
/// the boilerplate model the database learned for it — or any http(s) URL or local file, read
/// with the defaults.
pub async fn inspect(source: &str, config: Option<&Config>) -> anyhow::Result<Inspection> {
    let http = config.map(|c| c.http.clone()).unwrap_or_default();
    let configured = config.and_then(|c| {
        c.feeds
            .iter()
            .find(|f| f.name == source || f.url.as_str() == source)
            .map(|f| (c, f.clone()))
    });
    let fetcher = Fetcher::new(&http)?;
    let (job, store, from) = match configured {
        Some((config, feed)) => {
            // Read-only and optional: a feed never polled has no state yet.
            let store = Store::open_existing(&config.storage.database).await.ok();
            let id = match &store {
                Some(s) => s.feed_id(&feed.name).await?.unwrap_or(0),
                None => 0,
            };
            let job = FeedJob {
                id,
                name: feed.name.clone(),
                url: feed.url.clone(),
                max_wait: config.poll.max_interval,
                max_entries: config.poll.max_entries_per_fetch,
                max_pages: config.corpus.max_pages_per_poll,
                cfg: feed,
            };
            let from = Source::Page(job.url.clone());
            (job, store.filter(|_| id > 0), from)
        }
        None => unconfigured(source)?,
    };
    let fetch = run_feed(
        &fetcher,
        store.as_ref(),
        &SystemClock,
        job,
        None,
        from,
        None,
    )
    .await;
    let p = match fetch.outcome {
        Outcome::Parsed(p) => p,
        Outcome::Failed { error, .. } => anyhow::bail!("{source}: {error}"),
        other => anyhow::bail!("{source}: nothing was read ({other:?})"),
    };
    let entries: Vec<InspectedEntry> = p
        .entries
        .into_iter()
        .map(|e| InspectedEntry {
            key: e.key,
            guid: e.guid,
            url: e.url,
            title: e.title,
            author: e.author,
            published: e.published,
            text: e.content_text,
        })
        .collect();
    Ok(Inspection {
        feed: FeedSummary {
            source: source.to_string(),
            title: p.info.title,
            site_url: p.info.site_url,
            format: p.format,
            encoding: p.encoding,
            recovered: p.recovered,
            entry_count: entries.len(),
        },
        entries,
    })
}

/// A URL or file that no config names: the defaults, no article pages, every entry.
fn unconfigured(source: &str) -> anyhow::Result<(FeedJob, Option<Store>, Source)> {
    let is_url = source.starts_with("http://") || source.starts_with("https://");
    let (url, from) = if is_url {
        let url = parse_feed_url(source).map_err(anyhow::Error::msg)?;
        (url.clone(), Source::Page(url))
    } else {
        let path = Path::new(source);
        let body = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {source}: {e}"))?;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let url = Url::from_file_path(&abs)
            .map_err(|()| anyhow::anyhow!("cannot read {source}: not a file path"))?;
        let from = Source::Bytes {
            body,
            content_type: None,
        };
        (url, from)
    };
    let poll = Poll::default();
    let cfg = Feed::plain(default_name(&url), url.clone(), poll.interval);
    let job = FeedJob {
        id: 0,
        name: cfg.name.clone(),
        url,
        cfg,
        max_wait: poll.max_interval,
        max_entries: 0,
        max_pages: 0,
    };
    Ok((job, None, from))
}

impl Inspection {
    /// Human-readable form: a header per entry, then its text.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "feed: {} ({}, {}{}, {} entries)\n",
            self.feed.title.as_deref().unwrap_or("(untitled)"),
            self.feed.format,
            self.feed.encoding,
            if self.feed.recovered {
                ", recovered from broken XML"
            } else {
                ""
            },
            self.feed.entry_count
        );
        for e in &self.entries {
            out.push_str(&format!(
                "\n== {}\nkey:       {}\nurl:       {}\nauthor:    {}\npublished: {}\n\n{}\n",
                e.title.as_deref().unwrap_or("(untitled)"),
                e.key,
                e.url.as_deref().unwrap_or("-"),
                e.author.as_deref().unwrap_or("-"),
                e.published.as_deref().unwrap_or("-"),
                e.text
            ));
        }
        out
    }
}
