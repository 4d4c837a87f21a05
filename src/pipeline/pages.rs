//! Article pages for feeds that carry only teasers (`full_text`): polite (robots.txt, per-host
//! limits, 429 holds), bounded (pages per poll, a few at a time, a CPU slot for extraction), and
//! never fatal: any failure keeps the feed's own text. Never touches the store.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use crate::config::{self};
use crate::model::entry::NewEntry;
use crate::model::feed::FeedJob;
use crate::pipeline::cpu_slots;
use crate::pipeline::fetch::host_of;
use crate::pipeline::fetch::{FetchError, Fetcher};
use crate::pipeline::text::quality::FeedQuality;
use crate::schedule;

/// Replaces teasers of new entries with the article page's text (`full_text`). Page fetches go
/// through the same fetcher — per-host limits, timeouts, size cap, and the refusal of internal
/// addresses — as feeds, a few at a time, at most `max_pages` per poll; extraction takes a CPU
/// slot like parsing. A 429 from the site stops this poll's page fetches to that host. Any
/// failure keeps the feed's text. Entries in `known` are stored already: their page is not
/// fetched again.
pub(crate) async fn fetch_pages(
    fetcher: &Fetcher,
    known: &HashMap<String, String>,
    job: &FeedJob,
    entries: &mut [NewEntry],
) -> Option<(String, DateTime<Utc>)> {
    use futures_util::StreamExt;
    if job.cfg.full_text == config::FullText::Never {
        return None;
    }
    let wanted: Vec<(usize, Url)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| crate::pipeline::text::quality::wants_page(job.cfg.full_text, e))
        .filter(|(_, e)| !known.contains_key(&e.key))
        .filter_map(|(i, e)| Some((i, e.url.as_deref().and_then(|u| Url::parse(u).ok())?)))
        .collect();
    if wanted.len() > job.max_pages {
        tracing::info!(
            feed = %job.name, url = %job.url, pages = wanted.len(), max = job.max_pages,
            "more teasers than [corpus] max_pages_per_poll; the others keep the feed's text"
        );
    }
    let hold: std::sync::Mutex<Option<(String, DateTime<Utc>)>> = std::sync::Mutex::new(None);
    let hold_ref = &hold;
    let entries_ref: &[NewEntry] = entries;
    let results: Vec<(usize, Option<NewEntry>)> = futures_util::stream::iter(
        wanted.into_iter().take(job.max_pages),
    )
    .map(|(i, url)| async move {
        if fetcher.is_held(&url) {
            tracing::info!(feed = %job.name, url = %job.url, page = %url, "the site asked to wait (429); keeping the feed's text");
            return (i, None);
        }
        if let Err(why) = fetcher.robots_allow(&url, &job.url).await {
            tracing::info!(feed = %job.name, url = %job.url, page = %url, reason = %why, "article page not fetched (robots.txt); keeping the feed's text");
            return (i, None);
        }
        let page = match fetcher.get_linked(&url, &job.url).await {
            Ok(p) => p,
            Err(e) => {
                if let FetchError::Status {
                    status: 429,
                    retry_after,
                } = &e
                {
                    // Like a 429 on a feed: the host is left alone for a while, by the page
                    // fetches of every feed and by the feeds on that host.
                    let wait = retry_after
                        .unwrap_or(Duration::from_secs(60))
                        .min(schedule::HOST_BLOCK_CAP);
                    fetcher.hold_host(&url, wait);
                    if let Ok(mut h) = hold_ref.lock() {
                        *h = Some((host_of(&url), schedule::add(Utc::now(), wait)));
                    }
                }
                tracing::warn!(feed = %job.name, url = %job.url, page = %url, error = %e, "article page not fetched; keeping the feed's text");
                return (i, None);
            }
        };
        (i, page_text(job, &url, page, entries_ref[i].clone()).await)
    })
    .buffer_unordered(PAGE_FETCHES)
    .collect()
    .await;
    for (i, entry) in results {
        if let (Some(entry), Some(slot)) = (entry, entries.get_mut(i)) {
            *slot = entry;
        }
    }
    hold.into_inner().ok().flatten()
}

/// Article pages of one feed fetched at the same time (per-host limits still apply).
const PAGE_FETCHES: usize = 4;

/// The entry with the page's text, if the page says more than the feed.
async fn page_text(
    job: &FeedJob,
    url: &Url,
    page: crate::pipeline::fetch::Fetched,
    entry: NewEntry,
) -> Option<NewEntry> {
    let page_url = page.final_url.to_string();
    let html = crate::pipeline::parse::decode::decode_html(
        &page.body,
        page.content_type.as_deref(),
        &page_url,
    )
    .text;
    let cfg = job.cfg.clone();
    let _cpu = cpu_slots().acquire().await.ok();
    let result = crate::pipeline::on_cpu(move || {
        let article = crate::pipeline::text::extract::extract_article(&html, Some(&page_url))?;
        let mut entry = entry;
        let q = FeedQuality {
            known: None,
            strip: &cfg.strip,
            languages: &cfg.languages,
            min_words: cfg.min_words,
            model: None,
            keep_html: cfg.keep_html,
            reuse: false,
        };
        let used = crate::pipeline::text::quality::use_page_text(&mut entry, article, &q);
        Ok::<_, crate::pipeline::text::extract::ExtractError>((entry, used))
    })
    .await;
    match result {
        Ok(Ok((entry, true))) => {
            tracing::info!(feed = %job.name, url = %job.url, page = %url, "full text from the article page");
            Some(entry)
        }
        Ok(Ok((_, false))) => {
            tracing::info!(feed = %job.name, url = %job.url, page = %url, "article page says no more than the feed; keeping the feed's text");
            None
        }
        Ok(Err(e)) => {
            tracing::warn!(feed = %job.name, url = %job.url, page = %url, error = %e, "no article text in the page; keeping the feed's text");
            None
        }
        Err(e) => {
            tracing::warn!(feed = %job.name, url = %job.url, page = %url, error = %e, "extraction task failed");
            None
        }
    }
}
