//! Measuring an article extractor on pages whose right answer is known.
//!
//! Extraction is tuned by eye on a handful of pages, so the only honest figure is one taken on
//! pages it was not tuned on. This module reads page sets in the layouts public benchmarks use,
//! scores any extractor on them, splits every set into a development part and a held-out part
//! by a hash of the page's name (the same split on every machine, with no list to keep), and
//! gives each mean a bootstrap interval so that two extractors are only called different when
//! the pages say so. `examples/extract_eval.rs` and `tools/extract-eval` drive it; the pipeline
//! never calls it. It reads files and nothing else.
//!
//! Page layouts in a set directory (all may be mixed):
//! - `ID.html` with `ID.txt`: the expected article text, paragraphs apart by blank lines;
//! - `ID/source.html` with `ID/expected.html` or `ID/expected.txt` (Mozilla Readability's test
//!   pages); expected HTML is turned into paragraphs the way feed HTML is;
//! - `ID.html` with `ID.snippets.json`, `{"with": [...], "without": [...]}`: passages the text
//!   must and must not contain (trafilatura's evaluation style).
//!
//! An optional `meta.json` (`{"ID": {"title": "…"}}`) gives page titles.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use super::extract::score::{Prf, word_prf};
use super::normalize::html_paragraphs;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a snippets file ({reason})")]
    Snippets { path: PathBuf, reason: String },
    #[error("{0}: no pages in a known layout")]
    Empty(PathBuf),
}

/// What a page's extracted text is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// The whole expected text: word-level precision and recall.
    Text(String),
    /// Passages that must (`with`) and must not (`without`) appear.
    Snippets {
        with: Vec<String>,
        without: Vec<String>,
    },
}

/// One page of a set.
#[derive(Debug, Clone)]
pub struct Page {
    pub id: String,
    pub html: PathBuf,
    pub title: Option<String>,
    pub expected: Expected,
}

impl Page {
    /// The page's bytes as text: UTF-8, else the charset its markup declares, else a guess.
    pub fn read_html(&self) -> Result<String, EvalError> {
        let bytes = std::fs::read(&self.html).map_err(|source| EvalError::Io {
            path: self.html.clone(),
            source,
        })?;
        Ok(crate::pipeline::parse::decode::decode_html(&bytes, None, "").text)
    }
}

/// Which part of a set a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Pages one may look at while changing the extractor.
    Dev,
    /// Pages kept aside: scored, never studied.
    HeldOut,
}

/// Share of each set held out, in 256ths of SHA-256's first byte (102/256 ≈ 40 %).
const HELD_OUT_BELOW: u8 = 102;

/// The split a page is in: fixed by the SHA-256 of `set/id`, so it never moves between runs or
/// machines and needs no list.
pub fn split_of(set: &str, id: &str) -> Split {
    let digest = Sha256::digest(format!("{set}/{id}").as_bytes());
    if digest.first().is_some_and(|b| *b < HELD_OUT_BELOW) {
        Split::HeldOut
    } else {
        Split::Dev
    }
}

fn read_text(path: &Path) -> Result<String, EvalError> {
    let bytes = std::fs::read(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn read_snippets(path: &Path) -> Result<Expected, EvalError> {
    let bad = |reason: String| EvalError::Snippets {
        path: path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(&read_text(path)?).map_err(|e| bad(e.to_string()))?;
    let list = |key: &str| -> Result<Vec<String>, EvalError> {
        match value.get(key) {
            None => Ok(Vec::new()),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("`{key}` holds a non-string")))
                })
                .collect(),
            Some(_) => Err(bad(format!("`{key}` is not a list"))),
        }
    };
    Ok(Expected::Snippets {
        with: list("with")?,
        without: list("without")?,
    })
}

