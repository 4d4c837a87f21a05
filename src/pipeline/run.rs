//! One feed through the pipeline: read its state, fetch (conditional GET), parse, prepare the
//! text, fetch article pages for teasers. The result is a [`Fetch`]: what happened, before
//! anything is stored. Reads the store (the feed's state, known entries); never writes it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use url::Url;

use crate::model::entry::NewEntry;
use crate::model::feed::FeedJob;
use crate::model::feed::{FeedInfo, FeedState};
use crate::pipeline::cpu_slots;
use crate::pipeline::fetch::{CacheHints, FetchError, Fetcher, Redirect, Validators};
use crate::pipeline::hints::{FeedHints, read_hints};
use crate::pipeline::pages::fetch_pages;
use crate::pipeline::parse::{ParsedFeed, parse_feed};
use crate::pipeline::text::boilerplate::BoilerplateModel;
use crate::pipeline::text::quality::FeedQuality;
use crate::pipeline::text::quality::prepare;
use crate::runtime::clock::Clock;
use crate::schedule;
use crate::store::Store;

/// A document that was read: its entries ready to store and what it says about polling.
#[derive(Debug)]
pub struct Parsed {
    pub info: FeedInfo,
    pub entries: Vec<NewEntry>,
    pub body_hash: String,
    pub hints: FeedHints,
    pub recovered: bool,
    /// Publication times of the document's entries (adaptive intervals, gap detection).
    pub published: Vec<DateTime<Utc>>,
    /// The feed's boilerplate model after learning from this document, JSON.
    pub boilerplate: Option<String>,
    /// How many of the document's entries were stored before this fetch.
    pub known: usize,
    /// An article page's site answered 429: its host is held until then.
    pub page_hold: Option<(String, DateTime<Utc>)>,
    /// `rss`, `atom`, … and the character encoding the document was read in.
    pub format: String,
    pub encoding: String,
}

/// What fetching and preparing one feed produced, before anything is stored.
#[derive(Debug)]
pub enum Outcome {
    Parsed(Box<Parsed>),
    /// 304: the server says nothing changed.
    NotModified,
    /// 200 with the same bytes as last time: nothing to parse.
    Unchanged,
    Failed {
        error: String,
        http_status: Option<u16>,
        retry_after: Option<Duration>,
    },
    /// Not fetched: disabled (410) or the server asked us to wait.
    Skipped(String),
}

/// One fetch: the feed, its state before the fetch, the outcome and the response metadata.
#[derive(Debug)]
pub struct Fetch {
    pub job: FeedJob,
    /// When the fetch started: intervals run from one start to the next.
    pub started_at: DateTime<Utc>,
    pub state: FeedState,
    pub outcome: Outcome,
    pub response: Option<ResponseMeta>,
}

