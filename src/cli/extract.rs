//! `feedcorpus extract SOURCE`: the article text the extractor keeps from a web page.

use anyhow::Context as _;

use feedcorpus::config::{Http, parse_feed_url};
use feedcorpus::pipeline::fetch::Fetcher;
use feedcorpus::pipeline::parse::decode::decode_html;
use feedcorpus::pipeline::text::{extract, lang};

use super::common::Context;

#[derive(clap::Args)]
pub struct Args {
    source: String,
    /// {"title", "author", "published", "language", "text"}
    #[arg(long)]
    json: bool,
}

pub async fn run(cx: &Context, args: Args) -> anyhow::Result<()> {
    let http = cx
        .explicit_config()?
        .map(|c| c.http)
        .unwrap_or_else(Http::default);
    let source = &args.source;
    let (html, url) = read_page(source, &http).await?;
    let article = extract::extract_article(&html, url.as_deref())
        .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    let text = article.text();
    if args.json {
        let v = serde_json::json!({
            "title": article.title,
            "author": article.author,
            "published": article.published.map(|d| feedcorpus::model::entry::rfc3339_utc(&d)),
            "language": lang::detect_language(&text),
            "text": text,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        if let Some(t) = &article.title {
            println!("{t}\n");
        }
        println!("{text}");
    }
    Ok(())
}

/// The page's HTML and final URL: fetched like an operator's feed URL, or read from a file.
async fn read_page(source: &str, http: &Http) -> anyhow::Result<(String, Option<String>)> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let url = parse_feed_url(source).map_err(anyhow::Error::msg)?;
        let page = Fetcher::new(http)?
            .get(&url, None)
            .await
            .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        let final_url = page.final_url.to_string();
        let html = decode_html(&page.body, page.content_type.as_deref(), &final_url).text;
        Ok((html, Some(final_url)))
    } else {
        let bytes = std::fs::read(source).with_context(|| format!("cannot read {source}"))?;
        Ok((decode_html(&bytes, None, "").text, None))
    }
}
