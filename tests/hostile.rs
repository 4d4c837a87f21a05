//! Hostile input: what strangers' servers and documents send must end as a per-feed (or
//! per-entry) error or a bounded result, never as a crash, a hang, a parked feed or a request to
//! an internal address — and the good feed polled beside the bad one is always stored.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;

/// Entries the seed feed carries.
const SEED_ENTRIES: i64 = 7;

/// Runs a command to completion within `limit`; a command still running then is killed and the
/// test fails. Returns (exit code, stderr).
fn run_bounded(mut cmd: Command, limit: Duration) -> (Option<i32>, String) {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => {
            let out = out.expect("wait");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
        Err(_) => {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid"));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            panic!("the command did not finish within {limit:?}");
        }
    }
}

/// A poll next to the seed feed ("good"); returns the setup and the poll's stderr after
/// checking that it exited 0 and stored all of the good feed's entries.
fn poll_beside_good(server: &FeedServer, bad_url: String, extra: &str) -> (Setup, String) {
    server.set_xml("/good.xml", SEED_FEED);
    let setup = Setup::new(
        &[("good", server.url("/good.xml")), ("bad", bad_url)],
        extra,
    );
    let (code, err) = run_bounded(setup.cmd(&["poll"]), Duration::from_secs(120));
    assert_eq!(code, Some(0), "poll must exit 0; stderr:\n{err}");
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM feed_entries fe JOIN feeds f ON f.id = fe.feed_id WHERE f.name = 'good'"
        ),
        SEED_ENTRIES,
        "the good feed's entries are stored; stderr:\n{err}"
    );
    (setup, err)
}

fn bad_feed(setup: &Setup, column: &str) -> String {
    setup.query(&format!("SELECT {column} FROM feeds WHERE name = 'bad'"))[0][0].clone()
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s:?} is not a time: {e}"))
        .with_timezone(&Utc)
}

/// The feed is due again within `max_interval` (24 h by default) of now.
fn assert_due_within_a_day(setup: &Setup) {
    let next = time(&bad_feed(setup, "next_poll_at"));
    let bound = Utc::now() + chrono::Duration::hours(24) + chrono::Duration::minutes(5);
    assert!(next <= bound, "next poll {next} is beyond {bound}");
    let retry = bad_feed(setup, "retry_until");
    if retry != "NULL" {
        assert!(
            time(&retry) <= bound,
            "retry_until {retry} is beyond {bound}"
        );
    }
}

#[test]
fn endless_retry_after_values_are_capped_at_max_interval() {
    for value in ["99999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"] {
        let server = FeedServer::start();
        server.set(
            "/bad.xml",
            Route::Raw {
                status: 503,
                headers: vec![("Retry-After".into(), value.into())],
                body: Vec::new(),
            },
        );
        let (setup, _) = poll_beside_good(&server, server.url("/bad.xml"), "");
        assert_eq!(bad_feed(&setup, "last_status"), "error", "{value}");
        // Recorded, capped: the feed is not parked for ever.
        assert_ne!(bad_feed(&setup, "retry_until"), "NULL", "{value}");
        assert_due_within_a_day(&setup);
    }
}

#[test]
fn an_endless_cache_control_max_age_is_capped_at_max_interval() {
    let server = FeedServer::start();
    server.set(
        "/bad.xml",
        Route::Raw {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/rss+xml".into()),
                ("Cache-Control".into(), "max-age=99999999999999".into()),
                ("Expires".into(), "Fri, 31 Dec 9999 23:59:59 GMT".into()),
            ],
            body: rss(&synthetic_items(1, 3)).into_bytes(),
        },
    );
    let (setup, _) = poll_beside_good(&server, server.url("/bad.xml"), "");
    assert_eq!(bad_feed(&setup, "last_status"), "ok");
    assert_due_within_a_day(&setup);
}