/// Reads the pages of one set directory, sorted by id.
pub fn read_set(dir: &Path) -> Result<Vec<Page>, EvalError> {
    let io = |source| EvalError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let titles: serde_json::Value = std::fs::read_to_string(dir.join("meta.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    let title = |id: &str| {
        titles
            .get(id)
            .and_then(|m| m.get("title"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
    };
    let mut pages = Vec::new();
    for item in std::fs::read_dir(dir).map_err(io)? {
        let path = item.map_err(io)?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() {
            let source = path.join("source.html");
            let expected = if path.join("expected.txt").is_file() {
                Some(Expected::Text(read_text(&path.join("expected.txt"))?))
            } else if path.join("expected.html").is_file() {
                let html = read_text(&path.join("expected.html"))?;
                Some(Expected::Text(html_paragraphs(&html).join("\n\n")))
            } else {
                None
            };
            if let (true, Some(expected)) = (source.is_file(), expected) {
                pages.push(Page {
                    title: title(&name),
                    id: name,
                    html: source,
                    expected,
                });
            }
            continue;
        }
        let Some(id) = name.strip_suffix(".html") else {
            continue;
        };
        let txt = dir.join(format!("{id}.txt"));
        let snippets = dir.join(format!("{id}.snippets.json"));
        let expected = if txt.is_file() {
            Expected::Text(read_text(&txt)?)
        } else if snippets.is_file() {
            read_snippets(&snippets)?
        } else {
            continue;
        };
        pages.push(Page {
            title: title(id),
            id: id.to_string(),
            html: path.clone(),
            expected,
        });
    }
    if pages.is_empty() {
        return Err(EvalError::Empty(dir.to_path_buf()));
    }
    pages.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(pages)
}

/// Snippet counts of one page: passages found that should be there (true positives), missed
/// (false negatives), found that should not be (false positives).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SnippetCounts {
    pub found: usize,
    pub missed: usize,
    pub unwanted: usize,
    pub avoided: usize,
}

/// Whitespace collapsed and soft hyphens dropped: how a passage is looked for in a text.
fn comparable(s: &str) -> String {
    s.split_whitespace()
        .map(|w| w.replace('\u{AD}', ""))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn snippet_counts(with: &[String], without: &[String], got: &str) -> SnippetCounts {
    let text = comparable(got);
    let has = |s: &String| {
        let s = comparable(s);
        !s.is_empty() && text.contains(&s)
    };
    let found = with.iter().filter(|s| has(s)).count();
    let unwanted = without.iter().filter(|s| has(s)).count();
    SnippetCounts {
        found,
        missed: with.len() - found,
        unwanted,
        avoided: without.len() - unwanted,
    }
}

/// One page's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Words(Prf),
    Snippets(SnippetCounts),
}

/// Scores an extracted text against what was expected.
pub fn score(expected: &Expected, got: &str) -> Outcome {
    match expected {
        Expected::Text(want) => Outcome::Words(word_prf(want, got)),
        Expected::Snippets { with, without } => {
            Outcome::Snippets(snippet_counts(with, without, got))
        }
    }
}

/// Precision, recall and F1 of a group of pages, each with a 95 % bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub pages: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub f1_interval: (f64, f64),
}

fn f1_of(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Word-level pages: the mean of per-page precision, recall and F1 (every page counts the
/// same, as in the public benchmarks). Snippet pages: precision and recall over all passages
/// of the group (found / (found + unwanted), found / (found + missed)).
fn aggregate(outcomes: &[Outcome]) -> (f64, f64, f64) {
    let words: Vec<&Prf> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Words(p) => Some(p),
            Outcome::Snippets(_) => None,
        })
        .collect();
    if !words.is_empty() {
        let n = words.len() as f64;
        let mean = |f: fn(&Prf) -> f64| words.iter().map(|p| f(p)).sum::<f64>() / n;
        return (mean(|p| p.precision), mean(|p| p.recall), mean(|p| p.f1));
    }
    let mut total = SnippetCounts::default();
    for o in outcomes {
        if let Outcome::Snippets(c) = o {
            total.found += c.found;
            total.missed += c.missed;
            total.unwanted += c.unwanted;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let p = ratio(total.found, total.found + total.unwanted);
    let r = ratio(total.found, total.found + total.missed);
    (p, r, f1_of(p, r))
}

/// Bootstrap resamples for the interval.
const RESAMPLES: usize = 2000;

/// Summarises a group of outcomes (one kind per group) with a 95 % percentile-bootstrap
/// interval of F1 over pages, from a fixed seed (the same interval on every run).
pub fn summarize(outcomes: &[Outcome]) -> Summary {
    let (precision, recall, f1) = aggregate(outcomes);
    let n = outcomes.len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut f1s: Vec<f64> = Vec::with_capacity(RESAMPLES);
    if n > 0 {
        let mut sample = Vec::with_capacity(n);
        for _ in 0..RESAMPLES {
            sample.clear();
            for _ in 0..n {
                if let Some(o) = outcomes.get(rng.random_range(0..n)) {
                    sample.push(*o);
                }
            }
            f1s.push(aggregate(&sample).2);
        }
    }
    f1s.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((f1s.len() as f64 - 1.0) * q).round() as usize;
        f1s.get(i).copied().unwrap_or(f1)
    };
    Summary {
        pages: n,
        precision,
        recall,
        f1,
        f1_interval: (at(0.025), at(0.975)),
    }
}

/// An extractor under test: page HTML (and the page) → its text, and the time it took when it
/// measures that itself (an external process that has its start-up to hide).
pub struct Extractor<'a> {
    pub name: String,
    #[allow(clippy::type_complexity)]
    pub run: Box<dyn FnMut(&Page, &str) -> Result<(String, Option<f64>), String> + 'a>,
}

impl<'a> Extractor<'a> {
    /// An in-process extractor, timed by the harness.
    pub fn new(name: &str, mut f: impl FnMut(&str, &Page) -> String + 'a) -> Extractor<'a> {
        Extractor {
            name: name.to_string(),
            run: Box::new(move |page, html| Ok((f(html, page), None))),
        }
    }

    /// An extractor in another process, started once with `sh -c command`: it reads one page
    /// path per line on stdin and answers each with one JSON line `{"text": "…", "seconds":
    /// 0.01}` on stdout (`seconds` optional: the time of that page alone).
    pub fn external(name: &str, command: &str) -> Result<Extractor<'a>, EvalError> {
        use std::io::{BufRead, BufReader, Write};
        use std::process::{Command, Stdio};
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|source| EvalError::Io {
                path: PathBuf::from(command),
                source,
            })?;
        let mut stdin = child.stdin.take();
        let mut stdout = child.stdout.take().map(BufReader::new);
        Ok(Extractor {
            name: name.to_string(),
            run: Box::new(move |page, _html| {
                let _keep = &child;
                let (Some(input), Some(output)) = (stdin.as_mut(), stdout.as_mut()) else {
                    return Err("the extractor process has no pipes".into());
                };
                writeln!(input, "{}", page.html.display()).map_err(|e| e.to_string())?;
                input.flush().map_err(|e| e.to_string())?;
                let mut line = String::new();
                output.read_line(&mut line).map_err(|e| e.to_string())?;
                let v: serde_json::Value =
                    serde_json::from_str(&line).map_err(|e| format!("bad answer: {e}"))?;
                let text = v
                    .get("text")
                    .and_then(|t| t.as_str())
                    .unwrap_or("")
                    .to_string();
                Ok((text, v.get("seconds").and_then(|s| s.as_f64())))
            }),
        })
    }
}

