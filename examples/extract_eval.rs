//! Extraction benchmark: word-level precision / recall / F1 of the article text extracted from
//! each page in `tests/fixtures/articles/` against its hand-checked `.txt`.
//!
//! `cargo run --example extract_eval [-- --show NAME]` prints one row per page and the means for:
//! the whole page normalized (no extraction, the floor), dom_smoothie's content as is,
//! [`extract_article`], and `extract_article` followed by the boilerplate rules (what records
//! get). `--show NAME` also prints the texts a method produced.

use std::fs;

use feedcorpus::pipeline::text::boilerplate::strip_boilerplate;
use feedcorpus::pipeline::text::extract::{extract_article, score::word_prf};
use feedcorpus::pipeline::text::normalize::html_paragraphs;

const DIR: &str = "tests/fixtures/articles";

type Method = fn(&str, &str) -> Vec<String>;

fn whole_page(html: &str, _title: &str) -> Vec<String> {
    html_paragraphs(html)
}

fn dom_smoothie_raw(html: &str, _title: &str) -> Vec<String> {
    dom_smoothie::Readability::new(html, None, None)
        .and_then(|mut r| r.parse())
        .map(|a| html_paragraphs(&a.content))
        .unwrap_or_default()
}

fn extracted(html: &str, _title: &str) -> Vec<String> {
    extract_article(html, None)
        .map(|a| a.paragraphs)
        .unwrap_or_default()
}

fn extracted_clean(html: &str, title: &str) -> Vec<String> {
    // The record's form: title first, then the body, then the boilerplate rules.
    let mut p = vec![title.to_string()];
    p.extend(extracted(html, title));
    strip_boilerplate(&mut p);
    p.remove(0);
    p
}

/// Titles are metadata, not body: a body line that only repeats it is not counted.
fn without_title(mut p: Vec<String>, title: &str) -> Vec<String> {
    let key = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let t = key(title);
    p.retain(|x| key(x) != t);
    p
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let show = std::env::args().skip_while(|a| a != "--show").nth(1);
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(format!("{DIR}/meta.json"))?)?;
    let pages = meta.as_object().ok_or("meta.json is not an object")?;
    let methods: [(&str, Method); 4] = [
        ("whole page", whole_page),
        ("dom_smoothie", dom_smoothie_raw),
        ("extract_article", extracted),
        ("+ boilerplate", extracted_clean),
    ];
    print!("{:<26}", "page");
    for (name, _) in &methods {
        print!(" | {name:^17}");
    }
    println!();
    let mut sums = [[0.0f64; 3]; 4];
    let mut mins = [1.0f64; 4];
    let mut names: Vec<&String> = pages.keys().collect();
    names.sort();
    for name in &names {
        let html = fs::read_to_string(format!("{DIR}/{name}.html"))?;
        let expected = fs::read_to_string(format!("{DIR}/{name}.txt"))?;
        let title = pages[name.as_str()]["title"].as_str().unwrap_or("");
        print!("{name:<26}");
        for (i, (mname, f)) in methods.iter().enumerate() {
            let got = without_title(f(&html, title), title).join("\n\n");
            if show.as_deref() == Some(name.as_str()) {
                eprintln!("==== {name} / {mname}\n{got}\n");
            }
            let s = word_prf(&expected, &got);
            sums[i][0] += s.precision;
            sums[i][1] += s.recall;
            sums[i][2] += s.f1;
            mins[i] = mins[i].min(s.f1);
            print!(" | {:.2} {:.2} {:.2}   ", s.precision, s.recall, s.f1);
        }
        println!();
    }
    let n = names.len() as f64;
    print!("{:<26}", "mean P R F1");
    for s in &sums {
        print!(" | {:.3} {:.3} {:.3}", s[0] / n, s[1] / n, s[2] / n);
    }
    println!();
    print!("{:<26}", "min F1");
    for m in &mins {
        print!(" | {m:>17.3}");
    }
    println!("\n{} pages", names.len());
    Ok(())
}
