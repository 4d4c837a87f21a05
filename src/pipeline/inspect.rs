//! `feedcorpus inspect`: what a feed would give the corpus, without storing anything.

use std::path::Path;

use chrono::Utc;
use serde::Serialize;
use url::Url;

use crate::config::{Http, parse_feed_url};
use crate::pipeline::fetch::Fetcher;
use crate::pipeline::parse::parse_feed;
use crate::pipeline::text::quality::{FeedQuality, prepare};

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

/// Reads `source` — an http(s) URL or a local file — and runs parse + normalize on it.
pub async fn inspect(source: &str, http: &Http) -> anyhow::Result<Inspection> {
    let is_url = source.starts_with("http://") || source.starts_with("https://");
    let (bytes, content_type, base) = if is_url {
        let url = parse_feed_url(source).map_err(anyhow::Error::msg)?;
        let fetched = Fetcher::new(http)?
            .get(&url, None)
            .await
            .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        (fetched.body, fetched.content_type, url.to_string())
    } else {
        let path = Path::new(source);
        let bytes =
            std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {source}: {e}"))?;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let base = Url::from_file_path(&abs)
            .map(|u| u.to_string())
            .unwrap_or_else(|()| source.to_string());
        (bytes, None, base)
    };
    let parsed = parse_feed(&bytes, content_type.as_deref(), &base)
        .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    let prepared = prepare(&parsed, Utc::now(), &mut FeedQuality::none());
    let entries = prepared
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
        .collect::<Vec<_>>();
    Ok(Inspection {
        feed: FeedSummary {
            source: source.to_string(),
            title: parsed
                .title
                .as_deref()
                .map(crate::pipeline::text::normalize::inline_text),
            site_url: parsed.site_url,
            format: parsed.format,
            encoding: parsed.encoding,
            recovered: parsed.recovered,
            entry_count: entries.len(),
        },
        entries,
    })
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