/// One scored page.
#[derive(Debug, Clone)]
pub struct Scored {
    pub set: String,
    pub id: String,
    pub split: Split,
    pub extractor: String,
    pub outcome: Outcome,
    pub seconds: f64,
    /// The extracted text.
    pub text: String,
}

/// Runs every extractor on every page of the sets (name, pages).
pub fn evaluate(
    sets: &[(String, Vec<Page>)],
    extractors: &mut [Extractor<'_>],
) -> Result<Vec<Scored>, EvalError> {
    let mut out = Vec::new();
    for (set, pages) in sets {
        for page in pages {
            let html = page.read_html()?;
            for ex in extractors.iter_mut() {
                let start = std::time::Instant::now();
                let (text, own) = (ex.run)(page, &html).unwrap_or_else(|e| {
                    tracing::warn!(page = %page.id, extractor = %ex.name, error = %e, "extractor failed");
                    (String::new(), None)
                });
                let seconds = own.unwrap_or_else(|| start.elapsed().as_secs_f64());
                out.push(Scored {
                    set: set.clone(),
                    id: page.id.clone(),
                    split: split_of(set, &page.id),
                    extractor: ex.name.clone(),
                    outcome: score(&page.expected, &text),
                    seconds,
                    text,
                });
            }
        }
    }
    Ok(out)
}

/// The figures as a Markdown table: per set and split, each extractor's P, R, F1 with its 95 %
/// interval, and milliseconds per page. Word-level and snippet sets are never pooled.
pub fn report(scored: &[Scored], extractors: &[String]) -> String {
    let mut sets: Vec<&str> = Vec::new();
    for s in scored {
        if !sets.contains(&s.set.as_str()) {
            sets.push(&s.set);
        }
    }
    let mut md = String::from(
        "| set | split | pages | extractor | precision | recall | F1 [95 % interval] | ms/page |\n\
         | --- | --- | ---: | --- | ---: | ---: | ---: | ---: |\n",
    );
    for set in sets {
        for (split_name, split) in [
            ("dev", Some(Split::Dev)),
            ("held-out", Some(Split::HeldOut)),
            ("all", None),
        ] {
            for ex in extractors {
                let group: Vec<&Scored> = scored
                    .iter()
                    .filter(|s| s.set == set && &s.extractor == ex)
                    .filter(|s| split.is_none_or(|sp| s.split == sp))
                    .collect();
                if group.is_empty() {
                    continue;
                }
                let outcomes: Vec<Outcome> = group.iter().map(|s| s.outcome).collect();
                let sum = summarize(&outcomes);
                let ms = group.iter().map(|s| s.seconds).sum::<f64>() * 1000.0 / group.len() as f64;
                md.push_str(&format!(
                    "| {set} | {split_name} | {} | {ex} | {:.3} | {:.3} | {:.3} [{:.3}–{:.3}] | {ms:.1} |\n",
                    sum.pages, sum.precision, sum.recall, sum.f1, sum.f1_interval.0, sum.f1_interval.1
                ));
            }
        }
    }
    md
}

/// Writes each extracted text to `dir/EXTRACTOR/SET/ID.txt`, for reading what a method kept.
pub fn write_texts(scored: &[Scored], dir: &Path) -> Result<(), EvalError> {
    for s in scored {
        let folder = dir.join(s.extractor.replace(['/', ' '], "_")).join(&s.set);
        let io = |source| EvalError::Io {
            path: folder.clone(),
            source,
        };
        std::fs::create_dir_all(&folder).map_err(io)?;
        std::fs::write(folder.join(format!("{}.txt", s.id)), &s.text).map_err(io)?;
    }
    Ok(())
}

/// One line per page and extractor, tab-separated, for studying the dev pages.
pub fn per_page(scored: &[Scored]) -> String {
    let mut out = String::from("set\tid\tsplit\textractor\tprecision\trecall\tf1\tms\n");
    for s in scored {
        let (p, r, f) = aggregate(&[s.outcome]);
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{p:.3}\t{r:.3}\t{f:.3}\t{:.1}\n",
            s.set,
            s.id,
            if s.split == Split::Dev {
                "dev"
            } else {
                "held-out"
            },
            s.extractor,
            s.seconds * 1000.0
        ));
    }
    out
}

