//! Crash safety: `poll` killed with SIGKILL at several points of a large ingest, then run again.
//! Every entry must end up stored once with exactly one record, and no temp file may remain.

mod common;

use std::collections::HashSet;
use std::fs;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

const FEEDS: usize = 200;
const ITEMS: usize = 50;

fn check_consistent(setup: &Setup) {
    assert_eq!(setup.integrity(), "ok");
    let rows = setup.query("SELECT key, record_path FROM entries");
    let keys: HashSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(keys.len(), rows.len(), "a key stored twice");
    let files = setup.records();
    let mut hashes = HashSet::new();
    let mut numbers = HashSet::new();
    for f in &files {
        let (n, hash) = feedcorpus::corpus::parse_record_name(f).expect("record name");
        assert!(
            hashes.insert(hash.to_string()),
            "two record files for one entry: {f}"
        );
        assert!(numbers.insert(n), "record number {n} used twice: {f}");
    }
    for r in &rows {
        if r[1] != "NULL" {
            assert!(
                setup.corpus().join(&r[1]).is_file(),
                "DB names a missing record {}",
                r[1]
            );
        }
    }
}

#[test]
fn sigkill_at_any_point_loses_and_duplicates_nothing() {
    let server = FeedServer::start();
    let mut feeds = Vec::new();
    for f in 0..FEEDS {
        server.set_xml(&format!("/f{f}"), rss(&synthetic_items(f, ITEMS)));
        feeds.push((format!("feed-{f}"), server.url(&format!("/f{f}"))));
    }
    let named: Vec<(&str, String)> = feeds.iter().map(|(n, u)| (n.as_str(), u.clone())).collect();
    let setup = Setup::new(&named, "[poll]\nconcurrency = 8\n");

    // Kill points, each reached by a fresh poll that resumes the previous one's work.
    // "feed=" is on every per-feed line (stored, unchanged or failed), so every poll reaches
    // these points; the first kill lands right after the first batch of records.
    let points: [(&str, usize); 7] = [
        ("records written", 1),
        ("feed=", 1),
        ("feed=", 25),
        ("feed=", 60),
        ("feed=", 120),
        ("feed=", 150),
        ("feed=", 190),
    ];
    for (needle, nth) in points {
        let (mut child, mut log) = spawn_logged(setup.cmd(&["poll"]));
        for _ in 0..nth {
            log.wait_for(needle, Duration::from_secs(120));
        }
        signal(&child, Signal::SIGKILL);
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), None, "killed by a signal");
        check_consistent(&setup);
    }
    let stored_before_final = count(&setup, "SELECT count(*) FROM entries");
    assert!(stored_before_final > 0, "the kills happened mid-ingest");

    let (ok, out, err) = setup.poll();
    assert!(ok, "{out}\n{err}");
    check_consistent(&setup);
    let total = (FEEDS * ITEMS) as i64;
    assert_eq!(count(&setup, "SELECT count(*) FROM entries"), total);
    assert_eq!(count(&setup, "SELECT count(*) FROM feed_entries"), total);
    assert_eq!(
        count(
            &setup,
            "SELECT count(*) FROM entries WHERE record_path IS NULL"
        ),
        0
    );
    let files = setup.records();
    assert_eq!(files.len() as i64, total);
    let leftovers: Vec<String> = fs::read_dir(setup.corpus())
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    // Every record holds its entry's text, and numbers are unique.
    let rows =
        setup.query("SELECT key, record_date, content_text, record_path, title FROM entries");
    let mut numbers = HashSet::new();
    for r in &rows {
        let (n, hash) = feedcorpus::corpus::parse_record_name(&r[3]).expect("name");
        assert_eq!(hash, feedcorpus::model::entry::key_hash16(&r[0]));
        assert!(numbers.insert(n), "number {n} used twice");
        let body = fs::read_to_string(setup.corpus().join(&r[3])).expect("read");
        let text = feedcorpus::corpus::without_title(&r[2], Some(&r[4]));
        assert_eq!(body, feedcorpus::corpus::render(&r[1], text));
    }
    let (ok, out, _) = setup.poll();
    assert!(ok);
    assert!(out.contains("0 new entries, 0 records written"), "{out}");
}

/// The narrowest crash window, made deterministic: record files renamed into place and made
/// durable, but the process died before the database learned their names.
#[test]
fn records_written_but_not_registered_are_adopted_not_duplicated() {
    let server = FeedServer::start();
    server.set_xml("/feed", SEED_FEED);
    let setup = Setup::new(&[("novastan", server.url("/feed"))], "");
    assert!(setup.poll().0);
    let before = setup.records();
    let paths_before = setup.query("SELECT key, record_path FROM entries ORDER BY key");
    setup.query("UPDATE entries SET record_path = NULL");

    let (ok, out, err) = setup.poll();
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        setup.records(),
        before,
        "no second record file for any entry"
    );
    assert_eq!(
        setup.query("SELECT key, record_path FROM entries ORDER BY key"),
        paths_before
    );
}
