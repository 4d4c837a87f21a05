//! Shared test harness: a real HTTP server on 127.0.0.1 whose routes tests change while the
//! daemon runs, the real binary, and real SQLite files in temp folders.

#![allow(dead_code)]

pub mod pg;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};

use axum::response::{IntoResponse, Response};

pub const SEED_FEED: &str = include_str!("../fixtures/novastan-war-in-ukraine.xml");

#[derive(Clone)]
pub enum Route {
    Body {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// Any status with extra headers (Retry-After, Location, Content-Encoding, …).
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A feed with validators: answers 304 to a matching If-None-Match / If-Modified-Since.
    Conditional {
        body: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    /// A 200 that takes `delay` before answering (a slow server).
    Slow { delay: Duration, body: Vec<u8> },
    /// A 200 that waits until the server's gate is open ([`FeedServer::open_gate`]).
    Gated { body: Vec<u8> },
    /// A 200 whose body never ends.
    Endless,
    /// Accepts the request and never answers.
    Hang,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub host: String,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub status: u16,
    /// When the request arrived.
    pub at: std::time::Instant,
}

#[derive(Default)]
struct ServerState {
    routes: Mutex<HashMap<String, Route>>,
    requests: Mutex<Vec<Seen>>,
    changed: std::sync::Condvar,
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
    gate: GateCell,
}

/// Holds back [`Route::Gated`] answers until opened.
struct GateCell(tokio::sync::watch::Sender<bool>);

impl Default for GateCell {
    fn default() -> Self {
        GateCell(tokio::sync::watch::channel(false).0)
    }
}

/// A loopback HTTP server running on its own thread and runtime.
pub struct FeedServer {
    pub addr: SocketAddr,
    state: Arc<ServerState>,
}

struct InFlight<'a>(&'a ServerState);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn serve(State(st): State<Arc<ServerState>>, req: axum::http::Request<Body>) -> Response {
    use std::sync::atomic::Ordering;
    let at = std::time::Instant::now();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let (inm, ims, host) = {
        let get = |name: header::HeaderName| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        (
            get(header::IF_NONE_MATCH),
            get(header::IF_MODIFIED_SINCE),
            get(header::HOST).unwrap_or_default(),
        )
    };
    drop(req);
    let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    st.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(&st);
    let route = st.routes.lock().ok().and_then(|r| r.get(&path).cloned());
    let response = match route {
        Some(Route::Body {
            status,
            content_type,
            body,
        }) => Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Some(Route::Raw {
            status,
            headers,
            body,
        }) => {
            let mut b = Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
            for (k, v) in headers {
                b = b.header(k, v);
            }
            b.body(Body::from(body))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Some(Route::Conditional {
            body,
            etag,
            last_modified,
        }) => {
            let fresh = (etag.is_some() && inm == etag)
                || (etag.is_none() && last_modified.is_some() && ims == last_modified);
            let mut b = Response::builder();
            if let Some(e) = &etag {
                b = b.header(header::ETAG, e);
            }
            if let Some(l) = &last_modified {
                b = b.header(header::LAST_MODIFIED, l);
            }
            if fresh {
                b.status(StatusCode::NOT_MODIFIED).body(Body::empty())
            } else {
                b.header(header::CONTENT_TYPE, "application/rss+xml")
                    .body(Body::from(body))
            }
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Some(Route::Slow { delay, body }) => {
            tokio::time::sleep(delay).await;
            Response::builder()
                .header(header::CONTENT_TYPE, "application/rss+xml")
                .body(Body::from(body))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Some(Route::Gated { body }) => {
            let mut open = st.gate.0.subscribe();
            let _ = open.wait_for(|o| *o).await;
            Response::builder()
                .header(header::CONTENT_TYPE, "application/rss+xml")
                .body(Body::from(body))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Some(Route::Endless) => {
            let chunk = bytes::Bytes::from(vec![b'<'; 64 * 1024]);
            let stream =
                futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            Response::builder()
                .header(header::CONTENT_TYPE, "application/rss+xml")
                .body(Body::from_stream(stream))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Some(Route::Hang) => std::future::pending().await,
        None => StatusCode::NOT_FOUND.into_response(),
    };
    if let Ok(mut log) = st.requests.lock() {
        log.push(Seen {
            path,
            host,
            if_none_match: inm,
            if_modified_since: ims,
            status: response.status().as_u16(),
            at,
        });
        st.changed.notify_all();
    }
    response
}

impl FeedServer {
    pub fn start() -> FeedServer {
        FeedServer::start_on("127.0.0.1")
    }

    /// A server on another loopback address (127.0.0.2 plays an internal host).
    pub fn start_on(ip: &str) -> FeedServer {
        let ip = ip.to_string();
        let state = Arc::new(ServerState::default());
        let (tx, rx) = mpsc::channel();
        let st = Arc::clone(&state);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind((ip.as_str(), 0))
                    .await
                    .expect("bind loopback");
                tx.send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                let app = axum::Router::new().fallback(serve).with_state(st);
                axum::serve(listener, app).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("server address");
        FeedServer { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The same server under another host name (a different host for per-host politeness).
    pub fn url_as_localhost(&self, path: &str) -> String {
        format!("http://localhost:{}{}", self.addr.port(), path)
    }

    pub fn set(&self, path: &str, route: Route) {
        self.state
            .routes
            .lock()
            .expect("routes")
            .insert(path.to_string(), route);
    }

    pub fn set_xml(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.set(
            path,
            Route::Body {
                status: 200,
                content_type: "application/rss+xml; charset=UTF-8".into(),
                body: body.into(),
            },
        );
    }

    /// Paths of the requests answered so far.
    pub fn requests(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.path).collect()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.requests.lock().expect("log").clone()
    }

    pub fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }

    /// Blocks until `n` requests to `path` have been answered; fails the test after `limit`.
    pub fn wait_for_requests(&self, path: &str, n: usize, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        let mut log = self.state.requests.lock().expect("log");
        while log.iter().filter(|s| s.path == path).count() < n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "fewer than {n} requests to {path} within {limit:?}"
            );
            log = self.state.changed.wait_timeout(log, left).expect("log").0;
        }
    }

    /// Lets every [`Route::Gated`] request through, now and from now on.
    pub fn open_gate(&self) {
        self.state.gate.0.send_replace(true);
    }

    /// Most requests the server was answering at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An RSS 2.0 document with WordPress-like items: (guid, title, pubDate, html body).
pub fn rss(items: &[(String, String, String, String)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\" \
         xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title>Synthetic</title>\
         <link>https://example.org/</link><description>d</description>\n",
    );
    for (guid, title, date, html) in items {
        out.push_str(&format!(
            "<item><title>{title}</title><link>{guid}</link><dc:creator><![CDATA[Author]]></dc:creator>\
             <pubDate>{date}</pubDate><guid isPermaLink=\"false\">{guid}</guid>\
             <content:encoded><![CDATA[{html}]]></content:encoded></item>\n"
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

/// `n` synthetic items for feed `feed`, newest first.
pub fn synthetic_items(feed: usize, n: usize) -> Vec<(String, String, String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("https://example.org/{feed}/?p={i}"),
                format!("Item {i} of feed {feed}"),
                format!("Mon, {:02} Jun 2026 10:00:00 +0000", 1 + (i % 28)),
                format!(
                    "<p>First paragraph of item {i} in feed {feed}.</p><p>Second &amp; last, \
                     with <a href=\"https://example.org\">a link</a>.</p>"
                ),
            )
        })
        .collect()
}

/// The storage backend the integration tests run on: `FEEDCORPUS_TEST_BACKEND`, `sqlite` (the
/// default) or `postgres` (a throwaway cluster this process starts, [`pg`]). Each backend brings
/// its own way of naming the database in the config and of running the tests' raw SQL
/// ([`Setup::query`]); the tests themselves do not know which one they run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("FEEDCORPUS_TEST_BACKEND").as_deref() {
        Err(_) | Ok("" | "sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => {
            panic!("FEEDCORPUS_TEST_BACKEND={other:?}: known backends are: sqlite, postgres")
        }
    }
}

/// A temp folder with a config file in it, and the database the config names.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub backend: Backend,
    /// The PostgreSQL database's URL (a fresh database per setup).
    pub db_url: Option<String>,
}

impl Setup {
    /// `feeds`: (name, url). `extra` is appended verbatim (e.g. a `[poll]` table).
    pub fn new(feeds: &[(&str, String)], extra: &str) -> Setup {
        Setup::on(backend(), feeds, extra)
    }

    /// A setup on SQLite whatever the test run's backend (tests of the SQLite file itself).
    pub fn sqlite(feeds: &[(&str, String)], extra: &str) -> Setup {
        Setup::on(Backend::Sqlite, feeds, extra)
    }

    pub fn on(backend: Backend, feeds: &[(&str, String)], extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("feedcorpus.toml");
        let db_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(pg::cluster().create_database()),
        };
        let setup = Setup {
            dir,
            config,
            backend,
            db_url,
        };
        setup.rewrite(feeds, extra);
        setup
    }

    /// Another setup (own folder, config and corpus) on this one's database: a second
    /// instance.
    pub fn sharing(&self, feeds: &[(&str, String)], extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let setup = Setup {
            config: dir.path().join("feedcorpus.toml"),
            dir,
            backend: self.backend,
            db_url: self.db_url.clone(),
        };
        setup.rewrite(feeds, extra);
        setup
    }

    /// The `[storage] database` value.
    fn database(&self) -> String {
        match &self.db_url {
            Some(url) => url.clone(),
            None => "data/feedcorpus.db".into(),
        }
    }

    pub fn rewrite(&self, feeds: &[(&str, String)], extra: &str) {
        write_config(&self.config, &self.database(), feeds, extra);
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("data/feedcorpus.db")
    }

    /// Runs raw SQL on this setup's database with the backend's own client; rows as text
    /// (`NULL` for null).
    pub fn query(&self, query: &str) -> Vec<Vec<String>> {
        match &self.db_url {
            None => sql(&self.db(), query),
            Some(url) => pg::run(url, query),
        }
    }

    /// The backend's own consistency check: SQLite's `integrity_check`; on PostgreSQL (which
    /// keeps its pages consistent itself) that keys and record numbers are unique.
    pub fn integrity(&self) -> String {
        let q = match self.backend {
            Backend::Sqlite => "PRAGMA integrity_check",
            Backend::Postgres => {
                "SELECT CASE WHEN count(*) = count(DISTINCT key)
                              AND count(record_seq) = count(DISTINCT record_seq)
                         THEN 'ok' ELSE 'duplicate keys or record numbers' END FROM entries"
            }
        };
        self.query(q)[0][0].clone()
    }

    pub fn corpus(&self) -> PathBuf {
        self.dir.path().join("data/corpus")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_feedcorpus"));
        c.arg("--config").arg(&self.config).args(args);
        c.env("RUST_LOG", "info")
            .env_remove("FEEDCORPUS_CONFIG")
            .env_remove("FEEDCORPUS_DATABASE_URL");
        c
    }

    /// Runs `poll` to completion; returns (success, stdout, stderr).
    pub fn poll(&self) -> (bool, String, String) {
        let out = self.cmd(&["poll"]).output().expect("run poll");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn records(&self) -> Vec<String> {
        list_records(&self.corpus())
    }
}

fn write_config(path: &Path, database: &str, feeds: &[(&str, String)], extra: &str) {
    let mut text = format!(
        "[storage]\ndatabase = \"{database}\"\ncorpus_dir = \"data/corpus\"\n\n\
         [http]\ntimeout = \"5s\"\nconnect_timeout = \"2s\"\nper_host_connections = 16\n\
         per_host_min_gap = \"0s\"\n\n\
         [corpus]\n# Synthetic items are short: never fetch their (non-loopback) pages.\nfull_text = \"never\"\n\n",
    );
    text.push_str(extra);
    for (name, url) in feeds {
        text.push_str(&format!(
            "\n[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\n"
        ));
    }
    std::fs::write(path, text).expect("write config");
}

/// Record file names in a corpus folder, sorted.
pub fn list_records(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.ends_with(".txt") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Runs SQL against a database file with a fresh connection and returns the rows as strings.
pub fn sql(db: &Path, query: &str) -> Vec<Vec<String>> {
    use sqlx::{Row, ValueRef};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .busy_timeout(Duration::from_secs(10));
        let mut conn = sqlx::ConnectOptions::connect(&opts).await.expect("connect");
        let rows = sqlx::query(sqlx::AssertSqlSafe(query.to_string()))
            .fetch_all(&mut conn)
            .await
            .expect("query");
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| {
                        let raw = r.try_get_raw(i).expect("raw");
                        if raw.is_null() {
                            return "NULL".to_string();
                        }
                        r.try_get::<String, _>(i)
                            .or_else(|_| r.try_get::<i64, _>(i).map(|v| v.to_string()))
                            .unwrap_or_else(|_| "?".into())
                    })
                    .collect()
            })
            .collect()
    })
}

pub fn count(setup: &Setup, query: &str) -> i64 {
    setup.query(query)[0][0].parse().expect("a number")
}

/// Reads a child's stderr line by line on a thread, so tests can wait for log events.
pub struct LogWatch {
    rx: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl LogWatch {
    pub fn attach(child: &mut Child) -> LogWatch {
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LogWatch {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits for the next line containing `needle`; fails the test after `limit`.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line containing {needle:?} within {limit:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

/// A child process that is killed when the test ends, even by a failed assertion.
pub struct Spawned(pub Child);

impl std::ops::Deref for Spawned {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn spawn_logged(mut cmd: Command) -> (Spawned, LogWatch) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let watch = LogWatch::attach(&mut child);
    (Spawned(child), watch)
}

pub fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, sig).expect("kill");
}