/// A harness's command line: set folders, external extractors and what to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    pub dirs: Vec<PathBuf>,
    /// `--external NAME=COMMAND`, in order.
    pub externals: Vec<(String, String)>,
    /// `--pages FILE`: one line per page and extractor.
    pub pages: Option<PathBuf>,
    /// `--texts DIR`: every extracted text.
    pub texts: Option<PathBuf>,
    /// `--show ID`: print that page's texts.
    pub show: Option<String>,
}

impl Args {
    /// Reads `DIR... [--external NAME=COMMAND]... [--pages FILE] [--texts DIR] [--show ID]`;
    /// `default_dir` when no folder is named.
    pub fn parse(
        mut args: impl Iterator<Item = String>,
        default_dir: &str,
    ) -> Result<Args, String> {
        let mut out = Args::default();
        let value = |args: &mut dyn Iterator<Item = String>, flag: &str, what: &str| {
            args.next().ok_or(format!("{flag} needs {what}"))
        };
        while let Some(a) = args.next() {
            match a.as_str() {
                "--external" => {
                    let spec = value(&mut args, "--external", "NAME=COMMAND")?;
                    let (name, cmd) = spec
                        .split_once('=')
                        .ok_or("--external needs NAME=COMMAND")?;
                    out.externals.push((name.to_string(), cmd.to_string()));
                }
                "--pages" => out.pages = Some(value(&mut args, "--pages", "a file")?.into()),
                "--texts" => out.texts = Some(value(&mut args, "--texts", "a folder")?.into()),
                "--show" => out.show = Some(value(&mut args, "--show", "a page id")?),
                _ => out.dirs.push(a.into()),
            }
        }
        if out.dirs.is_empty() {
            out.dirs.push(default_dir.into());
        }
        Ok(out)
    }

