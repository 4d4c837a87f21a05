//! Polite, resilient polling against a loopback server that records every request.

mod common;

use chrono::Timelike;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use feedcorpus::config::Config;
use feedcorpus::runtime::clock::{Clock, ManualClock};
use feedcorpus::runtime::engine::Engine;

const WAIT: Duration = Duration::from_secs(30);

fn state(setup: &Setup, name: &str, cols: &str) -> Vec<String> {
    setup
        .query(&format!("SELECT {cols} FROM feeds WHERE name = '{name}'"))
        .into_iter()
        .next()
        .expect("feed row")
}

#[test]
fn a_second_poll_sends_validators_and_a_304_costs_no_parse() {
    let server = FeedServer::start();
    server.set(
        "/feed",
        Route::Conditional {
            body: SEED_FEED.as_bytes().to_vec(),
            etag: Some("\"v1\"".into()),
            last_modified: Some("Tue, 16 Jun 2026 04:40:42 GMT".into()),
        },
    );
    let setup = Setup::new(&[("novastan", server.url("/feed"))], "");
    let (ok, out, _) = setup.poll();
    assert!(ok && out.contains("7 new"), "{out}");
    assert_eq!(state(&setup, "novastan", "etag")[0], "\"v1\"");

    let (ok, out, err) = setup.poll();
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("ok      novastan  not modified (304)"),
        "{out}"
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].if_none_match, None);
    assert_eq!(seen[1].if_none_match.as_deref(), Some("\"v1\""));
    assert_eq!(
        seen[1].if_modified_since.as_deref(),
        Some("Tue, 16 Jun 2026 04:40:42 GMT")
    );
    assert_eq!(seen[1].status, 304);
    assert!(
        !err.contains("feed fetched"),
        "a 304 is not parsed or stored: {err}"
    );
    let row = state(
        &setup,
        "novastan",
        "last_status, last_http_status, error_count",
    );
    assert_eq!(row, ["not_modified", "304", "0"]);
}

#[test]
fn an_unchanged_body_without_validators_is_not_parsed_again() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    let setup = Setup::new(&[("novastan", server.url("/feed"))], "");
    assert!(setup.poll().0);
    let (ok, out, err) = setup.poll();
    assert!(ok);
    assert!(out.contains("ok      novastan  unchanged"), "{out}");
    assert!(!err.contains("feed fetched"), "{err}");
    assert_eq!(state(&setup, "novastan", "last_status")[0], "unchanged");
}

#[test]
fn retry_after_holds_the_feed_and_briefly_its_host() {
    let server = FeedServer::start();
    server.set(
        "/a",
        Route::Raw {
            status: 429,
            headers: vec![("retry-after".into(), "120".into())],
            body: Vec::new(),
        },
    );
    server.set_xml("/b", rss(&synthetic_items(2, 2)));
    server.set_xml("/c", rss(&synthetic_items(3, 2)));
    let setup = Setup::new(
        &[
            ("a", server.url("/a")),
            // Same server, another host name: not held back by the 429 of 127.0.0.1.
            ("b", server.url_as_localhost("/b")),
            ("c", server.url("/c")),
        ],
        "[poll]\ninterval = \"30s\"\nstartup_jitter = \"0s\"\n",
    );
    let rt = tokio::runtime::Runtime::new().expect("rt");
    // The clock starts between two microseconds (PostgreSQL keeps microseconds): a due time
    // the store kept must still be due when the clock reaches it.
    let start = chrono::Utc::now()
        .with_nanosecond(123_456_789)
        .expect("a valid nanosecond");
    let clock = Arc::new(ManualClock::new(start));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let config = Config::load(&setup.config).expect("config");
    let daemon = {
        let clock: Arc<dyn Clock> = clock.clone();
        let shutdown = shutdown.clone();
        rt.spawn(async move {
            let mut engine = Engine::open(config).await.expect("engine");
            let (_reload_tx, reloads) = tokio::sync::mpsc::channel(1);
            feedcorpus::schedule::daemon::run_daemon(&mut engine, shutdown, clock, reloads, None)
                .await
        })
    };
    server.wait_for_requests("/a", 1, WAIT);
    server.wait_for_requests("/b", 1, WAIT);
    server.wait_for_requests("/c", 1, WAIT);
    // b is due every 30 s: each of its requests proves the scheduler saw the clock move.
    for step in 1..=3 {
        clock.advance(Duration::from_secs(30));
        server.wait_for_requests("/b", 1 + step, WAIT);
        assert_eq!(
            server.count("/a"),
            1,
            "a requested before Retry-After (t={}s)",
            step * 30
        );
        assert_eq!(
            server.count("/c"),
            1,
            "c requested while its host is held (t={}s)",
            step * 30
        );
    }
    clock.advance(Duration::from_secs(30));
    server.wait_for_requests("/a", 2, WAIT);
    server.wait_for_requests("/c", 2, WAIT);
    shutdown.cancel();
    rt.block_on(daemon)
        .expect("join")
        .expect("daemon exits cleanly");
    // The counts above are taken when b's request arrives, and a request of the same round
    // could come later; so, with the whole run over, the order of every request is checked as
    // well: the second request of a and of c comes after b's requests at t = 0, 30, 60, 90.
    for held in ["/a", "/c"] {
        let log = server.requests();
        let second = log
            .iter()
            .enumerate()
            .filter(|(_, p)| p.as_str() == held)
            .nth(1)
            .map(|(i, _)| i)
            .expect("a second request");
        let b_before = log[..second].iter().filter(|p| p.as_str() == "/b").count();
        assert!(
            b_before >= 4,
            "{held} requested again after only {b_before} rounds: {log:?}"
        );
    }
    // The second 429 may have been abandoned in flight by the shutdown; the first is stored.
    let row = state(&setup, "a", "last_http_status, retry_until IS NOT NULL");
    assert_eq!(row, ["429", "1"]);
}

