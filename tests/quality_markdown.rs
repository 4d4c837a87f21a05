//! The Markdown record form: an entry of the seed WordPress feed rendered in the shape of
//! seed 002.

use std::fs;

use feedcorpus::corpus::markdown::render_markdown;
use feedcorpus::model::entry::Entry;
use feedcorpus::pipeline::parse::parse_feed;
use feedcorpus::pipeline::text::boilerplate::strip_boilerplate;
use feedcorpus::pipeline::text::normalize::normalize_entry;
use regex::Regex;

fn seed_entries() -> Vec<Entry> {
    let bytes = fs::read("tests/fixtures/novastan-war-in-ukraine.xml").expect("feed");
    parse_feed(
        &bytes,
        None,
        "https://novastan.org/en/tag/war-in-ukraine/feed/",
    )
    .expect("parses")
    .entries
}

fn render(e: &Entry) -> String {
    render_markdown(
        e.title.as_deref().expect("title"),
        e.author.as_deref(),
        e.published.expect("date"),
        &e.body.as_ref().expect("body").text,
        e.url.as_deref().expect("url"),
    )
}

/// Each line as its kind, with the body's paragraphs folded into one `body` item.
fn shape(md: &str) -> Vec<&'static str> {
    let date = Regex::new(r"^(January|February|March|April|May|June|July|August|September|October|November|December) \d{1,2}, \d{4}$").expect("re");
    let byline = Regex::new(r"^By \[[^\]]+\]\(#\)$").expect("re");
    let url = Regex::new(r"^<https?://[^>\s]+>$").expect("re");
    let mut kinds: Vec<&'static str> = md
        .split('\n')
        .map(|l| {
            if l.is_empty() {
                "blank"
            } else if l.starts_with("# ") {
                "title"
            } else if byline.is_match(l) {
                "byline"
            } else if date.is_match(l) {
                "date"
            } else if l == "Original url:" {
                "url-label"
            } else if url.is_match(l) {
                "url"
            } else {
                "text"
            }
        })
        .collect();
    // "text (blank text)*" is the body.
    let mut out = Vec::new();
    let mut i = 0;
    while i < kinds.len() {
        if kinds[i] == "text" {
            while i + 2 < kinds.len() && kinds[i + 1] == "blank" && kinds[i + 2] == "text" {
                i += 2;
            }
            out.push("body");
        } else {
            out.push(kinds[i]);
        }
        i += 1;
    }
    kinds.clear();
    out
}

#[test]
fn a_seed_feed_item_has_the_shape_of_seed_002() {
    let seed = fs::read_to_string("tests/fixtures/seeds/002_bb9f8c8eb76952e6.txt").expect("seed");
    let want = shape(&seed);
    assert_eq!(
        want,
        [
            "blank",
            "blank",
            "title",
            "blank",
            "byline",
            "blank",
            "date",
            "blank",
            "blank",
            "blank",
            "body",
            "blank",
            "url-label",
            "blank",
            "url"
        ]
    );
    for e in seed_entries() {
        let md = render(&e);
        assert_eq!(shape(&md), want, "{}\n{md}", e.key);
        assert!(!md.ends_with('\n'));
    }
}

#[test]
fn the_first_item_reads_like_the_seed() {
    let entries = seed_entries();
    let e = entries
        .iter()
        .find(|e| e.key.ends_with("?p=48744"))
        .expect("48744");
    let md = render(e);
    println!("{md}");
    assert!(md.starts_with(
        "\n\n# “I only needed a passport” : In Ukraine, Central Asian prisoners of wars caught between loyalty and regret\n\n\
         By [Emma Collet](#)\n\nJune 15, 2026\n\n\n\n"
    ));
    assert!(md.ends_with(
        "\n\nOriginal url:\n\n<https://novastan.org/en/kazakhstan/central-asian-prisoners-war-russia-ukraine/>"
    ));
    // Links keep their targets, emphasis its markers; chrome and the trailer are gone.
    assert!(
        md.contains("[Daniel of Galicia](https://en.wikipedia.org/wiki/"),
        "links"
    );
    assert!(
        md.contains("**Citizens from Central Asia now represent"),
        "bold lead"
    );
    assert!(
        md.contains('*') && md.contains("*From what I saw"),
        "italics"
    );
    for chrome in ["Faites un don", "follow us on", "appeared first on"] {
        assert!(!md.contains(chrome), "{chrome}");
    }
    // The same words as the text record, in the same order, once markup is gone.
    let mut text = normalize_entry(e).paragraphs;
    strip_boilerplate(&mut text);
    let body_start = md.find("\n\n\n\n").expect("header end") + 4;
    let body_end = md.rfind("\n\nOriginal url:").expect("footer");
    let targets = Regex::new(r"\]\([^)]*\)").expect("re");
    let md_words = words(&targets.replace_all(&md[body_start..body_end], "]"));
    assert_eq!(
        md_words,
        words(&text[1..].join(" ")),
        "title is not in the body"
    );
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Every seed entry's Markdown record, byte for byte, against the files under
/// `tests/fixtures/expected/markdown/` (written once from a reviewed render; set
/// `FEEDCORPUS_BLESS=1` to write them again after an intended change, and review the diff).
#[test]
fn rendering_matches_the_reviewed_records() {
    let dir = std::path::Path::new("tests/fixtures/expected/markdown");
    let bless = std::env::var_os("FEEDCORPUS_BLESS").is_some();
    let entries = seed_entries();
    assert_eq!(entries.len(), 7);
    for e in entries {
        let id = e.key.rsplit("?p=").next().expect("post id").to_string();
        let path = dir.join(format!("{id}.md"));
        let md = render(&e);
        if bless {
            fs::create_dir_all(dir).expect("mkdir");
            fs::write(&path, &md).expect("bless");
        }
        let want = fs::read_to_string(&path).expect("expected record");
        assert_eq!(md, want, "{}", path.display());
        assert_eq!(render(&e), md, "rendering is deterministic");
    }
}
