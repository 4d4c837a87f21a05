//! Language detection on the benchmark pages' hand-checked texts (en, ru, fr, uz, kk), the seed
//! records and the seed feed's entries.

use std::fs;

use feedcorpus::pipeline::parse::parse_feed;
use feedcorpus::pipeline::text::lang::detect_language;
use feedcorpus::pipeline::text::normalize::normalize_entry;

#[test]
fn every_fixture_text_gets_its_language() {
    let dir = "tests/fixtures/articles";
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(format!("{dir}/meta.json")).expect("meta"))
            .expect("json");
    let mut samples: Vec<(String, String, String)> = Vec::new();
    for (name, m) in meta.as_object().expect("object") {
        let text = fs::read_to_string(format!("{dir}/{name}.txt")).expect("text");
        let want = m["language"].as_str().expect("language").to_string();
        // The whole text, and its first sentence-sized paragraph alone (a teaser's length).
        let first = text
            .split("\n\n")
            .find(|p| p.split_whitespace().count() >= 12)
            .unwrap_or_default()
            .to_string();
        samples.push((name.to_string(), want.clone(), text));
        samples.push((format!("{name} (first paragraph)"), want, first));
    }
    for (name, want) in [
        ("000_e7e4a9e28aa02dd5", "en"),
        ("001_279588a8956d5652", "en"),
        ("002_bb9f8c8eb76952e6", "en"),
    ] {
        let text = fs::read_to_string(format!("tests/fixtures/seeds/{name}.txt")).expect("seed");
        samples.push((name.to_string(), want.to_string(), text));
    }
    let bytes = fs::read("tests/fixtures/novastan-war-in-ukraine.xml").expect("feed");
    let feed = parse_feed(
        &bytes,
        None,
        "https://novastan.org/en/tag/war-in-ukraine/feed/",
    )
    .expect("feed");
    for e in &feed.entries {
        samples.push((e.key.clone(), "en".into(), normalize_entry(e).text()));
    }

    let mut wrong = Vec::new();
    let mut per_lang: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for (name, want, text) in &samples {
        let got = detect_language(text);
        let slot = per_lang.entry(want.clone()).or_default();
        slot.1 += 1;
        if got.as_deref() == Some(want.as_str()) {
            slot.0 += 1;
        } else {
            wrong.push(format!("{name}: want {want}, got {got:?}"));
        }
    }
    for (lang, (ok, all)) in &per_lang {
        println!("{lang}: {ok}/{all}");
    }
    println!("total: {}/{}", samples.len() - wrong.len(), samples.len());
    assert!(samples.len() >= 50, "{}", samples.len());
    assert!(wrong.is_empty(), "{wrong:#?}");
}
