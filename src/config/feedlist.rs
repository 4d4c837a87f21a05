//! Managing the feed list: the config file stays the one source of truth.
//!
//! Edits go through `toml_edit`, so comments, ordering and formatting the operator wrote survive;
//! every edited file is validated with the same rules as at start-up before it replaces the old
//! one (atomically), so a `feeds add` can never leave a config the daemon would refuse. OPML is
//! the interchange format other readers speak; feed autodiscovery follows the
//! `<link rel="alternate">` convention of web pages.

use std::collections::HashSet;
use std::path::Path;

use scraper::{Html, Selector};
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};
use url::Url;

use crate::config::{Config, ConfigError, default_name, parse_duration, parse_feed_url};
use crate::pipeline::parse::parse_feed;

#[derive(Debug, thiserror::Error)]
pub enum FeedListError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid TOML: {message}")]
    Toml { path: String, message: String },
    #[error("the edited config would be invalid: {0}")]
    Invalid(#[from] ConfigError),
    #[error("{0}")]
    Rejected(String),
    #[error("not OPML: {0}")]
    Opml(String),
}

/// A feed to add to the config.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFeed {
    pub url: Url,
    pub name: String,
    pub interval: Option<String>,
}

fn load_doc(path: &Path) -> Result<(String, DocumentMut), FeedListError> {
    let text = std::fs::read_to_string(path).map_err(|source| FeedListError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let doc = text
        .parse::<DocumentMut>()
        .map_err(|e| FeedListError::Toml {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    Ok((text, doc))
}

/// Validates and writes the edited document in place of the old file: a temp file with a unique
/// name in the same folder, with the old file's permissions, synced, then renamed over it, so a
/// crash leaves the old config or the new one, never half of one.
fn store_doc(path: &Path, doc: &DocumentMut) -> Result<Config, FeedListError> {
    use std::io::Write;
    let text = doc.to_string();
    let config = Config::parse(&text, path)?;
    let write_err = |source| FeedListError::Write {
        path: path.display().to_string(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".feedcorpus-config-")
        .tempfile_in(dir)
        .map_err(write_err)?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file()
            .set_permissions(meta.permissions())
            .map_err(write_err)?;
    }
    tmp.write_all(text.as_bytes()).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(config)
}

fn feeds_array(doc: &mut DocumentMut) -> Result<&mut ArrayOfTables, FeedListError> {
    if !doc.contains_key("feeds") {
        doc.insert("feeds", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    doc.get_mut("feeds")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| {
            FeedListError::Rejected("`feeds` in the config is not a [[feeds]] list".into())
        })
}

/// Appends feeds to the config. Feeds whose URL is already configured are skipped and named in
/// the result; a name already taken gets a numeric suffix.
pub fn add_feeds(path: &Path, feeds: &[NewFeed]) -> Result<(Config, Vec<String>), FeedListError> {
    let (text, mut doc) = load_doc(path)?;
    let current = Config::parse(&text, path)?;
    let mut urls: HashSet<String> = current.feeds.iter().map(|f| f.url.to_string()).collect();
    let mut names: HashSet<String> = current.feeds.iter().map(|f| f.name.clone()).collect();
    let mut skipped = Vec::new();
    let array = feeds_array(&mut doc)?;
    for f in feeds {
        if !urls.insert(f.url.to_string()) {
            skipped.push(f.url.to_string());
            continue;
        }
        if let Some(i) = &f.interval {
            parse_duration(i).map_err(FeedListError::Rejected)?;
        }
        let mut name = f.name.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{}-{n}", f.name);
            n += 1;
        }
        names.insert(name.clone());
        let mut t = Table::new();
        t.insert("url", value(f.url.as_str()));
        t.insert("name", value(name));
        if let Some(i) = &f.interval {
            t.insert("interval", value(i.as_str()));
        }
        array.push(t);
    }
    Ok((store_doc(path, &doc)?, skipped))
}

/// Removes the feed named `name` from the config.
pub fn remove_feed(path: &Path, name: &str) -> Result<Config, FeedListError> {
    let (_, mut doc) = load_doc(path)?;
    let array = feeds_array(&mut doc)?;
    let index = array
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
        .ok_or_else(|| FeedListError::Rejected(format!("no feed named {name:?} in the config")))?;
    array.remove(index);
    store_doc(path, &doc)
}

/// What a URL turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Discovery {
    /// The URL is a feed itself; its title, if any.
    Feed { title: Option<String> },
    /// A web page announcing these feeds (`<link rel="alternate">`), in page order.
    Page(Vec<Candidate>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub url: Url,
    pub title: Option<String>,
}

const FEED_TYPES: &[&str] = &[
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
];

/// Decides whether `body` (fetched from `base`) is a feed or a page that links to feeds.
pub fn discover(body: &[u8], content_type: Option<&str>, base: &Url) -> Discovery {
    if let Ok(feed) = parse_feed(body, content_type, base.as_str()) {
        return Discovery::Feed { title: feed.title };
    }
    let page = String::from_utf8_lossy(body);
    let html = Html::parse_document(&crate::pipeline::text::shallow::bound_depth(&page));
    let mut out = Vec::new();
    if let Ok(sel) = Selector::parse("link[rel][href]") {
        for link in html.select(&sel) {
            let el = link.value();
            let rel_alt = el.attr("rel").is_some_and(|r| {
                r.split_whitespace()
                    .any(|t| t.eq_ignore_ascii_case("alternate"))
            });
            let ty = el.attr("type").map(|t| t.trim().to_ascii_lowercase());
            if !rel_alt || !ty.as_deref().is_some_and(|t| FEED_TYPES.contains(&t)) {
                continue;
            }
            let Some(url) = el.attr("href").and_then(|h| base.join(h.trim()).ok()) else {
                continue;
            };
            if matches!(url.scheme(), "http" | "https")
                && !out.iter().any(|c: &Candidate| c.url == url)
            {
                out.push(Candidate {
                    url,
                    title: el.attr("title").map(str::to_string),
                });
            }
        }
    }
    Discovery::Page(out)
}

/// A feed name from a title or, failing that, the URL.
pub fn name_for(title: Option<&str>, url: &Url) -> String {
    let slug: String = title
        .map(|t| {
            let mut out = String::new();
            for c in t.chars() {
                if c.is_alphanumeric() {
                    out.extend(c.to_lowercase());
                } else if !out.ends_with('-') {
                    out.push('-');
                }
            }
            out.trim_matches('-').chars().take(60).collect()
        })
        .unwrap_or_default();
    if slug.is_empty() {
        default_name(url)
    } else {
        slug
    }
}

/// The feeds of an OPML document (nested outlines included).
pub fn opml_feeds(xml: &str) -> Result<Vec<NewFeed>, FeedListError> {
    let doc = opml::OPML::from_str(xml).map_err(|e| FeedListError::Opml(e.to_string()))?;
    let mut out = Vec::new();
    fn walk(outlines: &[opml::Outline], out: &mut Vec<NewFeed>) {
        for o in outlines {
            if let Some(url) = o.xml_url.as_deref().and_then(|u| parse_feed_url(u).ok()) {
                let title = o
                    .title
                    .as_deref()
                    .or(Some(o.text.as_str()))
                    .filter(|t| !t.trim().is_empty());
                out.push(NewFeed {
                    name: name_for(title, &url),
                    url,
                    interval: None,
                });
            }
            walk(&o.outlines, out);
        }
    }
    walk(&doc.body.outlines, &mut out);
    Ok(out)
}

/// The configured feeds as an OPML 2.0 document.
pub fn opml_export(
    config: &Config,
    site_urls: &dyn Fn(&str) -> Option<String>,
) -> Result<String, FeedListError> {
    let mut doc = opml::OPML {
        version: "2.0".into(),
        head: Some(opml::Head {
            title: Some("feedcorpus feeds".into()),
            ..opml::Head::default()
        }),
        ..opml::OPML::default()
    };
    for f in &config.feeds {
        doc.body.outlines.push(opml::Outline {
            text: f.name.clone(),
            title: Some(f.name.clone()),
            r#type: Some("rss".into()),
            xml_url: Some(f.url.to_string()),
            html_url: site_urls(&f.name),
            ..opml::Outline::default()
        });
    }
    doc.to_string()
        .map_err(|e| FeedListError::Opml(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "# top comment\n[storage]\ndatabase = \"db\"  # trailing\ncorpus_dir = \"c\"\n\n\
                          # the feeds\n[[feeds]]\nurl = \"https://a.example/feed\"\nname = \"a\"\n";

    #[test]
    fn add_and_remove_keep_comments_and_validate() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, CONFIG).expect("write");
        let url = Url::parse("https://b.example/feed").expect("url");
        let (config, skipped) = add_feeds(
            &path,
            &[
                NewFeed {
                    url: url.clone(),
                    name: "a".into(),
                    interval: Some("15m".into()),
                },
                NewFeed {
                    url: Url::parse("https://a.example/feed").expect("u"),
                    name: "x".into(),
                    interval: None,
                },
            ],
        )
        .expect("add");
        assert_eq!(skipped, ["https://a.example/feed"]);
        assert_eq!(config.feeds.len(), 2);
        assert_eq!(config.feeds[1].name, "a-2");
        let text = std::fs::read_to_string(&path).expect("read");
        for comment in ["# top comment", "# trailing", "# the feeds"] {
            assert!(text.contains(comment), "{comment} lost:\n{text}");
        }
        let config = remove_feed(&path, "a").expect("remove");
        assert_eq!(config.feeds.len(), 1);
        assert_eq!(config.feeds[0].url, url);
        assert!(remove_feed(&path, "nope").is_err());
        let bad = add_feeds(
            &path,
            &[NewFeed {
                url: Url::parse("https://c.example/feed").expect("url"),
                name: "z".into(),
                interval: Some("soon".into()),
            }],
        );
        assert!(bad.is_err());
    }

    #[test]
    fn discovery_finds_alternate_links() {
        let base = Url::parse("https://site.example/news/").expect("url");
        let page = br#"<html><head><title>x</title>
            <link rel="stylesheet" href="/s.css">
            <link rel="alternate" type="application/rss+xml" title="News" href="/feed/">
            <link rel="alternate" type="application/atom+xml" href="https://site.example/atom.xml">
            <link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
            </head><body>hi</body></html>"#;
        match discover(page, Some("text/html"), &base) {
            Discovery::Page(c) => {
                let urls: Vec<&str> = c.iter().map(|c| c.url.as_str()).collect();
                assert_eq!(
                    urls,
                    [
                        "https://site.example/feed/",
                        "https://site.example/atom.xml"
                    ]
                );
                assert_eq!(c[0].title.as_deref(), Some("News"));
            }
            other => panic!("expected a page, got {other:?}"),
        }
        let feed = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/novastan-war-in-ukraine.xml"
        ));
        assert_eq!(
            discover(feed, None, &base),
            Discovery::Feed {
                title: Some("War in Ukraine Archives".into())
            }
        );
    }

    #[test]
    fn opml_round_trip() {
        let path = Path::new("/x/c.toml");
        let mut text = String::from("[storage]\ndatabase = \"d\"\ncorpus_dir = \"c\"\n");
        for i in 0..5 {
            text.push_str(&format!(
                "[[feeds]]\nurl = \"https://e{i}.example/feed?x=1&y=2\"\nname = \"feed-{i}\"\n"
            ));
        }
        let config = Config::parse(&text, path).expect("config");
        let xml = opml_export(&config, &|_| None).expect("export");
        assert!(xml.contains("version=\"2.0\""), "{xml}");
        let back = opml_feeds(&xml).expect("import");
        let pairs: Vec<(String, String)> = back
            .iter()
            .map(|f| (f.name.clone(), f.url.to_string()))
            .collect();
        let want: Vec<(String, String)> = config
            .feeds
            .iter()
            .map(|f| (f.name.clone(), f.url.to_string()))
            .collect();
        assert_eq!(pairs, want);
        assert!(opml_feeds("<html/>").is_err());
    }
}
