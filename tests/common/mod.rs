//! Shared test harness: a real HTTP server on 127.0.0.1 whose routes tests change while the
//! daemon runs, the real binary, and real SQLite files in temp folders.

#![allow(dead_code)]

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
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

pub const SEED_FEED: &str = include_str!("../fixtures/novastan-war-in-ukraine.xml");

#[derive(Clone)]
pub enum Route {
    Body {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// Accepts the request and never answers.
    Hang,
}

#[derive(Default)]
struct ServerState {
    routes: Mutex<HashMap<String, Route>>,
    requests: Mutex<Vec<String>>,
}

/// A loopback HTTP server running on its own thread and runtime.
pub struct FeedServer {
    pub addr: SocketAddr,
    state: Arc<ServerState>,
}

async fn serve(State(st): State<Arc<ServerState>>, uri: Uri) -> Response {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if let Ok(mut log) = st.requests.lock() {
        log.push(path.clone());
    }
    let route = st.routes.lock().ok().and_then(|r| r.get(&path).cloned());
    match route {
        Some(Route::Body {
            status,
            content_type,
            body,
        }) => Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Some(Route::Hang) => std::future::pending().await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl FeedServer {
    pub fn start() -> FeedServer {
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
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
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

    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().expect("log").clone()
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

/// A temp folder with a config file in it.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Setup {
    /// `feeds`: (name, url). `extra` is appended verbatim (e.g. a `[poll]` table).
    pub fn new(feeds: &[(&str, String)], extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("feedcorpus.toml");
        write_config(&config, feeds, extra);
        Setup { dir, config }
    }

    pub fn rewrite(&self, feeds: &[(&str, String)], extra: &str) {
        write_config(&self.config, feeds, extra);
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("data/feedcorpus.db")
    }

    pub fn corpus(&self) -> PathBuf {
        self.dir.path().join("data/corpus")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_feedcorpus"));
        c.arg("--config").arg(&self.config).args(args);
        c.env("RUST_LOG", "info").env_remove("FEEDCORPUS_CONFIG");
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

fn write_config(path: &Path, feeds: &[(&str, String)], extra: &str) {
    let mut text = String::from(
        "[storage]\ndatabase = \"data/feedcorpus.db\"\ncorpus_dir = \"data/corpus\"\n\n\
         [http]\ntimeout = \"5s\"\nconnect_timeout = \"2s\"\nper_host_connections = 16\n\
         per_host_min_gap = \"0s\"\n\n",
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

pub fn count(db: &Path, query: &str) -> i64 {
    sql(db, query)[0][0].parse().expect("a number")
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

pub fn spawn_logged(mut cmd: Command) -> (Child, LogWatch) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let watch = LogWatch::attach(&mut child);
    (child, watch)
}

pub fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, sig).expect("kill");
}
