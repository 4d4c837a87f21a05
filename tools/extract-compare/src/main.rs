//! Word-level precision / recall / F1 of three Rust article extractors on the pages in
//! `tests/fixtures/articles/`: raw; after the paragraph-level post-processing
//! `feedcorpus::pipeline::text::extract` applies (link-only lines and title lines dropped, then the boilerplate
//! rules); and with the page's named furniture removed first as well (the full pipeline).

use std::fs;

use feedcorpus::pipeline::text::boilerplate::strip_boilerplate;
use feedcorpus::pipeline::text::extract::remove_page_chrome;
use feedcorpus::pipeline::text::extract::score::word_prf;
use feedcorpus::pipeline::text::normalize::{LinkedParagraph, html_paragraphs_with_links, plain_paragraphs};

const DIR: &str = "../../tests/fixtures/articles";

fn key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn raw(ps: Vec<LinkedParagraph>, title: &str) -> Vec<String> {
    ps.into_iter()
        .map(|p| p.text)
        .filter(|p| key(p) != key(title))
        .collect()
}

fn post(ps: Vec<LinkedParagraph>, title: &str) -> Vec<String> {
    let mut out = vec![title.to_string()];
    out.extend(
        ps.into_iter()
            .filter(|p| p.link_density < 0.75)
            .map(|p| p.text)
            .filter(|p| key(p) != key(title)),
    );
    strip_boilerplate(&mut out);
    out.remove(0);
    out
}

fn dom_smoothie(html: &str) -> Vec<LinkedParagraph> {
    dom_smoothie::Readability::new(html, None, None)
        .and_then(|mut r| r.parse())
        .map(|a| html_paragraphs_with_links(&a.content))
        .unwrap_or_default()
}

fn trafilatura(html: &str) -> Vec<LinkedParagraph> {
    let opts = trafilatura::Options::default().with_links(true);
    trafilatura::extract(html, &opts)
        .map(|r| html_paragraphs_with_links(&r.content_html))
        .unwrap_or_default()
}

fn rs_trafilatura(html: &str) -> Vec<LinkedParagraph> {
    let opts = rs_trafilatura::Options {
        include_links: true,
        ..Default::default()
    };
    match rs_trafilatura::extract_with_options(html, &opts) {
        Ok(r) => match r.content_html {
            Some(h) => html_paragraphs_with_links(&h),
            None => plain_paragraphs(&r.content_text.replace('\n', "\n\n"))
                .into_iter()
                .map(|text| LinkedParagraph {
                    text,
                    link_density: 0.0,
                })
                .collect(),
        },
        Err(_) => Vec::new(),
    }
}

type Extractor = fn(&str) -> Vec<LinkedParagraph>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(format!("{DIR}/meta.json"))?)?;
    let pages = meta.as_object().ok_or("meta.json is not an object")?;
    let mut names: Vec<&String> = pages.keys().collect();
    names.sort();
    let extractors: [(&str, Extractor); 3] = [
        ("dom_smoothie 0.19", dom_smoothie),
        ("trafilatura 0.6", trafilatura),
        ("rs-trafilatura 0.2", rs_trafilatura),
    ];
    const V: usize = 3;
    println!(
        "| page | {} |",
        extractors
            .iter()
            .flat_map(|(n, _)| [
                format!("{n} raw"),
                format!("{n} + post"),
                format!("{n} + clean + post")
            ])
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---|".repeat(extractors.len() * V));
    let mut sums = vec![[0.0f64; 3]; extractors.len() * V];
    let mut mins = vec![1.0f64; extractors.len() * V];
    let mut times = vec![0.0f64; extractors.len()];
    for name in &names {
        let html = fs::read_to_string(format!("{DIR}/{name}.html"))?;
        let expected = fs::read_to_string(format!("{DIR}/{name}.txt"))?;
        let title = pages[name.as_str()]["title"].as_str().unwrap_or("");
        let mut row = Vec::new();
        for (i, (_, f)) in extractors.iter().enumerate() {
            let t = std::time::Instant::now();
            let ps = f(&html);
            times[i] += t.elapsed().as_secs_f64();
            let cleaned = f(&remove_page_chrome(&html));
            for (j, got) in [
                raw(ps.clone(), title),
                post(ps, title),
                post(cleaned, title),
            ]
            .into_iter()
            .enumerate()
            {
                let s = word_prf(&expected, &got.join("\n\n"));
                let k = i * V + j;
                sums[k][0] += s.precision;
                sums[k][1] += s.recall;
                sums[k][2] += s.f1;
                mins[k] = mins[k].min(s.f1);
                row.push(format!(
                    "{:.2} / {:.2} / {:.2}",
                    s.precision, s.recall, s.f1
                ));
            }
        }
        println!("| {name} | {} |", row.join(" | "));
    }
    let n = names.len() as f64;
    println!(
        "| **mean P / R / F1** | {} |",
        sums.iter()
            .map(|s| format!("**{:.3} / {:.3} / {:.3}**", s[0] / n, s[1] / n, s[2] / n))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!(
        "| min F1 | {} |",
        mins.iter()
            .map(|m| format!("{m:.3}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!(
        "\nms per page: {}",
        extractors
            .iter()
            .zip(&times)
            .map(|((n, _), t)| format!("{n} {:.1}", t * 1000.0 / n_f(names.len())))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn n_f(n: usize) -> f64 {
    n as f64
}
