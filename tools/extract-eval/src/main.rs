//! feedcorpus's article extraction beside the Rust extractors that were candidates for it —
//! dom_smoothie (readability), trafilatura (a port of the Python library) and rs-trafilatura —
//! and any program given with `--external NAME=COMMAND` (e.g. Python's trafilatura), on the
//! page sets named on the command line, with the splits, scores and intervals of
//! `feedcorpus::pipeline::text::eval`.
//!
//! ```text
//! cargo run --release -- DIR... [--external NAME=COMMAND]... [--pages FILE.tsv] [--texts DIR]
//!     [--show ID]
//! ```

use feedcorpus::pipeline::text::eval::{self, Args, Extractor};
use feedcorpus::pipeline::text::normalize::html_paragraphs;

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
    let args = Args::parse(std::env::args().skip(1), "../../tests/fixtures/articles")?;
    let extractors = vec![
        Extractor::new("feedcorpus", eval::record_text),
        Extractor::new("dom_smoothie 0.19", eval::readability_text),
        Extractor::new("trafilatura 0.6 (Rust)", trafilatura_text),
        Extractor::new("rs-trafilatura 0.2", rs_trafilatura_text),
    ];
    print!("{}", args.run(extractors)?);
    Ok(())
}