#[test]
fn endless_ttl_and_update_period_hints_are_capped_at_max_interval() {
    for hint in [
        "<ttl>99999999999999</ttl>",
        "<sy:updatePeriod>yearly</sy:updatePeriod><sy:updateFrequency>0</sy:updateFrequency><ttl>18446744073709551615</ttl>",
    ] {
        let server = FeedServer::start();
        let doc = rss(&synthetic_items(1, 3)).replace(
            "<description>d</description>",
            &format!("<description>d</description>{hint}"),
        );
        let doc = doc.replace(
            "xmlns:dc=",
            "xmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\" xmlns:dc=",
        );
        server.set_xml("/bad.xml", doc);
        let (setup, _) = poll_beside_good(&server, server.url("/bad.xml"), "");
        assert_eq!(bad_feed(&setup, "last_status"), "ok", "{hint}");
        assert_due_within_a_day(&setup);
    }
}

#[test]
fn an_entity_expansion_bomb_fails_its_feed_quickly() {
    let server = FeedServer::start();
    let big = "x".repeat(1024 * 1024);
    let refs = "&big;".repeat(3000);
    let doc = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY big \"{big}\">]>\
         <rss version=\"2.0\"><channel><title>t</title><link>https://example.org/</link>\
         <description>d</description><item><title>bomb</title><guid>b1</guid>\
         <description>{refs}</description></item></channel></rss>"
    );
    server.set_xml("/bad.xml", doc);
    let (setup, _) = poll_beside_good(&server, server.url("/bad.xml"), "");
    assert_eq!(bad_feed(&setup, "last_status"), "error");
    let error = bad_feed(&setup, "last_error");
    assert!(error.contains("entit"), "{error}");
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM feed_entries fe JOIN feeds f ON f.id = fe.feed_id WHERE f.name = 'bad'"
        ),
        0
    );
}

#[test]
fn a_hundred_thousand_nested_elements_neither_crash_nor_hang() {
    let server = FeedServer::start();
    let depth = 100_000;
    let html = format!(
        "<p>Opening paragraph of the deep entry.</p>{}<p>deep text</p>{}",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    );
    let items = vec![(
        "https://example.org/deep".to_string(),
        "Deep".to_string(),
        "Mon, 01 Jun 2026 10:00:00 +0000".to_string(),
        html,
    )];
    server.set_xml("/bad.xml", rss(&items));
    // The same depth in the feed's own XML structure.
    let xml = format!(
        "<rss version=\"2.0\"><channel><title>t</title><link>https://example.org/</link>\
         <description>d</description>{}{}<item><title>x</title><guid>x1</guid></item></channel></rss>",
        "<x:a xmlns:x=\"urn:x\">".repeat(depth),
        "</x:a>".repeat(depth)
    );
    server.set_xml("/deepxml.xml", xml);
    server.set_xml("/good.xml", SEED_FEED);
    let setup = Setup::new(
        &[
            ("good", server.url("/good.xml")),
            ("bad", server.url("/bad.xml")),
            ("deepxml", server.url("/deepxml.xml")),
        ],
        "",
    );
    let (code, err) = run_bounded(setup.cmd(&["poll"]), Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM feed_entries fe JOIN feeds f ON f.id = fe.feed_id WHERE f.name = 'good'"
        ),
        SEED_ENTRIES
    );
    // The deep entry is stored, with its readable text.
    let text =
        setup.query("SELECT content_text FROM entries WHERE url = 'https://example.org/deep'");
    assert_eq!(text.len(), 1, "{err}");
    assert!(text[0][0].contains("Opening paragraph"), "{}", text[0][0]);
}

/// A teaser entry whose page is long enough to be used.
fn teaser_feed(page_url: &str) -> String {
    rss(&[(
        page_url.to_string(),
        "Teaser".to_string(),
        "Mon, 01 Jun 2026 10:00:00 +0000".to_string(),
        "<p>Only a teaser of the article.</p>".to_string(),
    )])
}

