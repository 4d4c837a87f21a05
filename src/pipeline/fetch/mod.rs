//! HTTP: one conditional GET per feed, bounded in every dimension a hostile or broken server can
//! stretch, and polite to every host.
//!
//! Redirects are followed here rather than inside reqwest so that each hop goes through the
//! per-host limiter, loops and non-http(s) targets are refused, and the caller learns which hops
//! were permanent (a feed that keeps answering 301 has moved). The body is read chunk by chunk
//! after decompression and dropped at the size cap, so a gzip bomb or an endless body costs at
//! most `max_body_bytes` of memory. Raw bytes and the `Content-Type` go to the parser untouched.

pub mod robots;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, EXPIRES, HeaderMap, HeaderValue, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED, LOCATION, RETRY_AFTER,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use crate::config::Http;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP status {status}{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    Status {
        status: u16,
        /// What `Retry-After` asked for, if the server sent it.
        retry_after: Option<Duration>,
    },
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
    #[error("refused: {0}")]
    Internal(String),
}

/// Validators from the previous successful fetch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A redirect hop.
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    pub status: u16,
    pub to: Url,
}

impl Redirect {
    pub fn is_permanent(&self) -> bool {
        matches!(self.status, 301 | 308)
    }
}

/// What the server said about caching.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheHints {
    /// `Cache-Control: max-age` (or `s-maxage`).
    pub max_age: Option<Duration>,
    /// `Expires`, as an absolute time.
    pub expires: Option<DateTime<Utc>>,
}

/// A final response: 2xx with a body, or 304.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    /// The URL after redirects.
    pub final_url: Url,
    pub redirects: Vec<Redirect>,
    pub content_type: Option<String>,
    /// Empty for a 304.
    pub body: Vec<u8>,
    pub validators: Validators,
    pub cache: CacheHints,
    pub elapsed: Duration,
}

impl Fetched {
    pub fn not_modified(&self) -> bool {
        self.status == 304
    }
}

/// Per-host politeness: at most N requests in flight and a minimum gap between request starts
/// (raised per host by a `Crawl-delay`). Hosts not seen for a while are pruned, so a daemon that
/// follows links to thousands of sites keeps a bounded map.
struct HostLimiter {
    per_host: usize,
    min_gap: Duration,
    hosts: Mutex<HashMap<String, Arc<HostSlot>>>,
}

struct HostSlot {
    permits: Arc<Semaphore>,
    next_start: tokio::sync::Mutex<tokio::time::Instant>,
    /// A longer gap the host asked for (robots.txt `Crawl-delay`), in milliseconds.
    gap_ms: std::sync::atomic::AtomicU64,
}

/// Above this many hosts, idle ones are dropped from the limiter.
const PRUNE_HOSTS: usize = 1024;

