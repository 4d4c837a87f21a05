//! Prometheus metrics for the daemon (`[metrics] listen = "127.0.0.1:9464"`).
//!
//! Counters are fed from the fetch reports the scheduler already receives, so measuring adds no
//! work to the fetch or store paths. Served as the Prometheus text format on `/metrics` with the
//! official `prometheus-client` encoder.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::ingest::report::{FeedReport, FeedResult};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

pub struct Metrics {
    registry: Registry,
    fetches: Family<ResultLabel, Counter>,
    entries_new: Counter,
    records_written: Counter,
    fetch_seconds: Histogram,
    feeds: Gauge,
    feeds_failing: Gauge,
    feeds_disabled: Gauge<i64, std::sync::atomic::AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("feedcorpus");
        let fetches = Family::<ResultLabel, Counter>::default();
        registry.register("fetches", "Fetches by result", fetches.clone());
        let entries_new: Counter<u64, AtomicU64> = Counter::default();
        registry.register("entries_new", "New entries stored", entries_new.clone());
        let records_written: Counter<u64, AtomicU64> = Counter::default();
        registry.register(
            "records_written",
            "Record files written",
            records_written.clone(),
        );
        let fetch_seconds = Histogram::new(exponential_buckets(0.05, 2.0, 10));
        registry.register(
            "fetch_duration_seconds",
            "Duration of feed fetches",
            fetch_seconds.clone(),
        );
        let feeds = Gauge::default();
        registry.register("feeds", "Configured feeds", feeds.clone());
        let feeds_failing = Gauge::default();
        registry.register(
            "feeds_failing",
            "Feeds whose last fetch failed",
            feeds_failing.clone(),
        );
        let feeds_disabled = Gauge::default();
        registry.register(
            "feeds_disabled",
            "Feeds disabled by a 410",
            feeds_disabled.clone(),
        );
        Metrics {
            registry,
            fetches,
            entries_new,
            records_written,
            fetch_seconds,
            feeds,
            feeds_failing,
            feeds_disabled,
        }
    }

    pub fn observe(&self, report: &FeedReport) {
        let result = match &report.result {
            FeedResult::Stored(s) => {
                self.entries_new.inc_by(s.new as u64);
                "stored"
            }
            FeedResult::NotModified => "not_modified",
            FeedResult::Unchanged => "unchanged",
            FeedResult::Failed(_) => "failed",
            FeedResult::Skipped(_) => "skipped",
        };
        self.fetches
            .get_or_create(&ResultLabel {
                result: result.into(),
            })
            .inc();
        if let Some(d) = report.duration {
            self.fetch_seconds.observe(d.as_secs_f64());
        }
    }

    pub fn records_written(&self, n: usize) {
        self.records_written.inc_by(n as u64);
    }

    pub fn set_feeds(&self, total: usize, failing: usize, disabled: usize) {
        self.feeds.set(i64::try_from(total).unwrap_or(i64::MAX));
        self.feeds_failing
            .set(i64::try_from(failing).unwrap_or(i64::MAX));
        self.feeds_disabled
            .set(i64::try_from(disabled).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Connections served at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 16;
/// Time a client has to send its request headers.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Longest life of one connection (a scrape takes milliseconds).
const CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves `/metrics` on `addr` until `shutdown`. Bounded against slow or many clients: headers
/// must arrive within 5 s, a connection lives at most 30 s and is not kept alive, and at most 16
/// are served at once. A non-loopback address is logged as a warning: the numbers are not
/// secret, but nothing outside the machine needs them by default.
/// What `/` shows: the corpus report, counted afresh for each request from a read-only store.
#[derive(Clone)]
pub struct ReportPage {
    pub store: crate::store::Store,
    pub corpus_dir: std::path::PathBuf,
}

pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    page: Option<ReportPage>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let listener = tokio::net::TcpListener::bind(addr).await?;
    if !addr.ip().is_loopback() {
        tracing::warn!(listen = %addr, "metrics are served on a non-loopback address; anyone who can reach it can read them");
    }
    tracing::info!(listen = %addr, report = page.is_some(), "serving metrics on /metrics and the corpus report on /");
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(listen = %addr, error = %e, "metrics: accept failed");
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(listen = %addr, "metrics: too many connections; closing one");
            continue;
        };
        let metrics = Arc::clone(&metrics);
        let page = page.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let metrics = Arc::clone(&metrics);
                    let page = page.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            respond(&req, &metrics, page.as_ref()).await,
                        )
                    }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            drop(slot);
        });
    }
}

async fn respond(
    req: &hyper::Request<hyper::body::Incoming>,
    metrics: &Metrics,
    page: Option<&ReportPage>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let get = req.method() == hyper::Method::GET;
    let (status, content_type, body) = match (req.uri().path(), page) {
        ("/metrics", _) if get => (
            hyper::StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        ("/", Some(page)) if get => {
            let now = chrono::Utc::now();
            match crate::corpus::report::gather(&page.store, &page.corpus_dir, now).await {
                Ok(r) => (
                    hyper::StatusCode::OK,
                    "text/html; charset=utf-8",
                    crate::corpus::report::render_html(&r),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "report page: cannot count the corpus");
                    (
                        hyper::StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        "the report cannot be counted right now\n".to_string(),
                    )
                }
            }
        }
        _ => (
            hyper::StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    let mut resp = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