#[test]
fn per_host_connection_limit_holds() {
    let server = FeedServer::start();
    let mut feeds = Vec::new();
    for i in 0..10 {
        server.set(
            &format!("/f{i}"),
            Route::Slow {
                delay: Duration::from_millis(150),
                body: rss(&synthetic_items(i, 3)).into_bytes(),
            },
        );
        feeds.push((format!("f{i}"), server.url(&format!("/f{i}"))));
    }
    let named: Vec<(&str, String)> = feeds.iter().map(|(n, u)| (n.as_str(), u.clone())).collect();
    let setup = Setup::new(&named, "[poll]\nconcurrency = 10\n");
    let text = std::fs::read_to_string(&setup.config).expect("read");
    std::fs::write(
        &setup.config,
        text.replace("per_host_connections = 16", "per_host_connections = 2"),
    )
    .expect("write");
    let (ok, out, err) = setup.poll();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("10 ok, 0 failed"), "{out}");
    assert_eq!(
        server.max_in_flight(),
        2,
        "at most 2 requests to one host at once"
    );
}

fn gzip_bomb(decompressed: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(decompressed >> 20) {
        enc.write_all(&zeros).expect("compress");
    }
    enc.finish().expect("finish")
}

/// Runs `poll` and returns (success, stdout, stderr, that process's own peak RSS in KiB). The
/// figure comes from `wait4` on that child alone: other tests of this binary run their own polls
/// at the same time, and `RUSAGE_CHILDREN` would report the largest of them all.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which reads its rusage"
)]
fn poll_with_peak_rss(setup: &Setup) -> (bool, String, String, i64) {
    use std::io::Read;
    let mut child = setup
        .cmd(&["poll"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn poll");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let pid = i32::try_from(child.id()).expect("pid");
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills; the pid is our own unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (
        ok,
        out.join().expect("stdout thread"),
        err.join().expect("stderr thread"),
        usage.ru_maxrss,
    )
}

#[test]
fn hostile_servers_end_as_per_feed_errors_within_limits() {
    let server = FeedServer::start();
    let bomb = gzip_bomb(256 << 20);
    assert!(bomb.len() < 2 << 20);
    server.set(
        "/bomb",
        Route::Raw {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/rss+xml".into()),
                ("content-encoding".into(), "gzip".into()),
            ],
            body: bomb,
        },
    );
    server.set("/endless", Route::Endless);
    server.set("/hang", Route::Hang);
    let redirect = |to: &str, status: u16| Route::Raw {
        status,
        headers: vec![("location".into(), to.into())],
        body: Vec::new(),
    };
    server.set("/loop-a", redirect("/loop-b", 302));
    server.set("/loop-b", redirect("/loop-a", 302));
    server.set("/to-file", redirect("file:///etc/passwd", 301));
    server.set_xml("/good", SEED_FEED);
    let setup = Setup::new(
        &[
            ("bomb", server.url("/bomb")),
            ("endless", server.url("/endless")),
            ("hang", server.url("/hang")),
            ("loop", server.url("/loop-a")),
            ("to-file", server.url("/to-file")),
            ("good", server.url("/good")),
        ],
        "",
    );
    let text = std::fs::read_to_string(&setup.config).expect("read");
    std::fs::write(
        &setup.config,
        text.replace(
            "timeout = \"5s\"",
            "timeout = \"3s\"\nmax_body_size = \"2MiB\"\nread_timeout = \"2s\"",
        ),
    )
    .expect("write");
    let started = std::time::Instant::now();
    let (ok, out, err, peak_kib) = poll_with_peak_rss(&setup);
    let took = started.elapsed();
    assert!(ok, "{out}\n{err}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.contains(&format!(" {name}  ")))
            .unwrap_or_else(|| panic!("no line for {name}: {out}"))
            .to_string()
    };
    assert!(
        line("bomb").contains("exceeds the 2097152-byte limit"),
        "{out}"
    );
    assert!(
        line("endless").contains("exceeds the 2097152-byte limit"),
        "{out}"
    );
    assert!(line("hang").contains("timed out"), "{out}");
    assert!(line("loop").contains("redirect loop"), "{out}");
    assert!(
        line("to-file").contains("non-http URL file:///etc/passwd"),
        "{out}"
    );
    assert!(line("good").starts_with("ok      good  7 new"), "{out}");
    assert!(took < Duration::from_secs(20), "limits hold: took {took:?}");
    let rss_mib = peak_kib / 1024;
    assert!(
        rss_mib < 128,
        "peak RSS {rss_mib} MiB: the 256 MiB bomb was not capped"
    );
}

#[test]
fn backoff_grows_resets_on_success_and_410_disables() {
    let server = FeedServer::start();
    server.set(
        "/flaky",
        Route::Body {
            status: 500,
            content_type: "text/plain".into(),
            body: b"down".to_vec(),
        },
    );
    let setup = Setup::new(
        &[("flaky", server.url("/flaky"))],
        "[poll]\ninterval = \"10m\"\n",
    );
    let delay = |setup: &Setup| -> i64 {
        let r = state(setup, "flaky", "last_fetch_at, next_poll_at");
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .expect("date")
                .timestamp()
        };
        t(&r[1]) - t(&r[0])
    };
    assert!(setup.poll().0);
    let first = delay(&setup);
    assert!(
        (450..=750).contains(&first),
        "first retry ≈ interval ± 25 %: {first}s"
    );
    assert!(setup.poll().0);
    let second = delay(&setup);
    assert!(
        (900..=1500).contains(&second),
        "second retry ≈ 2 × interval: {second}s"
    );
    assert!(setup.poll().0);
    let third = delay(&setup);
    assert!(
        (1800..=3000).contains(&third),
        "third retry ≈ 4 × interval: {third}s"
    );
    assert_eq!(state(&setup, "flaky", "error_count")[0], "3");

    server.set_xml("/flaky", rss(&synthetic_items(1, 2)));
    assert!(setup.poll().0);
    assert_eq!(
        state(&setup, "flaky", "error_count, last_error")[..],
        ["0", "NULL"]
    );
    assert_eq!(delay(&setup), 600, "back to the interval");

    server.set(
        "/flaky",
        Route::Body {
            status: 410,
            content_type: "text/plain".into(),
            body: Vec::new(),
        },
    );
    let (ok, out, err) = setup.poll();
    assert!(ok);
    assert!(
        out.contains("FAILED  flaky") && out.contains("410"),
        "{out}"
    );
    assert!(err.contains("gone (410)"), "{err}");
    let row = state(&setup, "flaky", "last_status, disabled_reason IS NOT NULL");
    assert_eq!(row, ["gone", "1"]);
    let before = server.count("/flaky");
    let (ok, out, _) = setup.poll();
    assert!(ok);
    assert!(out.contains("skipped flaky  disabled: 410 Gone"), "{out}");
    assert_eq!(
        server.count("/flaky"),
        before,
        "a disabled feed is not requested"
    );
}