    /// Reads the sets, runs `extractors` and the external ones on them, writes what was asked
    /// for, and returns the report.
    pub fn run(&self, mut extractors: Vec<Extractor<'_>>) -> Result<String, EvalError> {
        let mut sets = Vec::new();
        for dir in &self.dirs {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string());
            sets.push((name, read_set(dir)?));
        }
        for (name, cmd) in &self.externals {
            extractors.push(Extractor::external(name, cmd)?);
        }
        let names: Vec<String> = extractors.iter().map(|e| e.name.clone()).collect();
        let scored = evaluate(&sets, &mut extractors)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EvalError::Io { path, source }
        };
        if let Some(path) = &self.pages {
            std::fs::write(path, per_page(&scored)).map_err(io(path))?;
        }
        if let Some(dir) = &self.texts {
            write_texts(&scored, dir)?;
        }
        let mut out = report(&scored, &names);
        for s in scored
            .iter()
            .filter(|s| self.show.as_deref() == Some(s.id.as_str()))
        {
            out.push_str(&format!("\n==== {} / {}\n{}\n", s.id, s.extractor, s.text));
        }
        Ok(out)
    }
}

/// What records get from a page: [`extract_article`](super::extract::extract_article) and the
/// boilerplate rules (the title first, so lines repeating it go, then taken off again).
pub fn record_text(html: &str, page: &Page) -> String {
    let Ok(article) = super::extract::extract_article(html, None) else {
        return String::new();
    };
    let mut p = vec![page.title.clone().or(article.title).unwrap_or_default()];
    p.extend(article.paragraphs);
    super::boilerplate::strip_boilerplate(&mut p);
    p.remove(0);
    p.join("\n\n")
}

