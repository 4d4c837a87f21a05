//! One feed through the pipeline: read its state, fetch (conditional GET), parse, prepare the
//! text, fetch article pages for teasers. The result is a [`Fetch`]: what happened, before
//! anything is stored. Reads the store (the feed's state, known entries); never writes it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use url::Url;

use crate::model::feed::FeedJob;
use crate::pipeline::fetch::{CacheHints, FetchError, Fetcher, Redirect, Validators};
use crate::pipeline::hints::{FeedHints, read_hints};
use crate::pipeline::pages::fetch_pages;
use crate::pipeline::parse::parse_feed;
use crate::pipeline::text::boilerplate::BoilerplateModel;
use crate::pipeline::text::quality::FeedQuality;
use crate::pipeline::text::quality::prepare;
use crate::runtime::clock::Clock;
use crate::schedule;
use crate::store::{FeedInfo, FeedState, NewEntry, Store};

/// What fetching and preparing one feed produced, before anything is stored.
#[derive(Debug)]
pub enum Outcome {
    Parsed {
        info: FeedInfo,
        entries: Vec<NewEntry>,
        body_hash: String,
        hints: FeedHints,
        recovered: bool,
        /// Publication times of the document's entries (adaptive intervals, gap detection).
        published: Vec<DateTime<Utc>>,
        /// The feed's boilerplate model after learning from this document, JSON.
        boilerplate: Option<String>,
        /// An article page's site answered 429: its host is held until then.
        page_hold: Option<Box<(String, DateTime<Utc>)>>,
    },
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

    /// Entries the fetch carries (parsed ones only).
    pub fn entry_count(&self) -> usize {
        match &self.outcome {
            Outcome::Parsed { entries, .. } => entries.len(),
            _ => 0,
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

/// The host part used for per-host politeness.
pub fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or("").to_ascii_lowercase()
}

/// Permits for CPU-bound parse work: one per core.
pub(crate) fn cpu_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cores)
    });
    &SLOTS
}