#[test]
fn permanent_redirects_move_a_feed_only_once_they_repeat() {
    let server = FeedServer::start();
    let moved = |to: String, status: u16| Route::Raw {
        status,
        headers: vec![("location".into(), to)],
        body: Vec::new(),
    };
    server.set("/old", moved(server.url("/new"), 301));
    server.set("/tmp-old", moved(server.url("/tmp-new"), 302));
    server.set_xml("/new", rss(&synthetic_items(1, 2)));
    server.set_xml("/tmp-new", rss(&synthetic_items(2, 2)));
    let setup = Setup::new(
        &[
            ("perm", server.url("/old")),
            ("temp", server.url("/tmp-old")),
        ],
        "",
    );
    assert!(setup.poll().0);
    assert_eq!(
        state(&setup, "perm", "fetch_url, redirect_count"),
        ["NULL", "1"]
    );
    let (_, _, err) = setup.poll();
    assert!(err.contains("moved permanently"), "{err}");
    assert_eq!(
        state(&setup, "perm", "fetch_url, redirect_count"),
        [server.url("/new"), "2".to_string()]
    );
    let old_before = server.count("/old");
    assert!(setup.poll().0);
    assert_eq!(
        server.count("/old"),
        old_before,
        "the moved feed is polled at its new URL"
    );
    for _ in 0..2 {
        assert!(setup.poll().0);
    }
    assert_eq!(
        state(&setup, "temp", "fetch_url, redirect_count"),
        ["NULL", "0"]
    );
    assert_eq!(
        server.count("/tmp-old"),
        5,
        "temporary redirects never move a feed"
    );
}