/// dom_smoothie's content as it is, in paragraphs: readability without what feedcorpus adds.
pub fn readability_text(html: &str, _page: &Page) -> String {
    dom_smoothie::Readability::new(html, None, None)
        .and_then(|mut r| r.parse())
        .map(|a| html_paragraphs(&a.content).join("\n\n"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stable_and_about_forty_percent() {
        assert_eq!(split_of("set", "page-1"), split_of("set", "page-1"));
        let held = (0..1000)
            .filter(|i| split_of("s", &format!("p{i}")) == Split::HeldOut)
            .count();
        assert!((350..450).contains(&held), "{held}");
    }

    #[test]
    fn snippets_are_matched_across_whitespace_and_soft_hyphens() {
        let with = vec![
            "Grenz\u{AD}wert der  Richtlinie".to_string(),
            "fehlt".to_string(),
        ];
        let without = vec!["Rund ums Fahrzeug".to_string()];
        let c = snippet_counts(
            &with,
            &without,
            "Der Grenzwert der\nRichtlinie. Rund ums Fahrzeug",
        );
        assert_eq!(
            c,
            SnippetCounts {
                found: 1,
                missed: 1,
                unwanted: 1,
                avoided: 0
            }
        );
    }

    #[test]
    fn summaries_pool_snippets_and_average_words() {
        let words = [
            Outcome::Words(word_prf("a b c d", "a b c d")),
            Outcome::Words(word_prf("a b c d", "a b")),
        ];
        let s = summarize(&words);
        assert_eq!((s.precision, s.recall), (1.0, 0.75));
        assert!((s.f1 - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-9);
        assert!(s.f1_interval.0 <= s.f1 && s.f1 <= s.f1_interval.1);
        assert!(
            s.f1_interval.0 < s.f1_interval.1,
            "two different pages vary"
        );
        let snippets = [
            Outcome::Snippets(SnippetCounts {
                found: 3,
                missed: 1,
                unwanted: 1,
                avoided: 2,
            }),
            Outcome::Snippets(SnippetCounts {
                found: 1,
                missed: 1,
                unwanted: 0,
                avoided: 1,
            }),
        ];
        let s = summarize(&snippets);
        assert_eq!((s.precision, s.recall), (0.8, 4.0 / 6.0));
    }

    #[test]
    fn every_layout_is_read() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        std::fs::write(d.join("a.html"), "<p>A</p>")?;
        std::fs::write(d.join("a.txt"), "A")?;
        std::fs::write(d.join("b.html"), "<p>B</p>")?;
        std::fs::write(
            d.join("b.snippets.json"),
            r#"{"with": ["B"], "without": ["X"]}"#,
        )?;
        std::fs::write(d.join("orphan.html"), "<p>no answer</p>")?;
        std::fs::create_dir(d.join("c"))?;
        std::fs::write(d.join("c/source.html"), "<p>C</p>")?;
        std::fs::write(d.join("c/expected.html"), "<div><p>One</p><p>Two</p></div>")?;
        std::fs::write(d.join("meta.json"), r#"{"a": {"title": "Title A"}}"#)?;
        let pages = read_set(d)?;
        let ids: Vec<&str> = pages.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(pages[0].title.as_deref(), Some("Title A"));
        assert_eq!(pages[0].expected, Expected::Text("A".into()));
        assert_eq!(
            pages[1].expected,
            Expected::Snippets {
                with: vec!["B".into()],
                without: vec!["X".into()]
            }
        );
        assert_eq!(pages[2].expected, Expected::Text("One\n\nTwo".into()));
        std::fs::write(d.join("b.snippets.json"), r#"{"with": "B"}"#)?;
        assert!(matches!(read_set(d), Err(EvalError::Snippets { .. })));
        assert!(matches!(read_set(&d.join("c")), Err(EvalError::Empty(_))));
        Ok(())
    }

    #[test]
    fn arguments_are_read() {
        let args = |v: &[&str]| Args::parse(v.iter().map(|s| s.to_string()), "default");
        let a = args(&[
            "a",
            "--external",
            "py=python3 x.py",
            "b",
            "--pages",
            "p.tsv",
            "--show",
            "id",
        ])
        .expect("valid");
        assert_eq!(a.dirs, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(
            a.externals,
            [("py".to_string(), "python3 x.py".to_string())]
        );
        assert_eq!((a.pages, a.show), (Some("p.tsv".into()), Some("id".into())));
        assert_eq!(args(&[]).expect("valid").dirs, [PathBuf::from("default")]);
        assert!(args(&["--external", "no-equals"]).is_err());
        assert!(args(&["--pages"]).is_err());
    }
}