fn article_page() -> Vec<u8> {
    let para = "This paragraph of the internal article holds secret words that must never reach \
                the corpus, because the page sits on an internal address.";
    format!(
        "<html><head><title>Secret</title></head><body><article><h1>Secret</h1>{}</article></body></html>",
        (0..12).map(|i| format!("<p>{para} Part {i}.</p>")).collect::<String>()
    )
    .into_bytes()
}

fn with_full_text(setup: &Setup, extra_http: &str) {
    let text = std::fs::read_to_string(&setup.config).expect("config");
    let text = text
        .replace("full_text = \"never\"\n", "full_text = \"auto\"\n")
        .replace("[http]\n", &format!("[http]\n{extra_http}"));
    std::fs::write(&setup.config, text).expect("config");
}

/// A feed at `/teasers.xml` whose entries are teasers linking to `paths`, each served as `page`,
/// polled with `full_text = "auto"` (plus `corpus_extra` in `[corpus]`).
fn teasers_of(server: &FeedServer, paths: &[String], page: &Route, corpus_extra: &str) -> Setup {
    let items: Vec<_> = paths
        .iter()
        .map(|path| {
            server.set(path, page.clone());
            (
                server.url(path),
                format!("Teaser {path}"),
                "Mon, 01 Jun 2026 10:00:00 +0000".to_string(),
                "<p>Only a teaser of the article.</p>".to_string(),
            )
        })
        .collect();
    server.set_xml("/teasers.xml", rss(&items));
    let setup = Setup::new(&[("teasers", server.url("/teasers.xml"))], "");
    with_full_text(&setup, "");
    let text = std::fs::read_to_string(&setup.config)
        .expect("config")
        .replace(
            "full_text = \"auto\"\n",
            &format!("full_text = \"auto\"\n{corpus_extra}"),
        );
    std::fs::write(&setup.config, text).expect("config");
    setup
}

fn html_page() -> Route {
    Route::Body {
        status: 200,
        content_type: "text/html".into(),
        body: article_page(),
    }
}

