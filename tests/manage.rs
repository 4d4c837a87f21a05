//! Managing feeds and querying the dataset: feeds add/remove/list, OPML, search, entries,
//! status and metrics, through the real binary.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

fn run(setup: &Setup, args: &[&str]) -> (bool, String, String) {
    let out = setup.cmd(args).output().expect("run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn opml_import_then_export_round_trips_fifty_feeds() {
    let setup = Setup::new(&[], "");
    let mut opml = String::from(
        "<?xml version=\"1.0\"?><opml version=\"2.0\"><head><title>mine</title></head><body>\
         <outline text=\"News\">",
    );
    for i in 0..50 {
        opml.push_str(&format!(
            "<outline type=\"rss\" text=\"Source {i}\" title=\"Source {i}\" \
             xmlUrl=\"https://s{i}.example/feed/?lang=en&amp;x={i}\" htmlUrl=\"https://s{i}.example/\"/>"
        ));
    }
    opml.push_str("</outline></body></opml>");
    let file = setup.dir.path().join("in.opml");
    std::fs::write(&file, &opml).expect("write");
    let (ok, out, err) = run(&setup, &["opml", "import", file.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(out.contains("imported 50 feeds"), "{out}");
    let (ok, out, _) = run(&setup, &["opml", "import", file.to_str().expect("path")]);
    assert!(
        ok && out.contains("imported 0 feeds from") && out.contains("(50 already configured)"),
        "{out}"
    );

    let (ok, exported, err) = run(&setup, &["opml", "export"]);
    assert!(ok, "{err}");
    let again = setup.dir.path().join("again.opml");
    std::fs::write(&again, &exported).expect("write");
    let other = Setup::new(&[], "");
    let (ok, out, err) = run(&other, &["opml", "import", again.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(out.contains("imported 50 feeds"), "{out}");
    let feeds = |s: &Setup| -> Vec<(String, String)> {
        let c = feedcorpus::config::Config::load(&s.config).expect("config");
        c.feeds
            .iter()
            .map(|f| (f.name.clone(), f.url.to_string()))
            .collect()
    };
    let first = feeds(&setup);
    assert_eq!(first.len(), 50);
    assert_eq!(
        first[7],
        (
            "source-7".to_string(),
            "https://s7.example/feed/?lang=en&x=7".to_string()
        )
    );
    assert_eq!(feeds(&other), first);
}

#[test]
fn feeds_add_discovers_a_feed_on_a_page_and_keeps_comments() {
    let server = FeedServer::start();
    server.set(
        "/blog/",
        Route::Body {
            status: 200,
            content_type: "text/html; charset=utf-8".into(),
            body: b"<html><head><title>Blog</title>\
                <link rel=\"alternate\" type=\"application/rss+xml\" title=\"Steppe News\" href=\"/blog/feed/\">\
                </head><body>posts</body></html>"
                .to_vec(),
        },
    );
    server.set_xml("/blog/feed/", rss(&synthetic_items(1, 3)));
    let setup = Setup::new(&[("existing", server.url("/other"))], "");
    let commented = format!(
        "# my feeds, curated by hand\n{}",
        std::fs::read_to_string(&setup.config).expect("read")
    )
    .replace("[[feeds]]", "# first feed\n[[feeds]]");
    std::fs::write(&setup.config, &commented).expect("write");

    let (ok, out, err) = run(
        &setup,
        &["feeds", "add", &server.url("/blog/"), "--interval", "15m"],
    );
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!("found feed {}", server.url("/blog/feed/"))),
        "{out}"
    );
    let text = std::fs::read_to_string(&setup.config).expect("read");
    assert!(
        text.contains("# my feeds, curated by hand") && text.contains("# first feed"),
        "{text}"
    );
    let config = feedcorpus::config::Config::load(&setup.config).expect("valid config");
    let added = config.feeds.last().expect("added");
    assert_eq!(added.name, "steppe-news");
    assert_eq!(added.url.as_str(), server.url("/blog/feed/"));
    assert_eq!(added.interval, Duration::from_secs(900));

    let (ok, _, err) = run(&setup, &["feeds", "add", &server.url("/blog/feed/")]);
    assert!(!ok && err.contains("already configured"), "{err}");

    let (ok, out, _) = run(&setup, &["feeds", "list"]);
    assert!(ok);
    assert!(
        out.lines().next().is_some_and(|h| h.starts_with("NAME")),
        "{out}"
    );
    assert!(
        out.contains("steppe-news") && out.contains("existing"),
        "{out}"
    );

    let (ok, _, err) = run(&setup, &["feeds", "remove", "existing"]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&setup.config).expect("read");
    assert!(
        !text.contains("/other") && text.contains("# my feeds"),
        "{text}"
    );
}

#[test]
fn search_finds_body_words_ranks_title_matches_first_and_follows_deletes() {
    let server = FeedServer::start();
    let items = vec![
        (
            "https://e.org/1".to_string(),
            "Cotton harvest in the Fergana valley".to_string(),
            "Mon, 01 Jun 2026 10:00:00 +0000".to_string(),
            "<p>Farmers report a late season.</p>".to_string(),
        ),
        (
            "https://e.org/2".to_string(),
            "Water talks resume".to_string(),
            "Tue, 02 Jun 2026 10:00:00 +0000".to_string(),
            "<p>Delegates discussed cotton irrigation quotas and the Amu Darya.</p>".to_string(),
        ),
    ];
    server.set_xml("/feed", rss(&items));
    let setup = Setup::new(&[("ca", server.url("/feed"))], "");
    assert!(setup.poll().0);

    let (ok, out, err) = run(&setup, &["search", "irrigation"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("1. Water talks resume"), "{out}");
    assert!(out.contains("[irrigation]"), "highlighted: {out}");

    let (ok, out, _) = run(&setup, &["search", "cotton", "--json"]);
    assert!(ok);
    let hits: serde_json::Value = serde_json::from_str(&out).expect("json");
    let titles: Vec<&str> = hits
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|h| h["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        ["Cotton harvest in the Fergana valley", "Water talks resume"]
    );

    let (ok, out, _) = run(&setup, &["search", "cotton", "--since", "2026-06-02"]);
    assert!(
        ok && out.starts_with("1. Water talks resume") && !out.contains("Fergana"),
        "{out}"
    );

    setup.query("DELETE FROM entries WHERE url = 'https://e.org/2'");
    let (ok, out, _) = run(&setup, &["search", "irrigation"]);
    assert!(ok);
    assert_eq!(out, "no matches\n");
    setup.query(
        "UPDATE entries SET content_text = 'Now about melons.' WHERE url = 'https://e.org/1'",
    );
    let (_, out, _) = run(&setup, &["search", "melons"]);
    assert!(out.starts_with("1. Cotton harvest"), "{out}");
    let (_, out, _) = run(&setup, &["search", "late", "season"]);
    assert_eq!(out, "no matches\n", "the old text left the index");
    assert_eq!(
        count(
            &setup,
            match setup.backend {
                Backend::Sqlite =>
                    "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'cotton'",
                Backend::Postgres => {
                    "SELECT count(*) FROM entries WHERE search @@ to_tsquery('simple', 'cotton')"
                }
            }
        ),
        1
    );
}

#[test]
fn entries_status_and_views_answer_the_usual_questions() {
    let server = FeedServer::start();
    server.set_xml("/a", rss(&synthetic_items(1, 3)));
    server.set(
        "/broken",
        Route::Body {
            status: 503,
            content_type: "text/plain".into(),
            body: Vec::new(),
        },
    );
    let setup = Setup::new(
        &[("a", server.url("/a")), ("broken", server.url("/broken"))],
        "",
    );
    assert!(setup.poll().0);

    let (ok, out, _) = run(&setup, &["entries", "--jsonl"]);
    assert!(ok);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl"))
        .collect();
    assert_eq!(rows.len(), 3);
    for field in [
        "key",
        "guid",
        "url",
        "title",
        "author",
        "published",
        "record_date",
        "text",
        "record_path",
        "feeds",
    ] {
        assert!(rows[0].get(field).is_some(), "missing {field}");
    }
    assert_eq!(rows[0]["feeds"], serde_json::json!(["a"]));
    let (ok, out, _) = run(
        &setup,
        &[
            "entries",
            "--json",
            "--since",
            "2026-06-02",
            "--until",
            "2026-06-02",
        ],
    );
    assert!(ok);
    let arr: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(arr.as_array().map(Vec::len), Some(1));

    let (ok, out, _) = run(&setup, &["status"]);
    assert!(ok);
    assert!(
        out.contains("2 configured: 1 ok, 1 failing, 0 disabled"),
        "{out}"
    );
    assert!(out.contains("3 stored, 3 new today"), "{out}");
    assert!(out.contains("3 written, 0 pending"), "{out}");
    assert!(out.contains("(3 files,"), "{out}");
    assert!(
        out.contains("broken  1 error(s)") && out.contains("HTTP status 503"),
        "{out}"
    );

    assert_eq!(
        setup.query("SELECT feed, count(*) FROM entries_with_feeds GROUP BY feed"),
        [["a", "3"]]
    );
    assert_eq!(
        count(
            &setup,
            "SELECT sum(entries) FROM feed_daily_counts WHERE feed = 'a'"
        ),
        3
    );
    assert_eq!(
        setup.query("SELECT name, entries FROM feed_health ORDER BY name"),
        [["a", "3"], ["broken", "0"]]
    );
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn metrics_are_served_as_prometheus_text() {
    let server = FeedServer::start();
    server.set_xml("/a", rss(&synthetic_items(1, 4)));
    server.set(
        "/gone",
        Route::Body {
            status: 500,
            content_type: "text/plain".into(),
            body: Vec::new(),
        },
    );
    let port = free_port();
    let setup = Setup::new(
        &[("a", server.url("/a")), ("bad", server.url("/gone"))],
        &format!(
            "[poll]\ninterval = \"1h\"\nstartup_jitter = \"0s\"\n\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"
        ),
    );
    let mut cmd = setup.cmd(&["run"]);
    cmd.env("RUST_LOG", "debug");
    let (mut child, mut log) = spawn_logged(cmd);
    log.wait_for("serving metrics", Duration::from_secs(30));
    // Metrics are counted before the scheduler logs a feed's next poll.
    log.wait_for("next poll", Duration::from_secs(30));
    log.wait_for("next poll", Duration::from_secs(30));
    let response = http_get(port, "/metrics");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    signal(&child, Signal::SIGTERM);
    assert_eq!(child.wait().expect("wait").code(), Some(0));

    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no sample {name} in:\n{body}"))
    };
    assert_eq!(
        value("feedcorpus_fetches_total", Some(("result", "stored"))),
        1.0
    );
    assert_eq!(
        value("feedcorpus_fetches_total", Some(("result", "failed"))),
        1.0
    );
    assert_eq!(value("feedcorpus_entries_new_total", None), 4.0);
    assert_eq!(value("feedcorpus_records_written_total", None), 4.0);
    assert_eq!(value("feedcorpus_feeds_failing", None), 1.0);
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "feedcorpus_fetch_duration_seconds"),
        "{body}"
    );
}

#[test]
fn every_example_query_in_the_readme_runs() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    let setup = Setup::new(&[("novastan", server.url("/feed"))], "");
    assert!(setup.poll().0);
    let readme = std::fs::read_to_string("README.md").expect("README");
    let heading = match setup.backend {
        Backend::Sqlite => "Example queries (`sqlite3 data/feedcorpus.db`):",
        Backend::Postgres => "Example queries (`psql \"$FEEDCORPUS_DATABASE_URL\"`):",
    };
    let block = readme
        .split(heading)
        .nth(1)
        .and_then(|rest| rest.split("```sql").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("an sql block after 'Example queries'");
    let statements: Vec<String> = block
        .split(';')
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| !s.trim().is_empty())
        .collect();
    assert!(
        statements.len() >= 6,
        "README shows {} queries",
        statements.len()
    );
    for q in &statements {
        // `sql` fails the test on any SQL error.
        let _ = setup.query(q);
    }
    let search = statements
        .iter()
        .find(|q| q.contains("MATCH") || q.contains("@@"))
        .expect("a full-text query");
    assert!(
        !setup.query(search).is_empty(),
        "the search example finds the seed article"
    );
}

#[test]
fn version_names_the_commit_and_status_prints_normal_paths() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedcorpus"))
        .arg("--version")
        .output()
        .expect("--version");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let commit = text
        .strip_prefix(&format!("feedcorpus {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected --version: {text}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{text}"
    );

    let server = FeedServer::start();
    server.set_xml("/a.xml", SEED_FEED);
    let setup = Setup::new(&[("a", server.url("/a.xml"))], "");
    std::fs::create_dir_all(setup.dir.path().join("conf")).expect("mkdir");
    let config = setup.dir.path().join("conf/feedcorpus.toml");
    let text = std::fs::read_to_string(&setup.config)
        .expect("config")
        .replace("\"data/", "\"../data/");
    std::fs::write(&config, text).expect("config");
    let poll = std::process::Command::new(env!("CARGO_BIN_EXE_feedcorpus"))
        .arg("--config")
        .arg(&config)
        .arg("poll")
        .output()
        .expect("poll");
    assert!(
        poll.status.success(),
        "{}",
        String::from_utf8_lossy(&poll.stderr)
    );
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_feedcorpus"))
        .arg("--config")
        .arg(&config)
        .arg("status")
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&status.stdout);
    let corpus_line = text
        .lines()
        .find(|l| l.starts_with("corpus:"))
        .unwrap_or_else(|| panic!("no corpus line in:\n{text}"));
    assert!(!corpus_line.contains("/../"), "{corpus_line}");
    assert!(
        corpus_line.contains(&setup.corpus().display().to_string()),
        "{corpus_line}"
    );
}
