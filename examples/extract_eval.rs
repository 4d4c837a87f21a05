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
//! (the floor, no extraction), dom_smoothie's content as is, and feedcorpus (what records get).
//! `--external` adds a program in another process (see `Extractor::external`), e.g. Python's
//! trafilatura; `tools/extract-eval` adds the Rust alternatives. `--pages` writes one line per
//! page, `--texts` every text, `--show ID` prints one page's texts.

use feedcorpus::pipeline::text::eval::{self, Args, Extractor};
use feedcorpus::pipeline::text::normalize::html_paragraphs;

fn whole_page(html: &str, _page: &eval::Page) -> String {
    html_paragraphs(html).join("\n\n")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(std::env::args().skip(1), "tests/fixtures/articles")?;
    let extractors = vec![
        Extractor::new("whole page", whole_page),
        Extractor::new("dom_smoothie 0.19", eval::readability_text),
        Extractor::new("feedcorpus", eval::record_text),
    ];
    print!("{}", args.run(extractors)?);
    Ok(())
}
