//! The database as the tools people open SQLite files with see it. Datasette (run here, on
//! loopback) must find the full-text index of `entries`, so that `?_search=` filters rows
//! instead of being ignored.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

/// The body of a GET on 127.0.0.1 (HTTP/1.0: no chunked encoding to undo).
fn get_body(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{head}"
    );
    body.to_string()
}

fn keys(json: &str) -> Vec<String> {
    let rows: Vec<serde_json::Value> = serde_json::from_str(json).expect("JSON rows");
    rows.iter()
        .map(|r| r["key"].as_str().expect("key").to_string())
        .collect()
}

#[test]
fn datasette_finds_the_search_index_of_entries() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    let setup = Setup::new(&[("novastan", server.url("/feed"))], "");
    let (ok, out, err) = setup.poll();
    assert!(ok, "{out}\n{err}");
    let port = free_port();
    let db = setup.db();
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-m", "datasette", "serve"]).arg(&db).args([
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
    ]);
    let (_child, mut log) = spawn_logged(cmd);
    log.wait_for("Uvicorn running", Duration::from_secs(60));
    let all = keys(&get_body(
        port,
        "/feedcorpus/entries.json?_shape=array&_col=key",
    ));
    assert_eq!(all.len(), 7);
    let found = keys(&get_body(
        port,
        "/feedcorpus/entries.json?_search=passport&_shape=array&_col=key",
    ));
    // What feedcorpus's own search finds for the word.
    let want: Vec<String> = setup
        .query(
            "SELECT e.key FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid
             WHERE entries_fts MATCH 'passport' ORDER BY e.id",
        )
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert!(!want.is_empty() && want.len() < all.len(), "{want:?}");
    let mut found_sorted = found.clone();
    found_sorted.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(
        found_sorted, want_sorted,
        "?_search= filters by the full-text index"
    );
}