#[test]
fn a_full_feed_of_new_entries_is_a_suspected_gap() {
    let server = FeedServer::start();
    server.set_xml("/feed", rss(&synthetic_items(1, 5)));
    let setup = Setup::new(
        &[("busy", server.url("/feed"))],
        "[poll]\ninterval = \"1h\"\nmin_interval = \"10m\"\n",
    );
    assert!(setup.poll().0);
    assert_eq!(
        state(&setup, "busy", "gap_count, interval_secs"),
        ["0", "3600"]
    );
    // Five new entries, all published after the last poll: older ones may have scrolled out.
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc2822();
    let fresh: Vec<_> = (0..5)
        .map(|i| {
            (
                format!("https://example.org/fresh/{i}"),
                format!("Fresh {i}"),
                soon.clone(),
                "<p>x</p>".to_string(),
            )
        })
        .collect();
    server.set_xml("/feed", rss(&fresh));
    let (ok, _, err) = setup.poll();
    assert!(ok);
    assert!(err.contains("entries may have been missed"), "{err}");
    assert_eq!(
        state(&setup, "busy", "gap_count, interval_secs"),
        ["1", "1800"]
    );
}

fn wordpress_page(page: usize, per_page: usize) -> String {
    let items = (0..per_page)
        .map(|i| {
            let n = page * 100 + i;
            format!(
                "<item><title>Post {n}</title><link>https://wp.example/{n}/</link>\
                 <pubDate>Mon, 01 Jun 2026 10:00:00 +0000</pubDate>\
                 <guid isPermaLink=\"false\">https://wp.example/?p={n}</guid>\
                 <description><![CDATA[<p>Body of post {n}.</p>]]></description></item>"
            )
        })
        .collect::<String>();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>WP</title>\
         <link>https://wp.example/</link><generator>https://wordpress.org/?v=7.0</generator>{items}</channel></rss>"
    )
}

#[test]
fn backfill_walks_a_wordpress_archive_once() {
    let server = FeedServer::start();
    server.set_xml("/wp/feed/", wordpress_page(1, 10));
    for page in 2..=5 {
        server.set_xml(&format!("/wp/feed/?paged={page}"), wordpress_page(page, 10));
    }
    let setup = Setup::new(&[("wp", server.url("/wp/feed/"))], "");
    let run = |setup: &Setup| {
        let out = setup.cmd(&["backfill", "wp"]).output().expect("backfill");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&setup);
    assert!(
        out.contains("5 pages, 50 new entries, 50 records written"),
        "{out}"
    );
    assert!(out.contains("page 6 does not exist"), "{out}");
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 50);
    assert_eq!(setup.records().len(), 50);
    let requests_before = server.requests().len();
    let out = run(&setup);
    assert!(out.contains("0 new entries"), "{out}");
    assert!(out.contains("page 2 holds only known entries"), "{out}");
    assert_eq!(
        server.requests().len() - requests_before,
        2,
        "a second walk reads two pages"
    );
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), 50);
}

#[test]
fn backfill_refuses_feeds_that_are_not_wordpress() {
    let server = FeedServer::start();
    server.set_xml("/feed", rss(&synthetic_items(1, 3)));
    let setup = Setup::new(&[("plain", server.url("/feed"))], "");
    let out = setup
        .cmd(&["backfill", "plain"])
        .output()
        .expect("backfill");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("not a WordPress feed"), "{text}");
    assert_eq!(server.requests(), ["/feed"], "no archive page is requested");
}
