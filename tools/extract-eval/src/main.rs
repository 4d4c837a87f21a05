//! feedcorpus's article extraction beside the Rust extractors that were candidates for it —
//! dom_smoothie (readability), trafilatura (a port of the Python library) and rs-trafilatura —
//! and any program given with `--external NAME=COMMAND` (e.g. Python's trafilatura), on the
//! page sets named on the command line, with the splits, scores and intervals of
//! `feedcorpus::pipeline::text::eval`.
//!
//! ```text
//! cargo run --release -- DIR... [--external NAME=COMMAND]... [--pages FILE.tsv] [--texts DIR]
//! ```

use std::path::PathBuf;

use feedcorpus::pipeline::text::eval::{self, Extractor};
use feedcorpus::pipeline::text::extract::extract_article;
use feedcorpus::pipeline::text::normalize::html_paragraphs;

fn feedcorpus_text(html: &str, page: &eval::Page) -> String {
    use feedcorpus::pipeline::text::boilerplate::strip_boilerplate;
    let Ok(article) = extract_article(html, None) else {
        return String::new();
    };
    let mut p = vec![page.title.clone().or(article.title).unwrap_or_default()];
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

fn trafilatura_text(html: &str, _page: &eval::Page) -> String {
    trafilatura::extract(html, &trafilatura::Options::default())
        .map(|r| html_paragraphs(&r.content_html).join("\n\n"))
        .unwrap_or_default()
}

fn rs_trafilatura_text(html: &str, _page: &eval::Page) -> String {
    match rs_trafilatura::extract_with_options(html, &rs_trafilatura::Options::default()) {
        Ok(r) => match r.content_html {
            Some(h) => html_paragraphs(&h).join("\n\n"),
            None => r.content_text,
        },
        Err(_) => String::new(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut externals: Vec<(String, String)> = Vec::new();
    let mut pages_out: Option<PathBuf> = None;
    let mut texts_out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--external" => {
                let spec = args.next().ok_or("--external needs NAME=COMMAND")?;
                let (name, cmd) = spec.split_once('=').ok_or("--external needs NAME=COMMAND")?;
                externals.push((name.to_string(), cmd.to_string()));
            }
            "--pages" => pages_out = Some(args.next().ok_or("--pages needs a file")?.into()),
            "--texts" => texts_out = Some(args.next().ok_or("--texts needs a folder")?.into()),
            _ => dirs.push(a.into()),
        }
    }
    if dirs.is_empty() {
        dirs.push("../../tests/fixtures/articles".into());
    }
    let mut sets = Vec::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        sets.push((name, eval::read_set(dir)?));
    }
    let mut extractors = vec![
        Extractor::new("feedcorpus", feedcorpus_text),
        Extractor::new("dom_smoothie 0.19", dom_smoothie_text),
        Extractor::new("trafilatura 0.6 (Rust)", trafilatura_text),
        Extractor::new("rs-trafilatura 0.2", rs_trafilatura_text),
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