/// Fetches, parses and normalizes one feed. Reads the feed's state; never writes.
/// `poll_slot` (the scheduler's concurrency permit) is given back before article pages are
/// fetched.
pub async fn fetch_feed(
    fetcher: &Fetcher,
    store: &Store,
    clock: &dyn Clock,
    job: FeedJob,
    poll_slot: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Fetch {
    let started_at = clock.now();
    let state = match store.feed_state(job.id).await {
        Ok(s) => s,
        Err(e) => {
            return Fetch {
                job,
                started_at,
                state: FeedState::default(),
                outcome: Outcome::Failed {
                    error: format!("cannot read the feed's state: {e}"),
                    http_status: None,
                    retry_after: None,
                },
                response: None,
            };
        }
    };
    if let Some(reason) = &state.disabled_reason {
        let outcome = Outcome::Skipped(format!("disabled: {reason}"));
        return Fetch {
            job,
            started_at,
            state,
            outcome,
            response: None,
        };
    }
    // A hold longer than `max_interval` (written by an older version, or by hand) is capped.
    if let Some(until) = state
        .retry_until
        .as_deref()
        .and_then(parse_time)
        .map(|t| t.min(schedule::add(started_at, job.max_wait)))
        && until > clock.now()
    {
        let outcome = Outcome::Skipped(format!(
            "the server asked to wait until {}",
            until.to_rfc3339()
        ));
        return Fetch {
            job,
            started_at,
            state,
            outcome,
            response: None,
        };
    }
    let url = state
        .fetch_url
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .unwrap_or_else(|| job.url.clone());
    let validators = Validators {
        etag: state.etag.clone(),
        last_modified: state.last_modified.clone(),
    };
    let fetched = match fetcher.get(&url, Some(&validators)).await {
        Ok(f) => f,
        Err(e) => {
            let (http_status, retry_after) = match e {
                FetchError::Status {
                    status,
                    retry_after,
                } => (Some(status), retry_after),
                _ => (None, None),
            };
            let outcome = Outcome::Failed {
                error: e.to_string(),
                http_status,
                retry_after,
            };
            return Fetch {
                job,
                started_at,
                state,
                outcome,
                response: None,
            };
        }
    };
    let response = Some(ResponseMeta {
        validators: fetched.validators.clone(),
        cache: fetched.cache.clone(),
        redirects: fetched.redirects.clone(),
        final_url: fetched.final_url.clone(),
        elapsed: fetched.elapsed,
    });
    if fetched.not_modified() {
        return Fetch {
            job,
            started_at,
            state,
            outcome: Outcome::NotModified,
            response,
        };
    }
    let body_hash = hex::encode(Sha256::digest(&fetched.body));
    if state.body_hash.as_deref() == Some(body_hash.as_str()) {
        return Fetch {
            job,
            started_at,
            state,
            outcome: Outcome::Unchanged,
            response,
        };
    }
    // Keys of non-global GUIDs hang off the configured URL, which stays stable when a feed moves.
    let feed_url = job.url.as_str().to_string();
    let status = fetched.status;
    let content_type = fetched.content_type;
    let body = fetched.body;
    let cfg = job.cfg.clone();
    let max_entries = job.max_entries;
    let model_json = state.boilerplate.clone();
    // Parsing and HTML work is CPU-bound; keep it off the I/O threads, and run no more of it at
    // once than there are cores: more would only take CPU from the writer, whose pace every
    // fetch waits for anyway.
    let _cpu = cpu_slots().acquire().await.ok();
    let parsed = tokio::task::spawn_blocking(move || {
        let hints = read_hints(&body);
        parse_feed(&body, content_type.as_deref(), &feed_url).map(|mut p| {
            let left_out = crate::pipeline::parse::keep_newest(&mut p.entries, max_entries);
            (p, hints, left_out)
        })
    })
    .await;
    let parsed = match parsed {
        Ok(Ok((p, hints, left_out))) => {
            if left_out > 0 {
                tracing::warn!(
                    feed = %job.name, url = %job.url, kept = p.entries.len(), left_out,
                    "the document holds more entries than [poll] max_entries_per_fetch; the oldest are left out"
                );
            }
            Ok(Ok((p, hints)))
        }
        Ok(Err(e)) => Ok(Err(e)),
        Err(e) => Err(e),
    };
    // Entries stored before with the same text need no language or fingerprint: on a feed that
    // gained a few items, that is most of the work.
    let known = Arc::new(match &parsed {
        Ok(Ok((p, _))) => {
            let keys: Vec<&str> = p.entries.iter().map(|e| e.key.as_str()).collect();
            store.known_feed_hashes(&keys).await.unwrap_or_default()
        }
        _ => HashMap::new(),
    });
    let parsed = match parsed {
        Ok(Ok((p, hints))) => {
            let known = Arc::clone(&known);
            tokio::task::spawn_blocking(move || {
                let mut model: BoilerplateModel = model_json
                    .as_deref()
                    .and_then(|m| serde_json::from_str(m).ok())
                    .unwrap_or_default();
                let mut q = FeedQuality {
                    strip: &cfg.strip,
                    languages: &cfg.languages,
                    model: Some(&mut model),
                    known: Some(known.as_ref()),
                };
                let entries = prepare(&p, Utc::now(), &mut q);
                Ok((p, entries, hints, serde_json::to_string(&model).ok()))
            })
            .await
        }
        Ok(Err(e)) => Ok(Err(e)),
        Err(e) => Err(e),
    };
    drop(_cpu);
    // Page fetches wait on other servers, not on this feed's: the poll slot goes to the next
    // feed meanwhile.
    drop(poll_slot);
    let mut page_hold = None;
    let parsed = match parsed {
        Ok(Ok((p, mut entries, hints, model))) => {
            page_hold = fetch_pages(fetcher, &known, &job, &mut entries)
                .await
                .map(Box::new);
            Ok(Ok((p, entries, hints, model)))
        }
        other => other,
    };
    let outcome = match parsed {
        Ok(Ok((p, entries, hints, boilerplate))) => Outcome::Parsed {
            page_hold,
            boilerplate,
            published: p
                .entries
                .iter()
                .filter_map(|e| e.published.or(e.updated))
                .map(|d| d.with_timezone(&Utc))
                .collect(),
            info: FeedInfo {
                title: p
                    .title
                    .map(|t| crate::pipeline::text::normalize::inline_text(&t)),
                site_url: p.site_url,
                http_status: Some(status),
            },
            entries,
            body_hash,
            hints,
            recovered: p.recovered,
        },
        Ok(Err(e)) => Outcome::Failed {
            error: e.to_string(),
            http_status: Some(status),
            retry_after: None,
        },
        Err(e) => Outcome::Failed {
            error: format!("parser task failed: {e}"),
            http_status: Some(status),
            retry_after: None,
        },
    };
    Fetch {
        job,
        started_at,
        state,
        outcome,
        response,
    }
}

/// The message of a caught panic.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