#[test]
fn article_pages_and_redirects_to_internal_addresses_are_refused() {
    let server = FeedServer::start();
    let internal = FeedServer::start_on("127.0.0.2");
    internal.set(
        "/secret.html",
        Route::Body {
            status: 200,
            content_type: "text/html".into(),
            body: article_page(),
        },
    );
    internal.set_xml("/feed.xml", rss(&synthetic_items(9, 2)));
    server.set_xml("/teaser.xml", teaser_feed(&internal.url("/secret.html")));
    server.set(
        "/moved.xml",
        Route::Raw {
            status: 301,
            headers: vec![("Location".into(), internal.url("/feed.xml"))],
            body: Vec::new(),
        },
    );
    server.set_xml("/good.xml", SEED_FEED);
    let setup = Setup::new(
        &[
            ("good", server.url("/good.xml")),
            ("teaser", server.url("/teaser.xml")),
            ("bad", server.url("/moved.xml")),
        ],
        "",
    );
    with_full_text(&setup, "");
    let (code, err) = run_bounded(setup.cmd(&["poll"]), Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        internal.requests(),
        Vec::<String>::new(),
        "no request reaches the internal host; stderr:\n{err}"
    );
    let teaser =
        setup.query("SELECT text_source, content_text FROM entries WHERE title = 'Teaser'");
    assert_eq!(teaser[0][0], "feed");
    assert!(!teaser[0][1].contains("secret words"));
    assert_eq!(bad_feed(&setup, "last_status"), "error");
    let error = bad_feed(&setup, "last_error");
    assert!(error.contains("internal"), "{error}");
    assert!(err.contains("internal address"), "{err}");

    // The operator may allow an internal host: then both go through.
    let setup2 = Setup::new(
        &[
            ("teaser", server.url("/teaser.xml")),
            ("bad", server.url("/moved.xml")),
        ],
        "",
    );
    with_full_text(&setup2, "allow_internal_hosts = [\"127.0.0.2\"]\n");
    let (code, err) = run_bounded(setup2.cmd(&["poll"]), Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(internal.count("/secret.html"), 1, "{err}");
    assert_eq!(internal.count("/feed.xml"), 1, "{err}");
    assert_eq!(bad_feed(&setup2, "last_status"), "ok");
}

#[test]
fn record_numbers_never_repeat_after_the_newest_files_are_deleted() {
    let server = FeedServer::start();
    server.set_xml("/a.xml", rss(&synthetic_items(1, 7)));
    let setup = Setup::new(&[("a", server.url("/a.xml"))], "");
    let (ok, _, err) = setup.poll();
    assert!(ok, "{err}");
    let first = setup.records();
    assert_eq!(first.len(), 7);
    for name in &first[5..] {
        std::fs::remove_file(setup.corpus().join(name)).expect("remove");
    }
    server.set_xml("/a.xml", rss(&synthetic_items(1, 9)));
    let (ok, _, err) = setup.poll();
    assert!(ok, "{err}");
    let names = setup.records();
    assert_eq!(names.len(), 9, "{names:?}");
    let mut numbers: Vec<&str> = names.iter().filter_map(|n| n.split('_').next()).collect();
    numbers.dedup();
    assert_eq!(numbers.len(), 9, "numbers repeat: {names:?}");
    for name in &first {
        assert!(names.contains(name), "{name} restored under its name");
    }
}

#[test]
fn entries_per_fetch_are_capped_newest_first() {
    let server = FeedServer::start();
    let items: Vec<_> = (0..1_200)
        .map(|i| {
            (
                format!("https://example.org/many/{i}"),
                format!("Item {i}"),
                // Item i is i minutes older than item 0.
                (time("2026-06-01T12:00:00Z") - chrono::Duration::minutes(i)).to_rfc2822(),
                format!("<p>Body of item number {i} with a few words.</p>"),
            )
        })
        .collect();
    // Oldest first in the document: the cap must still keep the newest.
    let mut reversed = items.clone();
    reversed.reverse();
    server.set_xml("/many.xml", rss(&reversed));
    let setup = Setup::new(
        &[("many", server.url("/many.xml"))],
        "[poll]\nmax_entries_per_fetch = 1000\n",
    );
    let (ok, _, err) = setup.poll();
    assert!(ok, "{err}");
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 1000);
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries WHERE url = 'https://example.org/many/1199'"
        ),
        0,
        "the oldest entries are the ones left out"
    );
    assert!(err.contains("max_entries_per_fetch"), "{err}");

    let setup = Setup::new(
        &[("many", server.url("/many.xml"))],
        "[poll]\nmax_entries_per_fetch = 0\n",
    );
    let (ok, _, err) = setup.poll();
    assert!(ok, "{err}");
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 1200);
}

#[test]
fn read_only_commands_neither_migrate_nor_accept_a_newer_schema() {
    let server = FeedServer::start();
    server.set_xml("/a.xml", SEED_FEED);
    let setup = Setup::new(&[("a", server.url("/a.xml"))], "");
    let (ok, _, err) = setup.poll();
    assert!(ok, "{err}");
    let status = setup.cmd(&["status"]).output().expect("status");
    assert!(status.status.success());
    // A schema written by a newer binary: a clear message, no panic, nothing changed.
    setup.query(match setup.backend {
        Backend::Sqlite => "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time)
             VALUES (99990101000000, 'from the future', '2999-01-01', 1, x'00', 0)",
        Backend::Postgres => "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time)
             VALUES (99990101000000, 'from the future', '2999-01-01', true, '\\x00'::bytea, 0)",
    });
    for args in [
        &["status"][..],
        &["entries"][..],
        &["search", "Ukraine"][..],
    ] {
        let out = setup.cmd(args).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("newer than this feedcorpus"),
            "{args:?}: {err}"
        );
    }
    // An older schema is not migrated by a read-only command.
    setup.query("DELETE FROM _sqlx_migrations WHERE version = 99990101000000");
    let latest = setup.query("SELECT max(version) FROM _sqlx_migrations")[0][0].clone();
    setup.query(&format!(
        "DELETE FROM _sqlx_migrations WHERE version = {latest}"
    ));
    let out = setup.cmd(&["status"]).output().expect("status");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("older than this feedcorpus"), "{err}");
    assert_eq!(
        count(
            &setup,
            &format!("SELECT count(*) FROM _sqlx_migrations WHERE version >= {latest}")
        ),
        0
    );
}

