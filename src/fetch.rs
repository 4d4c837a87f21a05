//! HTTP: one GET per feed, bounded in every dimension a hostile or broken server can stretch.
//!
//! The body is read chunk by chunk after decompression and dropped at the size cap, so a gzip
//! bomb or an endless body costs at most `max_body_bytes` of memory. Redirects stay on http(s)
//! and a revisited URL ends the chain. The raw bytes and the `Content-Type` go to the parser
//! untouched: decoding text is the parser's job.

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use reqwest::redirect;
use url::Url;

use crate::config::Http;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP status {status}")]
    Status { status: u16 },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("response body exceeds the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("redirect refused: {0}")]
    Redirect(String),
    #[error("request failed: {0}")]
    Request(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// A successful (2xx) response.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    /// The URL after redirects.
    pub final_url: Url,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub elapsed: Duration,
}

#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body_bytes: u64,
    timeout: Duration,
}

const ACCEPT_FEEDS: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                            application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5";

impl Fetcher {
    pub fn new(cfg: &Http) -> Result<Fetcher, FetchError> {
        // One process-wide TLS provider; a second install attempt is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let max_redirects = cfg.max_redirects;
        let policy = redirect::Policy::custom(move |attempt| {
            let next = attempt.url().clone();
            if !matches!(next.scheme(), "http" | "https") {
                let msg = format!("redirect to non-http URL {next}");
                return attempt.error(msg);
            }
            if attempt.previous().iter().any(|u| u == &next) {
                let msg = format!("redirect loop at {next}");
                return attempt.error(msg);
            }
            if attempt.previous().len() > max_redirects {
                let msg = format!("more than {max_redirects} redirects");
                return attempt.error(msg);
            }
            attempt.follow()
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            reqwest::header::HeaderValue::from_static(ACCEPT_FEEDS),
        );
        let client = reqwest::Client::builder()
            .tls_backend_rustls()
            .user_agent(cfg.user_agent.clone())
            .default_headers(headers)
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.timeout)
            .redirect(policy)
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(Fetcher {
            client,
            max_body_bytes: cfg.max_body_bytes,
            timeout: cfg.timeout,
        })
    }

    /// GETs `url`, following redirects; anything but a 2xx is an error.
    pub async fn get(&self, url: &Url) -> Result<Fetched, FetchError> {
        let started = Instant::now();
        let mut resp = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            return Err(FetchError::Status { status });
        }
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_body_bytes)
        {
            return Err(FetchError::TooLarge {
                limit: self.max_body_bytes,
            });
        }
        let final_url = resp.url().clone();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.classify(e))? {
            if body.len() as u64 + chunk.len() as u64 > self.max_body_bytes {
                return Err(FetchError::TooLarge {
                    limit: self.max_body_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            final_url,
            content_type,
            body,
            elapsed: started.elapsed(),
        })
    }

    fn classify(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            return FetchError::Timeout(self.timeout);
        }
        if e.is_redirect() {
            return FetchError::Redirect(error_chain(&e));
        }
        if e.is_connect() {
            return FetchError::Connect(error_chain(&e));
        }
        FetchError::Request(error_chain(&e))
    }
}

/// reqwest's top-level message is generic; the cause chain says what happened.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}
