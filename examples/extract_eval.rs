//! Extraction benchmark: word-level (or snippet-level) precision, recall and F1, with 95 %
//! bootstrap intervals, of the article text feedcorpus extracts from the pages of any set
//! directories (layouts in `feedcorpus::pipeline::text::eval`), on each set's development and
//! held-out splits.
//!
//! ```text
//! cargo run --release --example extract_eval -- [DIR...] [--external NAME=COMMAND]...
//!     [--pages FILE.tsv] [--texts DIR] [--show ID]
//! ```
//! Without a directory it reads `tests/fixtures/articles`. Methods: the whole page normalized
//! (the floor, no extraction), dom_smoothie's content as is, and feedcorpus (`extract_article`
//! and the boilerplate rules: what records get). `--external` adds a program in another
//! process (see `Extractor::external`), e.g. Python's trafilatura; `tools/extract-eval` adds the
//! Rust alternatives. `--pages` writes one line per page; `--show ID` prints the texts.

use std::path::PathBuf;

use feedcorpus::pipeline::text::boilerplate::strip_boilerplate;
use feedcorpus::pipeline::text::eval::{self, Extractor};
use feedcorpus::pipeline::text::extract::extract_article;
use feedcorpus::pipeline::text::normalize::html_paragraphs;

/// The record's text: the title first (so lines repeating it go), the body, the boilerplate
/// rules, and the title taken off again.
fn feedcorpus_text(html: &str, page: &eval::Page) -> String {
    let Ok(article) = extract_article(html, None) else {
        return String::new();
    };
    let title = page.title.clone().or(article.title).unwrap_or_default();
    let mut p = vec![title];
    p.extend(article.paragraphs);
    strip_boilerplate(&mut p);
    p.remove(0);
    p.join("\n\n")
}

fn dom_smoothie_text(html: &str, _page: &eval::Page) -> String {
    dom_smoothie::Readability::new(html, None, None)
        .and_then(|mut r| r.parse())
        .map(|a| html_paragraphs(&a.content).join("\n\n"))
        .unwrap_or_default()
}

fn whole_page(html: &str, _page: &eval::Page) -> String {
    html_paragraphs(html).join("\n\n")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut externals: Vec<(String, String)> = Vec::new();
    let mut pages_out: Option<PathBuf> = None;
    let mut texts_out: Option<PathBuf> = None;
    let mut show: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--external" => {
                let spec = args.next().ok_or("--external needs NAME=COMMAND")?;
                let (name, cmd) = spec
                    .split_once('=')
                    .ok_or("--external needs NAME=COMMAND")?;
                externals.push((name.to_string(), cmd.to_string()));
            }
            "--pages" => pages_out = Some(args.next().ok_or("--pages needs a file")?.into()),
            "--texts" => texts_out = Some(args.next().ok_or("--texts needs a folder")?.into()),
            "--show" => show = Some(args.next().ok_or("--show needs a page id")?),
            _ => dirs.push(a.into()),
        }
    }
    if dirs.is_empty() {
        dirs.push("tests/fixtures/articles".into());
    }
    let mut sets = Vec::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        sets.push((name, eval::read_set(dir)?));
    }
    let shown = show.clone();
    let showing = move |name: &'static str, f: fn(&str, &eval::Page) -> String| {
        let shown = shown.clone();
        Extractor::new(name, move |html, page| {
            let text = f(html, page);
            if shown.as_deref() == Some(page.id.as_str()) {
                eprintln!("==== {} / {name}\n{text}\n", page.id);
            }
            text
        })
    };
    let mut extractors = vec![
        showing("whole page", whole_page),
        showing("dom_smoothie 0.19", dom_smoothie_text),
        showing("feedcorpus", feedcorpus_text),
    ];
    for (name, cmd) in &externals {
        extractors.push(Extractor::external(name, cmd)?);
    }
    let names: Vec<String> = extractors.iter().map(|e| e.name.clone()).collect();
    let scored = eval::evaluate(&sets, &mut extractors)?;
    print!("{}", eval::report(&scored, &names));
    if let Some(path) = pages_out {
        std::fs::write(path, eval::per_page(&scored))?;
    }
    if let Some(dir) = texts_out {
        eval::write_texts(&scored, &dir)?;
    }
    Ok(())
}