#[test]
fn config_edits_keep_the_file_mode_and_leave_no_temp_file() {
    use std::os::unix::fs::PermissionsExt;
    let server = FeedServer::start();
    server.set_xml("/a.xml", SEED_FEED);
    server.set_xml("/b.xml", SEED_FEED.replace("Novastan", "Other"));
    let setup = Setup::new(&[("a", server.url("/a.xml"))], "");
    std::fs::set_permissions(&setup.config, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let out = setup
        .cmd(&["feeds", "add", &server.url("/b.xml"), "--name", "b"])
        .output()
        .expect("feeds add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&setup.config)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640);
    let text = std::fs::read_to_string(&setup.config).expect("config");
    assert!(text.contains("/b.xml"));
    let leftovers: Vec<String> = std::fs::read_dir(setup.dir.path())
        .expect("ls")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains("tmp") || n.starts_with(".feedcorpus-config"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn two_databases_cannot_share_one_corpus_folder() {
    let server = FeedServer::start();
    server.set_xml("/a.xml", SEED_FEED);
    // SQLite instances own their folder; the PostgreSQL side is in tests/fleet.rs.
    let a = Setup::sqlite(
        &[("a", server.url("/a.xml"))],
        "[poll]\ninterval = \"1h\"\nstartup_jitter = \"0s\"\n",
    );
    let (mut daemon, mut log) = spawn_logged(a.cmd(&["run"]));
    log.wait_for("feed fetched", Duration::from_secs(60));
    // A second config: its own database, the first one's corpus folder.
    let b = Setup::sqlite(&[("a", server.url("/a.xml"))], "");
    let text = std::fs::read_to_string(&b.config).expect("config").replace(
        "corpus_dir = \"data/corpus\"",
        &format!("corpus_dir = {:?}", a.corpus().display().to_string()),
    );
    std::fs::write(&b.config, text).expect("config");
    let (ok, _, err) = b.poll();
    assert!(!ok, "a second writer must be refused");
    assert!(
        err.contains("in use by another feedcorpus process"),
        "{err}"
    );
    signal(&daemon, nix::sys::signal::Signal::SIGTERM);
    let _ = daemon.wait();
    // Once the first is gone, the second may write there.
    let (ok, _, err) = b.poll();
    assert!(ok, "{err}");
}

#[test]
fn the_metrics_endpoint_drops_clients_that_send_nothing() {
    use std::io::Read;
    let server = FeedServer::start();
    server.set_xml("/a.xml", SEED_FEED);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let setup = Setup::new(
        &[("a", server.url("/a.xml"))],
        &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let (_daemon, mut log) = spawn_logged(setup.cmd(&["run"]));
    log.wait_for("serving metrics", Duration::from_secs(60));
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut buf = Vec::new();
    // The server closes the connection (header-read timeout); a read error here means it
    // kept the connection open past 30 s.
    let n = silent
        .read_to_end(&mut buf)
        .expect("the server closes a silent connection");
    assert!(n < 1024, "{n}");
    // A real scrape still works.
    let mut ok = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    std::io::Write::write_all(&mut ok, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
    let mut body = String::new();
    ok.read_to_string(&mut body).expect("read");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("feedcorpus_"), "{body}");
}

#[test]
fn article_pages_per_poll_are_capped() {
    let server = FeedServer::start();
    let paths: Vec<String> = (0..6).map(|i| format!("/page{i}.html")).collect();
    let setup = teasers_of(&server, &paths, &html_page(), "max_pages_per_poll = 2\n");
    let (code, err) = run_bounded(setup.cmd(&["poll"]), Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
    let pages: usize = paths.iter().map(|p| server.count(p)).sum();
    assert_eq!(pages, 2, "{err}");
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries WHERE text_source = 'page'"
        ),
        2
    );
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 6);
}

#[test]
fn article_pages_follow_the_sites_robots_txt() {
    let server = FeedServer::start();
    server.set(
        "/robots.txt",
        Route::Body {
            status: 200,
            content_type: "text/plain".into(),
            body: b"User-agent: *\nDisallow: /private/\n\nUser-agent: feedcorpus\nDisallow: /private/\nDisallow: /members/\n".to_vec(),
        },
    );
    let paths: Vec<String> = [
        "/private/a.html",
        "/members/b.html",
        "/public/c.html",
        "/public/d.html",
    ]
    .map(String::from)
    .to_vec();
    let setup = teasers_of(&server, &paths, &html_page(), "");
    let (code, err) = run_bounded(setup.cmd(&["poll"]), Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(server.count("/robots.txt"), 1, "fetched once per site");
    assert_eq!(server.count("/private/a.html"), 0);
    assert_eq!(server.count("/members/b.html"), 0);
    assert_eq!(server.count("/public/c.html"), 1);
    assert_eq!(server.count("/public/d.html"), 1);
    assert!(err.contains("robots.txt disallows this page"), "{err}");
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries WHERE text_source = 'page'"
        ),
        2
    );

    // A site that cannot answer for its robots.txt gets no page requests.
    let down = FeedServer::start();
    down.set(
        "/robots.txt",
        Route::Body {
            status: 503,
            content_type: "text/plain".into(),
            body: Vec::new(),
        },
    );
    down.set(
        "/public/c.html",
        Route::Body {
            status: 200,
            content_type: "text/html".into(),
            body: article_page(),
        },
    );
    down.set_xml("/teasers.xml", teaser_feed(&down.url("/public/c.html")));
    let setup = Setup::new(&[("down", down.url("/teasers.xml"))], "");
    with_full_text(&setup, "");
    let (code, err) = run_bounded(setup.cmd(&["poll"]), Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(down.count("/public/c.html"), 0, "{err}");
}

/// SQLite lets a user's tool write text where numbers belong (PostgreSQL's typed columns
/// refuse it; the test below covers what both accept).
#[test]
fn values_of_the_wrong_type_written_by_hand_are_errors_not_panics() {
    let server = FeedServer::start();
    server.set_xml("/good.xml", SEED_FEED);
    server.set_xml("/bad.xml", rss(&synthetic_items(1, 2)));
    let setup = Setup::sqlite(
        &[
            ("good", server.url("/good.xml")),
            ("bad", server.url("/bad.xml")),
        ],
        "",
    );
    let (ok, _, err) = setup.poll();
    assert!(ok, "{err}");
    // A user's own tool writes text where numbers belong.
    setup.query("UPDATE feeds SET error_count = 'many', interval_secs = 'soon' WHERE name = 'bad'");
    let out = setup.cmd(&["status"]).output().expect("status");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unexpected type"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // A poll fails that one feed and stores the other's changes.
    server.set_xml(
        "/good.xml",
        SEED_FEED.replace(
            "</channel>",
            "<item><title>Added</title><guid>added-1</guid><description>A new entry.</description></item></channel>",
        ),
    );
    let (code, err) = run_bounded(setup.cmd(&["poll"]), Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries WHERE guid = 'added-1'"
        ),
        1
    );
    assert_eq!(bad_feed(&setup, "last_status"), "error");
}

/// Values of the right type that no poll would write: the largest error streak, a negative
/// interval, garbage where JSON belongs, a time far in the past.
#[test]
fn extreme_values_written_by_hand_fail_one_feed_at_most() {
    let server = FeedServer::start();
    server.set_xml("/good.xml", SEED_FEED);
    server.set_xml("/bad.xml", rss(&synthetic_items(1, 2)));
    let setup = Setup::new(
        &[
            ("good", server.url("/good.xml")),
            ("bad", server.url("/bad.xml")),
        ],
        "",
    );
    let (ok, _, err) = setup.poll();
    assert!(ok, "{err}");
    setup.query(
        "UPDATE feeds SET error_count = 9223372036854775807, interval_secs = -5,
                hints = 'not json', body_hash = NULL,
                next_poll_at = NULL, retry_until = NULL, redirect_count = 9223372036854775807
         WHERE name = 'bad'",
    );
    setup.query(
        "UPDATE feed_boilerplate SET model = '{'
         WHERE feed_id = (SELECT id FROM feeds WHERE name = 'bad')",
    );
    assert_eq!(
        setup.query(
            "SELECT model FROM feed_boilerplate JOIN feeds ON feeds.id = feed_id WHERE name = 'bad'"
        ),
        [["{"]]
    );
    server.set_xml("/bad.xml", rss(&synthetic_items(1, 3)));
    for args in [&["status"][..], &["feeds", "list"][..]] {
        let out = setup.cmd(args).output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let (code, err) = run_bounded(setup.cmd(&["poll"]), Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The good feed is untouched by the other's state, and the bad one's next fetch succeeds
    // (its streak ends) and stores its new item.
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 7 + 3);
    assert_eq!(bad_feed(&setup, "error_count"), "0");
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM feeds WHERE name = 'good' AND error_count = 0"
        ),
        1
    );
}

#[test]
fn a_429_on_an_article_page_holds_back_that_sites_other_pages() {
    let server = FeedServer::start();
    let paths: Vec<String> = (0..8).map(|i| format!("/busy{i}.html")).collect();
    let busy = Route::Raw {
        status: 429,
        headers: vec![("Retry-After".into(), "120".into())],
        body: Vec::new(),
    };
    let setup = teasers_of(&server, &paths, &busy, "");
    let (code, err) = run_bounded(setup.cmd(&["poll"]), Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
    let pages: usize = paths.iter().map(|p| server.count(p)).sum();
    // At most the fetches already in flight when the first 429 came back.
    assert!(
        (1..=4).contains(&pages),
        "{pages} page requests after a 429\n{err}"
    );
    assert!(err.contains("the site asked to wait (429)"), "{err}");
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 8);
}

#[test]
fn a_host_name_that_resolves_to_an_internal_address_is_refused_at_connect_time() {
    let server = FeedServer::start();
    server.set(
        "/page.html",
        Route::Body {
            status: 200,
            content_type: "text/html".into(),
            body: article_page(),
        },
    );
    // The feed is on 127.0.0.1; its entry links to the same server under a name that resolves
    // to loopback: another host, whose addresses are all internal.
    server.set_xml(
        "/named.xml",
        teaser_feed(&server.url_as_localhost("/page.html")),
    );
    let setup = Setup::new(&[("named", server.url("/named.xml"))], "");
    with_full_text(&setup, "");
    let (code, err) = run_bounded(setup.cmd(&["poll"]), Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(server.count("/page.html"), 0, "{err}");
    assert!(err.contains("resolves only to internal addresses"), "{err}");

    let setup = Setup::new(&[("named", server.url("/named.xml"))], "");
    with_full_text(&setup, "allow_internal_hosts = [\"localhost\"]\n");
    let (code, err) = run_bounded(setup.cmd(&["poll"]), Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(server.count("/page.html"), 1, "{err}");
}
