//! Near-duplicate detection on real and hand-written pairs: the same article reworded by two
//! outlets (seeds 001 and 002), syndicated and lightly edited copies, and pairs that must stay
//! apart (two different articles on one event, two articles on one topic).

use std::fs;

use feedcorpus::pipeline::text::neardup::{
    CONTAINMENT_THRESHOLD, Fingerprint, Index, JACCARD_THRESHOLD, containment, fingerprint,
    is_near_duplicate, similarity,
};
use regex::Regex;

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A text-form record: drop the " date YYYY-MM-DD " prefix.
fn record_text(path: &str) -> String {
    let t = read(path);
    let t = t.trim_start();
    t.strip_prefix("date ")
        .map(|r| r[11..].to_string())
        .unwrap_or_else(|| t.to_string())
}

/// A Markdown-form record (seed 002): header, footer and markup removed.
fn markdown_text(path: &str) -> String {
    let md = read(path);
    let body: Vec<&str> = md
        .lines()
        .filter(|l| !l.starts_with("# ") && !l.starts_with("By [") && !l.starts_with('<'))
        .filter(|l| !l.starts_with("Original url:"))
        .collect();
    let body = body.join("\n");
    let links = Regex::new(r"\[([^\]]*)\]\([^)]*\)").expect("re");
    links
        .replace_all(&body, "$1")
        .replace("**", "")
        .replace('*', "")
}

fn fixture(name: &str) -> String {
    read(&format!("tests/fixtures/quality/{name}.txt"))
}

fn article(name: &str) -> String {
    read(&format!("tests/fixtures/articles/{name}.txt"))
}

fn report(label: &str, a: &Fingerprint, b: &Fingerprint) -> bool {
    let d = is_near_duplicate(a, b);
    println!(
        "{label:<48} jaccard {:.3}  containment {:.3}  near-duplicate {d}",
        similarity(a, b),
        containment(a, b)
    );
    d
}

#[test]
fn copies_are_near_duplicates_and_different_articles_are_not() {
    let seed000 = fingerprint(&record_text(
        "tests/fixtures/seeds/000_e7e4a9e28aa02dd5.txt",
    ));
    let seed001 = fingerprint(&record_text(
        "tests/fixtures/seeds/001_279588a8956d5652.txt",
    ));
    let seed002 = fingerprint(&markdown_text(
        "tests/fixtures/seeds/002_bb9f8c8eb76952e6.txt",
    ));
    let nuclear = fingerprint(&article("03-broadcaster"));
    let nuclear_copy = fingerprint(&fixture("nuclear-syndicated-copy"));
    let nuclear_other = fingerprint(&fixture("nuclear-other-article"));
    let wheat = fingerprint(&fixture("wheat-original"));
    let wheat_edit = fingerprint(&fixture("wheat-lightly-edited"));
    println!("thresholds: jaccard {JACCARD_THRESHOLD}, containment {CONTAINMENT_THRESHOLD}");

    assert!(report(
        "seed 001 vs seed 002 (reworded by two outlets)",
        &seed001,
        &seed002
    ));
    assert!(report(
        "nuclear vs syndicated copy",
        &nuclear,
        &nuclear_copy
    ));
    assert!(report(
        "wheat vs lightly edited re-post",
        &wheat,
        &wheat_edit
    ));

    assert!(!report(
        "nuclear vs other article on the same event",
        &nuclear,
        &nuclear_other
    ));
    assert!(!report(
        "syndicated copy vs other article, same event",
        &nuclear_copy,
        &nuclear_other
    ));
    assert!(!report(
        "seed 000 vs seed 001 (same topic)",
        &seed000,
        &seed001
    ));
    assert!(!report(
        "seed 000 vs seed 002 (same topic)",
        &seed000,
        &seed002
    ));
    assert!(!report("nuclear vs wheat", &nuclear, &wheat));
}

/// Every pair among the 22 benchmark articles is distinct; the index keeps them apart and puts
/// each copy with its original.
#[test]
fn index_assigns_clusters() {
    let mut names: Vec<String> = fs::read_dir("tests/fixtures/articles")
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    assert!(names.len() >= 20);
    let mut index = Index::new();
    let mut max_distinct: f64 = 0.0;
    let fps: Vec<Fingerprint> = names
        .iter()
        .map(|n| fingerprint(&read(&format!("tests/fixtures/articles/{n}"))))
        .collect();
    for (i, fp) in fps.iter().enumerate() {
        for other in &fps[..i] {
            max_distinct = max_distinct.max(similarity(fp, other));
        }
        let id = i as u64 + 1;
        assert_eq!(
            index.insert(id, fp.clone()),
            id,
            "{} joined a cluster",
            names[i]
        );
    }
    println!("highest similarity between two distinct benchmark articles: {max_distinct:.3}");
    let base = names.len() as u64;
    let nuclear = names.iter().position(|n| n.starts_with("03-")).expect("03") as u64 + 1;
    assert_eq!(
        index.insert(base + 1, fingerprint(&fixture("nuclear-syndicated-copy"))),
        nuclear
    );
    assert_eq!(
        index.insert(base + 2, fingerprint(&fixture("nuclear-other-article"))),
        base + 2
    );
    assert_eq!(
        index.insert(base + 3, fingerprint(&fixture("wheat-original"))),
        base + 3
    );
    assert_eq!(
        index.insert(base + 4, fingerprint(&fixture("wheat-lightly-edited"))),
        base + 3
    );
    let s1 = fingerprint(&record_text(
        "tests/fixtures/seeds/001_279588a8956d5652.txt",
    ));
    let s2 = fingerprint(&markdown_text(
        "tests/fixtures/seeds/002_bb9f8c8eb76952e6.txt",
    ));
    assert_eq!(index.insert(base + 5, s1), base + 5);
    assert_eq!(index.insert(base + 6, s2), base + 5);
}