impl Fetch {
    /// A fetch that failed before it produced anything (an internal error, a panic).
    pub fn failed(job: FeedJob, started_at: DateTime<Utc>, error: String) -> Fetch {
        Fetch {
            job,
            started_at,
            state: FeedState::default(),
            outcome: Outcome::Failed {
                error,
                http_status: None,
                retry_after: None,
            },
            response: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ResponseMeta {
    pub validators: Validators,
    pub cache: CacheHints,
    pub redirects: Vec<Redirect>,
    pub final_url: Url,
    pub elapsed: Duration,
}

/// Where a run gets its document.
#[derive(Debug, Clone)]
pub enum Source {
    /// The feed as the daemon polls it: holds and a 410 are respected, the GET is conditional,
    /// a body like the last one is not parsed again.
    Feed,
    /// Another URL of the feed (an archive page), fetched unconditionally.
    Page(Url),
    /// A document already in hand (a local file).
    Bytes {
        body: Vec<u8>,
        content_type: Option<String>,
    },
}

/// A response body on its way to the parser.
struct Body {
    bytes: Vec<u8>,
    content_type: Option<String>,
    status: Option<u16>,
    hash: String,
}

/// One feed through the pipeline: state, fetch, parse, text, article pages. This is the one
/// path the daemon, `poll`, `inspect` and `backfill` share. Reads the store (the feed's state
/// and which entries it knows) when given one; never writes. `state` is the feed's state when
/// the caller has read it already (a poll reads every feed's in one query); otherwise it is
/// read here. `poll_slot` (the scheduler's concurrency permit) is given back before article
/// pages are fetched.
pub async fn run_feed(
    fetcher: &Fetcher,
    store: Option<&Store>,
    clock: &dyn Clock,
    job: FeedJob,
    state: Option<FeedState>,
    source: Source,
    poll_slot: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Fetch {
    let started_at = clock.now();
    let mut fetch = Fetch {
        job,
        started_at,
        state: FeedState::default(),
        outcome: Outcome::NotModified,
        response: None,
    };
    if let Some(state) = state {
        fetch.state = state;
    } else if let Some(store) = store {
        match store.feed_state(fetch.job.id).await {
            Ok(s) => fetch.state = s,
            Err(e) => {
                fetch.outcome = failure(format!("cannot read the feed's state: {e}"), None);
                return fetch;
            }
        }
    }
    if matches!(source, Source::Feed)
        && let Some(reason) = skip_reason(&fetch, clock.now())
    {
        fetch.outcome = Outcome::Skipped(reason);
        return fetch;
    }
    // Only the feed's own document remembers what it made of its entries (see
    // `text::memo`): `inspect` shows every entry's text, and archive pages are other documents.
    let reuse = matches!(source, Source::Feed);
    let body = match get_body(fetcher, &mut fetch, source).await {
        Ok(body) => body,
        Err(outcome) => {
            fetch.outcome = outcome;
            return fetch;
        }
    };
    fetch.outcome = read_document(fetcher, store, &fetch, body, poll_slot, reuse).await;
    fetch
}

fn failure(error: String, http_status: Option<u16>) -> Outcome {
    Outcome::Failed {
        error,
        http_status,
        retry_after: None,
    }
}

/// Why the daemon leaves the feed alone this time: disabled, or a server-imposed hold (capped
/// at `max_interval`, whoever wrote it).
fn skip_reason(fetch: &Fetch, now: DateTime<Utc>) -> Option<String> {
    if let Some(reason) = &fetch.state.disabled_reason {
        return Some(format!("disabled: {reason}"));
    }
    let until = fetch
        .state
        .retry_until
        .map(|t| t.min(schedule::add(fetch.started_at, fetch.job.max_wait)))?;
    (until > now).then(|| format!("the server asked to wait until {}", until.to_rfc3339()))
}

/// The document's bytes, or the outcome that ends the run here (an error, a 304, the same
/// bytes as last time). Records the response metadata in `fetch`.
async fn get_body(fetcher: &Fetcher, fetch: &mut Fetch, source: Source) -> Result<Body, Outcome> {
    let (url, conditional) = match source {
        Source::Bytes { body, content_type } => {
            let hash = hex::encode(Sha256::digest(&body));
            return Ok(Body {
                bytes: body,
                content_type,
                status: None,
                hash,
            });
        }
        Source::Page(url) => (url, false),
        Source::Feed => {
            let moved = fetch
                .state
                .fetch_url
                .as_deref()
                .and_then(|u| Url::parse(u).ok());
            (moved.unwrap_or_else(|| fetch.job.url.clone()), true)
        }
    };
    let validators = Validators {
        etag: fetch.state.etag.clone(),
        last_modified: fetch.state.last_modified.clone(),
    };
    let fetched = fetcher
        .get(&url, conditional.then_some(&validators))
        .await
        .map_err(|e| {
            let (http_status, retry_after) = match e {
                FetchError::Status {
                    status,
                    retry_after,
                } => (Some(status), retry_after),
                _ => (None, None),
            };
            Outcome::Failed {
                error: e.to_string(),
                http_status,
                retry_after,
            }
        })?;
    fetch.response = Some(ResponseMeta {
        validators: fetched.validators.clone(),
        cache: fetched.cache.clone(),
        redirects: fetched.redirects.clone(),
        final_url: fetched.final_url.clone(),
        elapsed: fetched.elapsed,
    });
    if fetched.not_modified() {
        return Err(Outcome::NotModified);
    }
    let hash = hex::encode(Sha256::digest(&fetched.body));
    if conditional && fetch.state.body_hash.as_deref() == Some(hash.as_str()) {
        return Err(Outcome::Unchanged);
    }
    Ok(Body {
        bytes: fetched.body,
        content_type: fetched.content_type,
        status: Some(fetched.status),
        hash,
    })
}

/// Parse, text and article pages: the CPU-bound steps under the per-core limit, off the I/O
/// threads; the poll slot is given back before pages are fetched (they wait on other servers).
async fn read_document(
    fetcher: &Fetcher,
    store: Option<&Store>,
    fetch: &Fetch,
    body: Body,
    poll_slot: Option<tokio::sync::OwnedSemaphorePermit>,
    reuse: bool,
) -> Outcome {
    let job = &fetch.job;
    let status = body.status;
    let cpu = cpu_slots().acquire().await.ok();
    let (doc, hints) = match parse_stage(job, body.bytes, body.content_type).await {
        Ok(parsed) => parsed,
        Err(e) => return failure(e, status),
    };
    // Entries stored before with the same text need no language or fingerprint: on a feed that
    // gained a few items, that is most of the work.
    let known = match store {
        Some(store) => {
            let keys: Vec<&str> = doc.entries.iter().map(|e| e.key.as_str()).collect();
            // Without them every entry is made again: slower, never wrong.
            store.known_feed_hashes(&keys).await.unwrap_or_else(|e| {
                tracing::warn!(feed = %job.name, url = %job.url, error = %e, "cannot read the feed's known entries; making every entry again");
                HashMap::new()
            })
        }
        None => HashMap::new(),
    };
    let known = Arc::new(known);
    // Read only now: most fetches end before this (304, same bytes, an error).
    let model = match store {
        Some(store) => match store.boilerplate_model(job.id).await {
            Ok(m) => m,
            Err(e) => {
                return failure(
                    format!("cannot read the feed's boilerplate model: {e}"),
                    status,
                );
            }
        },
        None => None,
    };
    let (doc, mut entries, boilerplate) =
        match text_stage(job, doc, Arc::clone(&known), model, reuse).await {
            Ok(done) => done,
            Err(e) => return failure(e, status),
        };
    drop(cpu);
    drop(poll_slot);
    let page_hold = fetch_pages(fetcher, &known, job, &mut entries).await;
    Outcome::Parsed(Box::new(Parsed {
        page_hold,
        known: known.len(),
        boilerplate,
        published: doc
            .entries
            .iter()
            .filter_map(|e| e.published.or(e.updated))
            .map(|d| d.with_timezone(&Utc))
            .collect(),
        info: FeedInfo {
            title: doc
                .title
                .as_deref()
                .map(crate::pipeline::text::normalize::inline_text),
            site_url: doc.site_url.clone(),
            http_status: status,
        },
        entries,
        body_hash: body.hash,
        hints,
        recovered: doc.recovered,
        format: doc.format,
        encoding: doc.encoding,
    }))
}

/// Parses the document (and its polling hints), keeping the newest `max_entries`.
async fn parse_stage(
    job: &FeedJob,
    body: Vec<u8>,
    content_type: Option<String>,
) -> Result<(ParsedFeed, FeedHints), String> {
    // Keys of non-global GUIDs hang off the configured URL, which stays stable when a feed moves.
    let feed_url = job.url.as_str().to_string();
    let max_entries = job.max_entries;
    let parsed = crate::pipeline::on_cpu(move || {
        let hints = read_hints(&body);
        parse_feed(&body, content_type.as_deref(), &feed_url).map(|mut p| {
            let left_out = crate::pipeline::parse::keep_newest(&mut p.entries, max_entries);
            (p, hints, left_out)
        })
    })
    .await;
    match parsed {
        Ok(Ok((p, hints, left_out))) => {
            if left_out > 0 {
                tracing::warn!(
                    feed = %job.name, url = %job.url, kept = p.entries.len(), left_out,
                    "the document holds more entries than [poll] max_entries_per_fetch; the oldest are left out"
                );
            }
            Ok((p, hints))
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("parser task failed: {e}")),
    }
}

/// The feed's own text rules (strip, languages, its learned boilerplate model) applied to
/// every entry; returns the entries and the model after learning from this document.
async fn text_stage(
    job: &FeedJob,
    doc: ParsedFeed,
    known: Arc<HashMap<String, String>>,
    model_json: Option<String>,
    reuse: bool,
) -> Result<(ParsedFeed, Vec<NewEntry>, Option<String>), String> {
    let cfg = job.cfg.clone();
    crate::pipeline::on_cpu(move || {
        let mut model: BoilerplateModel = model_json
            .as_deref()
            .and_then(|m| serde_json::from_str::<BoilerplateModel>(m).ok())
            .map(BoilerplateModel::upgraded)
            .unwrap_or_default();
        let mut q = FeedQuality {
            strip: &cfg.strip,
            languages: &cfg.languages,
            min_words: cfg.min_words,
            model: Some(&mut model),
            known: Some(known.as_ref()),
            keep_html: cfg.keep_html,
            reuse,
        };
        let entries = prepare(&doc, Utc::now(), &mut q);
        (doc, entries, serde_json::to_string(&model).ok())
    })
    .await
    .map_err(|e| format!("parser task failed: {e}"))
}

/// The message of a caught panic.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
