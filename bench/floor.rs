//! The floor: what fetching every feed costs with nothing done to the bodies.
//!
//! The HTTP client is built like feedcorpus's (`src/pipeline/fetch/mod.rs`): reqwest with rustls on the ring
//! provider, gzip/brotli/deflate, the same default headers, timeouts and redirect limit, on a
//! multi-threaded tokio runtime, with the same number of fetches in flight. Bodies are read chunk
//! by chunk and dropped.
//!
//! `--save-validators FILE` keeps each feed's `ETag` / `Last-Modified`; `--validators FILE` sends
//! them back as `If-None-Match` / `If-Modified-Since`, which measures the all-304 floor.
//!
//! Prints one summary line; exits non-zero when a fetch failed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;
use reqwest::header::{
    ACCEPT, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use feedcorpus::config::Http;

#[derive(Parser, Debug)]
#[command(
    name = "floor",
    about = "Fetches every feed URL once and discards the bodies"
)]
struct Args {
    /// File of feed URLs, one per line
    #[arg(long)]
    urls: PathBuf,
    /// Fetches in flight at once (feedcorpus's `[poll] concurrency`)
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Write each feed's validators (ETag, Last-Modified) to this file
    #[arg(long)]
    save_validators: Option<PathBuf>,
    /// Send the validators of this file as conditional-request headers
    #[arg(long)]
    validators: Option<PathBuf>,
}

/// Same as `src/pipeline/fetch/mod.rs`.
const ACCEPT_FEEDS: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                            application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5";

#[derive(Default)]
struct Tally {
    ok: usize,
    not_modified: usize,
    failed: usize,
    bytes: u64,
    first_error: Option<String>,
}

struct Fetched {
    url: String,
    status: Option<u16>,
    bytes: u64,
    etag: Option<String>,
    last_modified: Option<String>,
    error: Option<String>,
}

fn client(cfg: &Http) -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_FEEDS));
    reqwest::Client::builder()
        .tls_backend_rustls()
        .user_agent(cfg.user_agent.clone())
        .default_headers(headers)
        .connect_timeout(cfg.connect_timeout)
        .timeout(cfg.timeout)
        .redirect(reqwest::redirect::Policy::limited(cfg.max_redirects))
        .gzip(true)
        .brotli(true)
        .deflate(true)
        .build()
        .context("building the HTTP client")
}

async fn fetch(
    client: &reqwest::Client,
    url: String,
    validators: Option<(String, String)>,
    max_body: u64,
) -> Fetched {
    let mut req = client.get(&url);
    if let Some((etag, lm)) = validators {
        if !etag.is_empty() {
            req = req.header(IF_NONE_MATCH, etag);
        }
        if !lm.is_empty() {
            req = req.header(IF_MODIFIED_SINCE, lm);
        }
    }
    let mut out = Fetched {
        url,
        status: None,
        bytes: 0,
        etag: None,
        last_modified: None,
        error: None,
    };
    let mut resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    out.etag = header(ETAG);
    out.last_modified = header(LAST_MODIFIED);
    out.status = Some(resp.status().as_u16());
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                out.bytes += chunk.len() as u64;
                if out.bytes > max_body {
                    out.error = Some(format!("body exceeds {max_body} bytes"));
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                out.error = Some(e.to_string());
                break;
            }
        }
    }
    out
}

fn read_validators(path: &PathBuf) -> anyhow::Result<HashMap<String, (String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut map = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut cols = line.split('\t');
        let url = cols.next().unwrap_or("").to_string();
        let etag = cols.next().unwrap_or("").to_string();
        let lm = cols.next().unwrap_or("").to_string();
        map.insert(url, (etag, lm));
    }
    Ok(map)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        (1..=1024).contains(&args.concurrency),
        "--concurrency must be between 1 and 1024"
    );
    let text = std::fs::read_to_string(&args.urls)
        .with_context(|| format!("reading {}", args.urls.display()))?;
    let urls: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let mut validators = match &args.validators {
        Some(p) => read_validators(p)?,
        None => HashMap::new(),
    };
    let cfg = Http::default();
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    let started = Instant::now();
    let results = runtime.block_on(async {
        let client = client(&cfg)?;
        let sem = Arc::new(Semaphore::new(args.concurrency));
        let mut set = JoinSet::new();
        for url in urls.iter().cloned() {
            let client = client.clone();
            let sem = Arc::clone(&sem);
            let v = validators.remove(&url);
            let max_body = cfg.max_body_bytes;
            set.spawn(async move {
                let _permit = sem.acquire_owned().await.ok();
                fetch(&client, url, v, max_body).await
            });
        }
        let mut results = Vec::with_capacity(urls.len());
        while let Some(r) = set.join_next().await {
            results.push(r.context("fetch task")?);
        }
        anyhow::Ok(results)
    })?;
    let elapsed = started.elapsed();

    let mut tally = Tally::default();
    for r in &results {
        tally.bytes += r.bytes;
        match (r.status, &r.error) {
            (Some(s), None) if (200..300).contains(&s) => tally.ok += 1,
            (Some(304), None) => tally.not_modified += 1,
            (status, error) => {
                tally.failed += 1;
                if tally.first_error.is_none() {
                    let what = error
                        .clone()
                        .unwrap_or_else(|| format!("HTTP status {}", status.unwrap_or(0)));
                    tally.first_error = Some(format!("{}: {what}", r.url));
                }
            }
        }
    }
    if let Some(path) = &args.save_validators {
        let mut out = String::new();
        for r in &results {
            out.push_str(&format!(
                "{}\t{}\t{}\n",
                r.url,
                r.etag.as_deref().unwrap_or(""),
                r.last_modified.as_deref().unwrap_or("")
            ));
        }
        std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "floor: {} fetched: {} ok, {} not modified, {} failed; {:.1} MB of bodies in {:.3} s",
        results.len(),
        tally.ok,
        tally.not_modified,
        tally.failed,
        tally.bytes as f64 / 1e6,
        elapsed.as_secs_f64()
    );
    if let Some(e) = tally.first_error {
        anyhow::bail!("{} fetches failed; first: {e}", tally.failed);
    }
    Ok(())
}
