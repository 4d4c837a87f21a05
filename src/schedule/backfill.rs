//! `feedcorpus backfill`: a new feed starts with its archive, not its last ten items.
//!
//! WordPress serves older feed pages at `?paged=2,3,…`. The walk stops at the first page that
//! holds only known entries, is empty or does not exist, so a second backfill costs one page.
//! Other generators do not page this way; rather than guess, the walk refuses them.

use std::sync::Arc;

use url::Url;

use crate::model::feed::FeedJob;
use crate::pipeline::fetch::FetchError;
use crate::pipeline::run::{Outcome, Source, run_feed};
use crate::runtime::clock::Clock;
use crate::runtime::engine::Engine;

#[derive(Debug, Clone, PartialEq)]
pub struct BackfillReport {
    pub feed: String,
    /// Pages read, the feed itself included.
    pub pages: usize,
    pub new_entries: usize,
    pub records_written: usize,
    /// Why the walk ended.
    pub stopped: String,
}

/// The URL of archive page `page`.
pub fn page_url(feed: &Url, page: usize) -> Url {
    let mut url = feed.clone();
    let others: Vec<(String, String)> = feed
        .query_pairs()
        .filter(|(k, _)| k != "paged")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &others {
            q.append_pair(k, v);
        }
        q.append_pair("paged", &page.to_string());
    }
    url
}

fn is_wordpress(body: &[u8]) -> bool {
    let head = &body[..body.len().min(64 * 1024)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    text.contains("<generator>https://wordpress.org")
        || text.contains("<generator>http://wordpress.org")
        || text.contains("generator uri=\"https://wordpress.org")
}

/// Walks the archive of the configured feed named (or with the URL) `feed`.
pub async fn backfill(
    engine: &Engine,
    feed: &str,
    max_pages: usize,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<BackfillReport> {
    let job: FeedJob = engine
        .feeds
        .iter()
        .find(|j| j.name == feed || j.url.as_str() == feed)
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!("no configured feed is named {feed:?} (see the config's [[feeds]])")
        })?;
    let mut writer = engine.writer(Arc::clone(&clock));
    let mut report = BackfillReport {
        feed: job.name.clone(),
        pages: 0,
        new_entries: 0,
        records_written: 0,
        stopped: String::new(),
    };
    let mut first_keys: Vec<String> = Vec::new();
    for page in 1..=max_pages.max(1) {
        let url = if page == 1 {
            job.url.clone()
        } else {
            page_url(&job.url, page)
        };
        let (entries, known) = match read_page(engine, &job, &url, page, clock.as_ref()).await? {
            Page::Read { entries, known } => (entries, known),
            Page::End(why) => {
                report.stopped = why;
                break;
            }
            Page::Refused(why) => {
                report.stopped = why;
                return Ok(report);
            }
        };
        let keys: Vec<String> = entries.iter().map(|e| e.key.clone()).collect();
        if entries.is_empty() {
            report.stopped = format!("page {page} is empty: end of the archive");
            break;
        }
        if page == 1 {
            first_keys = keys.clone();
        } else if keys == first_keys {
            report.stopped =
                format!("page {page} repeats the first page: the server ignores ?paged=");
            break;
        }
        report.pages = page;
        let stats = writer.ingest_entries(job.id, &entries).await?;
        report.new_entries += stats.new;
        report.records_written += writer.flush_records().await?;
        tracing::info!(feed = %job.name, url = %url, page, new = stats.new, "archive page stored");
        if page > 1 && known == keys.len() {
            report.stopped = format!("page {page} holds only known entries");
            break;
        }
        if page == max_pages {
            report.stopped = format!("reached --max-pages {max_pages}");
        }
    }
    Ok(report)
}

/// One archive page, read.
enum Page {
    Read {
        entries: Vec<crate::model::entry::NewEntry>,
        /// How many of them were stored before.
        known: usize,
    },
    /// The walk ends here (why).
    End(String),
    /// The feed cannot be walked at all (why).
    Refused(String),
}

/// Fetches archive page `page` and runs it through the pipeline every feed goes through:
/// parse and text work under the per-core limit, the feed's own text rules and boilerplate
/// model, article pages.
async fn read_page(
    engine: &Engine,
    job: &FeedJob,
    url: &Url,
    page: usize,
    clock: &dyn Clock,
) -> anyhow::Result<Page> {
    let fetched = match engine.fetcher.get(url, None).await {
        Ok(f) => f,
        Err(FetchError::Status {
            status: 404 | 410, ..
        }) if page > 1 => {
            return Ok(Page::End(format!(
                "page {page} does not exist: end of the archive"
            )));
        }
        Err(e) => return Ok(Page::End(format!("page {page}: {e}"))),
    };
    if page == 1 && !is_wordpress(&fetched.body) {
        tracing::warn!(feed = %job.name, url = %job.url, "backfill refused: not a WordPress feed");
        return Ok(Page::Refused(
            "not a WordPress feed (no WordPress generator): its archive cannot be paged".into(),
        ));
    }
    let source = Source::Bytes {
        body: fetched.body,
        content_type: fetched.content_type,
    };
    let run = run_feed(
        &engine.fetcher,
        Some(&engine.store),
        clock,
        job.clone(),
        None,
        source,
        None,
    )
    .await;
    match run.outcome {
        Outcome::Parsed(p) => Ok(Page::Read {
            entries: p.entries,
            known: p.known,
        }),
        Outcome::Failed { error, .. } => anyhow::bail!("{url}: {error}"),
        _ => anyhow::bail!("{url}: nothing was read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_urls_replace_an_existing_paged() {
        let u = Url::parse("https://e.org/feed/?lang=en&paged=3").expect("url");
        assert_eq!(
            page_url(&u, 4).as_str(),
            "https://e.org/feed/?lang=en&paged=4"
        );
        let u = Url::parse("https://e.org/feed/").expect("url");
        assert_eq!(page_url(&u, 2).as_str(), "https://e.org/feed/?paged=2");
    }

    #[test]
    fn wordpress_is_told_by_its_generator() {
        assert!(is_wordpress(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/novastan-war-in-ukraine.xml"
        ))));
        assert!(!is_wordpress(
            b"<rss><channel><generator>Hugo</generator></channel></rss>"
        ));
    }
}