impl HostLimiter {
    fn slot(&self, host: &str) -> Option<Arc<HostSlot>> {
        let mut hosts = self.hosts.lock().ok()?;
        if hosts.len() >= PRUNE_HOSTS && !hosts.contains_key(host) {
            let now = tokio::time::Instant::now();
            // Idle: nobody holds the slot and its next start has passed.
            hosts.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot.next_start.try_lock().map_or(true, |next| *next > now)
            });
        }
        Some(Arc::clone(hosts.entry(host.to_string()).or_insert_with(
            || {
                Arc::new(HostSlot {
                    permits: Arc::new(Semaphore::new(self.per_host)),
                    next_start: tokio::sync::Mutex::new(tokio::time::Instant::now()),
                    gap_ms: std::sync::atomic::AtomicU64::new(0),
                })
            },
        )))
    }

    async fn acquire(&self, host: &str) -> Option<OwnedSemaphorePermit> {
        let slot = self.slot(host)?;
        let permit = Arc::clone(&slot.permits).acquire_owned().await.ok()?;
        let asked = Duration::from_millis(slot.gap_ms.load(std::sync::atomic::Ordering::Relaxed));
        let start = {
            let mut next = slot.next_start.lock().await;
            let start = (*next).max(tokio::time::Instant::now());
            *next = start + self.min_gap.max(asked);
            start
        };
        // Only a start in the future waits: the timer rounds a deadline up to its next
        // millisecond, so sleeping until "now" cost each request up to 1 ms for nothing.
        if start > tokio::time::Instant::now() {
            tokio::time::sleep_until(start).await;
        }
        Some(permit)
    }

    /// Raises the gap between request starts to `host` to `gap` (never lowers it).
    fn raise_gap(&self, host: &str, gap: Duration) {
        if let Some(slot) = self.slot(host) {
            let ms = u64::try_from(gap.as_millis()).unwrap_or(u64::MAX);
            slot.gap_ms
                .fetch_max(ms, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn len(&self) -> usize {
        self.hosts.lock().map_or(0, |h| h.len())
    }
}

/// Robots verdicts per site (`scheme://host:port`), each behind its own lock so concurrent pages
/// of one site fetch its robots.txt once.
#[derive(Default)]
struct RobotsCache {
    sites: Mutex<HashMap<String, Arc<RobotsCell>>>,
}

type RobotsCell = tokio::sync::Mutex<
    Option<(
        tokio::time::Instant,
        Arc<crate::pipeline::fetch::robots::Rules>,
    )>,
>;

/// Sites kept in the robots cache before expired verdicts are dropped.
const ROBOTS_SITES: usize = 1024;

impl RobotsCache {
    fn cell(&self, origin: &str) -> Arc<RobotsCell> {
        let Ok(mut sites) = self.sites.lock() else {
            return Arc::new(tokio::sync::Mutex::new(None));
        };
        if sites.len() >= ROBOTS_SITES && !sites.contains_key(origin) {
            let now = tokio::time::Instant::now();
            sites.retain(|_, cell| {
                Arc::strong_count(cell) > 1
                    || cell
                        .try_lock()
                        .map_or(true, |v| v.as_ref().is_some_and(|(until, _)| *until > now))
            });
        }
        Arc::clone(sites.entry(origin.to_string()).or_default())
    }
}

/// The host part used for per-host politeness.
pub fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or("").to_ascii_lowercase()
}

/// The key per-host limits count by: host and port.
pub fn host_key(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// Whether an address is one a stranger's URL must not reach: loopback, private (RFC 1918,
/// fc00::/7), link-local, CGNAT (100.64/10), unspecified, multicast, broadcast or reserved.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// A resolver that leaves out internal addresses: a host name from a document or a redirect
/// connects to public addresses only, checked on the very addresses the connection uses, so a
/// name that resolves differently on a second look (DNS rebinding) cannot slip through.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_internal(a.ip()))
                .collect();
            if addrs.is_empty() {
                let msg = format!("{host} resolves only to internal addresses");
                return Err(Box::<dyn std::error::Error + Send + Sync>::from(msg));
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Who chose a URL, and so where its hops may go.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// The operator (config file, command line): the first hop may go anywhere.
    Operator,
    /// A document or a response of the feed at this URL (an article link): it may go to the
    /// feed's own host and to `allow_internal_hosts`, and elsewhere only to public addresses.
    Document(&'a Url),
}

#[derive(Clone)]
pub struct Fetcher {
    /// The clients and their pools of kept-alive connections, shared by every clone.
    clients: Arc<Mutex<Clients>>,
    builder: Arc<dyn Fn() -> reqwest::ClientBuilder + Send + Sync>,
    allow_internal: Arc<Vec<String>>,
    robots: Arc<RobotsCache>,
    /// Hosts that answered an article-page request with 429, until when (their pages wait).
    held: Arc<Mutex<HashMap<String, Instant>>>,
    max_body_bytes: u64,
    max_redirects: usize,
    timeout: Duration,
    limiter: Arc<HostLimiter>,
}

/// The client for the operator's hosts and, built when first needed, the same client with a
/// resolver that refuses internal addresses, for hops to hosts the operator did not name (most
/// runs never redirect to another host, and building a client reads and parses the system's CA
/// certificates).
struct Clients {
    trusted: reqwest::Client,
    public: Option<Result<reqwest::Client, String>>,
}

const ACCEPT_FEEDS: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                            application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5";

impl Fetcher {
    pub fn new(cfg: &Http) -> Result<Fetcher, FetchError> {
        // One process-wide TLS provider; a second install attempt is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_FEEDS));
        let (user_agent, connect_timeout, read_timeout, timeout) = (
            cfg.user_agent.clone(),
            cfg.connect_timeout,
            cfg.read_timeout,
            cfg.timeout,
        );
        let builder = move || {
            reqwest::Client::builder()
                .tls_backend_rustls()
                .user_agent(user_agent.clone())
                .default_headers(headers.clone())
                .connect_timeout(connect_timeout)
                .read_timeout(read_timeout)
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .gzip(true)
                .brotli(true)
                .deflate(true)
        };
        let client = builder()
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(Fetcher {
            clients: Arc::new(Mutex::new(Clients {
                trusted: client,
                public: None,
            })),
            builder: Arc::new(builder),
            allow_internal: Arc::new(
                cfg.allow_internal_hosts
                    .iter()
                    .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
                    .collect(),
            ),
            max_body_bytes: cfg.max_body_bytes,
            max_redirects: cfg.max_redirects,
            timeout: cfg.timeout,
            robots: Arc::new(RobotsCache::default()),
            held: Arc::new(Mutex::new(HashMap::new())),
            limiter: Arc::new(HostLimiter {
                per_host: cfg.per_host_connections,
                min_gap: cfg.per_host_min_gap,
                hosts: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// GETs a URL the operator gave (a feed), following redirects. Validators make it
    /// conditional: a 304 comes back as `Ok` with an empty body. Any other non-2xx status is an
    /// error.
    pub async fn get(
        &self,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        self.get_from(url, validators, Origin::Operator).await
    }

    /// GETs a URL that came from `origin`'s content (an article page).
    pub async fn get_linked(&self, url: &Url, feed: &Url) -> Result<Fetched, FetchError> {
        self.get_from(url, None, Origin::Document(feed)).await
    }

    /// Whether the site lets this crawler fetch `page` (a link from `feed`'s content): its
    /// robots.txt, fetched once per site and kept for a day (15 minutes when the site could not
    /// answer). A `Crawl-delay` raises the site's gap between requests. `Err` says why not.
    pub async fn robots_allow(&self, page: &Url, feed: &Url) -> Result<(), String> {
        let origin = page.origin().ascii_serialization();
        let cell = self.robots.cell(&origin);
        let mut held = cell.lock().await;
        let now = tokio::time::Instant::now();
        let fresh = held
            .as_ref()
            .filter(|(until, _)| *until > now)
            .map(|(_, r)| Arc::clone(r));
        let rules = match fresh {
            Some(r) => r,
            None => {
                let mut robots_url = page.clone();
                robots_url.set_path("/robots.txt");
                robots_url.set_query(None);
                robots_url.set_fragment(None);
                let rules = match self.get_linked(&robots_url, feed).await {
                    Ok(f) => crate::pipeline::fetch::robots::Rules::from_response(
                        Some(f.status),
                        &f.body,
                    ),
                    Err(FetchError::Status { status, .. }) => {
                        crate::pipeline::fetch::robots::Rules::from_response(Some(status), b"")
                    }
                    Err(FetchError::Internal(why)) => return Err(why),
                    Err(FetchError::TooLarge { .. }) => {
                        crate::pipeline::fetch::robots::Rules::AllowAll
                    }
                    Err(_) => crate::pipeline::fetch::robots::Rules::from_response(None, b""),
                };
                let rules = Arc::new(rules);
                *held = Some((now + rules.keep(), Arc::clone(&rules)));
                rules
            }
        };
        drop(held);
        if let Some(delay) = rules.delay() {
            self.limiter.raise_gap(&host_key(page), delay);
        }
        rules.check(page.as_str())
    }

    /// Holds back article-page requests to `url`'s host for `hold` (a 429 from that site).
    pub fn hold_host(&self, url: &Url, hold: Duration) {
        if let Ok(mut held) = self.held.lock() {
            let now = Instant::now();
            held.retain(|_, until| *until > now);
            held.insert(host_key(url), now + hold);
        }
    }

    /// Whether article pages of `url`'s host are held back now.
    pub fn is_held(&self, url: &Url) -> bool {
        self.held.lock().is_ok_and(|h| {
            h.get(&host_key(url))
                .is_some_and(|until| *until > Instant::now())
        })
    }

    /// Hosts the per-host limiter tracks now.
    pub fn tracked_hosts(&self) -> usize {
        self.limiter.len()
    }

    /// Closes the kept-alive connections nobody uses (each holds a read buffer that grew with
    /// the largest body it read) by starting new clients; requests in flight keep theirs. For a
    /// pause long enough that servers would close them anyway. A client that cannot be built
    /// keeps the old one.
    pub fn close_idle_connections(&self) {
        let Ok(fresh) = (self.builder)().build() else {
            return;
        };
        if let Ok(mut clients) = self.clients.lock() {
            *clients = Clients {
                trusted: fresh,
                public: None,
            };
        }
    }

    fn clients(&self) -> Result<std::sync::MutexGuard<'_, Clients>, FetchError> {
        self.clients
            .lock()
            .map_err(|_| FetchError::Client("the HTTP client's lock is poisoned".into()))
    }

    /// The client for the operator's hosts.
    fn trusted_client(&self) -> Result<reqwest::Client, FetchError> {
        self.clients().map(|c| c.trusted.clone())
    }

    /// Which client a hop goes through, or why it may not be made.
    fn client_for(
        &self,
        hop: &Url,
        trusted: bool,
        home: &Url,
    ) -> Result<reqwest::Client, FetchError> {
        if trusted {
            return self.trusted_client();
        }
        let host = hop
            .host_str()
            .unwrap_or("")
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let same_host = |u: &Url| {
            u.host_str()
                .is_some_and(|h| h.trim_matches(['[', ']']).eq_ignore_ascii_case(&host))
        };
        if same_host(home) || self.allow_internal.contains(&host) {
            return self.trusted_client();
        }
        if let Ok(ip) = host.parse::<IpAddr>()
            && is_internal(ip)
        {
            return Err(FetchError::Internal(format!(
                "{hop} is an internal address; add {host:?} to [http] allow_internal_hosts to allow it"
            )));
        }
        self.clients()?
            .public
            .get_or_insert_with(|| {
                (self.builder)()
                    .dns_resolver(Arc::new(PublicOnly))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(FetchError::Client)
    }

    async fn get_from(
        &self,
        url: &Url,
        validators: Option<&Validators>,
        origin: Origin<'_>,
    ) -> Result<Fetched, FetchError> {
        let started = Instant::now();
        // The whole exchange, redirects included, has `timeout`; waits for the per-host limiter
        // are politeness, not the server's time, and are not counted.
        let mut waited = Duration::ZERO;
        // Hops may stay on the home host: the operator's URL's own, or the linking feed's.
        let home = match origin {
            Origin::Operator => url.clone(),
            Origin::Document(feed) => feed.clone(),
        };
        let mut current = url.clone();
        let mut redirects: Vec<Redirect> = Vec::new();
        loop {
            if !matches!(current.scheme(), "http" | "https") {
                return Err(FetchError::Redirect(format!("to non-http URL {current}")));
            }
            let first = redirects.is_empty();
            // Only the operator's own URL is trusted as it is; every later hop is checked.
            let trusted = first && matches!(origin, Origin::Operator);
            let client =
                self.client_for(&current, trusted, &home)
                    .map_err(|e| match (e, first) {
                        (FetchError::Internal(m), false) => {
                            FetchError::Internal(format!("redirect to {m}"))
                        }
                        (e, _) => e,
                    })?;
            let wait_start = Instant::now();
            let _permit = self.limiter.acquire(&host_key(&current)).await;
            waited += wait_start.elapsed();
            let left = self
                .timeout
                .checked_sub(started.elapsed().saturating_sub(waited))
                .ok_or(FetchError::Timeout(self.timeout))?;
            let mut resp = conditional_get(&client, &current, validators, left)
                .send()
                .await
                .map_err(|e| self.classify(e))?;
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let next = self.redirect_target(&resp, &current, url, &redirects)?;
                redirects.push(Redirect {
                    status: status.as_u16(),
                    to: next.clone(),
                });
                current = next;
                continue;
            }
            let headers = resp.headers().clone();
            if !status.is_success() && status != StatusCode::NOT_MODIFIED {
                return Err(FetchError::Status {
                    status: status.as_u16(),
                    retry_after: retry_after(&headers, Utc::now()),
                });
            }
            let validators = Validators {
                etag: header_text(&headers, ETAG),
                last_modified: header_text(&headers, LAST_MODIFIED),
            };
            let cache = cache_hints(&headers);
            let body = if status == StatusCode::NOT_MODIFIED {
                Vec::new()
            } else {
                self.read_body(&mut resp).await?
            };
            return Ok(Fetched {
                status: status.as_u16(),
                final_url: current,
                redirects,
                content_type: header_text(&headers, CONTENT_TYPE),
                body,
                validators,
                cache,
                elapsed: started.elapsed(),
            });
        }
    }

    /// Where a redirect response sends us: an http(s) URL, no loop, within `max_redirects`.
    fn redirect_target(
        &self,
        resp: &reqwest::Response,
        current: &Url,
        first: &Url,
        redirects: &[Redirect],
    ) -> Result<Url, FetchError> {
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| FetchError::Redirect(format!("status {status} without Location")))?;
        let next = current
            .join(location)
            .map_err(|e| FetchError::Redirect(format!("bad Location {location:?}: {e}")))?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(FetchError::Redirect(format!("to non-http URL {next}")));
        }
        if next == *first || redirects.iter().any(|r| r.to == next) {
            return Err(FetchError::Redirect(format!("redirect loop at {next}")));
        }
        if redirects.len() >= self.max_redirects {
            return Err(FetchError::Redirect(format!(
                "more than {} redirects",
                self.max_redirects
            )));
        }
        Ok(next)
    }

    /// The body, at most `max_body_bytes` after decompression (refused up front when the
    /// declared length says more).
    async fn read_body(&self, resp: &mut reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let too_large = FetchError::TooLarge {
            limit: self.max_body_bytes,
        };
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_body_bytes)
        {
            return Err(too_large);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.classify(e))? {
            if body.len() as u64 + chunk.len() as u64 > self.max_body_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn classify(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            return FetchError::Timeout(self.timeout);
        }
        if e.is_connect() {
            let chain = error_chain(&e);
            if chain.contains("resolves only to internal addresses") {
                return FetchError::Internal(format!(
                    "{chain}; add the host to [http] allow_internal_hosts to allow it"
                ));
            }
            return FetchError::Connect(chain);
        }
        if e.is_decode() || e.is_body() {
            let chain = error_chain(&e);
            if chain.contains("timed out") || chain.contains("TimedOut") {
                return FetchError::Timeout(self.timeout);
            }
            return FetchError::Request(chain);
        }
        FetchError::Request(error_chain(&e))
    }
}

fn header_text(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let v = header_text(headers, RETRY_AFTER)?;
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(&v).ok()?.into();
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

pub fn cache_hints(headers: &HeaderMap) -> CacheHints {
    let mut hints = CacheHints::default();
    if let Some(cc) = header_text(headers, CACHE_CONTROL) {
        for part in cc.split(',') {
            let part = part.trim().to_ascii_lowercase();
            let value = part
                .strip_prefix("s-maxage=")
                .or_else(|| part.strip_prefix("max-age="));
            if let Some(secs) = value.and_then(|v| v.trim_matches('"').parse::<u64>().ok()) {
                let d = Duration::from_secs(secs);
                hints.max_age = Some(hints.max_age.map_or(d, |m| m.max(d)));
            }
        }
    }
    hints.expires = header_text(headers, EXPIRES)
        .and_then(|v| httpdate::parse_http_date(&v).ok())
        .map(DateTime::<Utc>::from);
    hints
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

/// A GET with the validators of the last response (`If-None-Match`, `If-Modified-Since`).
fn conditional_get(
    client: &reqwest::Client,
    url: &Url,
    validators: Option<&Validators>,
    timeout: Duration,
) -> reqwest::RequestBuilder {
    let mut req = client.get(url.clone()).timeout(timeout);
    if let Some(v) = validators {
        if let Some(etag) = &v.etag {
            req = req.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &v.last_modified {
            req = req.header(IF_MODIFIED_SINCE, lm);
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that answers every request with a small feed, keeping connections
    /// alive, and counts the connections it accepted.
    async fn counting_server() -> (Url, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = Url::parse(&format!(
            "http://{}/feed",
            listener.local_addr().expect("address")
        ))
        .expect("url");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = conn.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        request.extend_from_slice(&buf[..n]);
                        while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                            request.drain(..end + 4);
                            let body = "<rss version=\"2.0\"><channel></channel></rss>";
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\n\r\n",
                                body.len()
                            );
                            if conn
                                .write_all(format!("{head}{body}").as_bytes())
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    #[tokio::test]
    async fn closing_idle_connections_makes_the_next_request_connect_again() {
        let (url, accepted) = counting_server().await;
        let fetcher = Fetcher::new(&Http::default()).expect("fetcher");
        for _ in 0..2 {
            fetcher.get(&url, None).await.expect("first requests");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "kept alive and reused");
        fetcher.clone().close_idle_connections();
        fetcher
            .get(&url, None)
            .await
            .expect("request after closing");
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "a new connection");
        fetcher.get(&url, None).await.expect("and another");
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "which is kept alive in turn"
        );
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-06-15T10:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "120")]), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Mon, 15 Jun 2026 10:05:00 GMT")]),
                now
            ),
            Some(Duration::from_secs(300))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
    }

    #[test]
    fn cache_control_and_expires() {
        let h = headers(&[
            ("cache-control", "public, max-age=600, s-maxage=900"),
            ("expires", "Mon, 15 Jun 2026 10:05:00 GMT"),
        ]);
        let c = cache_hints(&h);
        assert_eq!(c.max_age, Some(Duration::from_secs(900)));
        assert_eq!(
            c.expires.map(|d| d.to_rfc3339()),
            Some("2026-06-15T10:05:00+00:00".to_string())
        );
        assert_eq!(
            cache_hints(&headers(&[("cache-control", "no-cache")])),
            CacheHints::default()
        );
    }
}
