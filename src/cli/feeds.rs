//! `feedcorpus feeds list|add|remove`: the feed list in the config file (comments are kept);
//! `add` finds the feeds a web page announces.

use clap::Subcommand;

use feedcorpus::config::feedlist::{self, Discovery, NewFeed};
use feedcorpus::config::{Config, Http, parse_feed_url};
use feedcorpus::pipeline::fetch::{Fetcher, is_internal};
use feedcorpus::store::Store;
use url::Url;

use super::common::Context;
use super::output;

#[derive(Subcommand)]
pub enum Action {
    /// Configured feeds with status, errors, entries, last fetch and next poll
    List,
    /// Add a feed; given a web page, find the feeds it announces
    Add {
        url: String,
        #[arg(long)]
        name: Option<String>,
        /// Poll interval, e.g. "15m"
        #[arg(long)]
        interval: Option<String>,
    },
    /// Remove the feed with this name (its stored entries stay)
    Remove { name: String },
}

pub async fn run(cx: &Context, action: Action) -> anyhow::Result<()> {
    match action {
        Action::List => {
            let config = cx.load_config()?;
            let rows = match Store::open_existing(&config.storage.database).await {
                Ok(store) => store.feed_rows().await?,
                Err(_) => Vec::new(),
            };
            print!("{}", output::feeds_table(&config, &rows));
            Ok(())
        }
        Action::Add {
            url,
            name,
            interval,
        } => add(cx, &cx.load_config()?, &url, name, interval).await,
        Action::Remove { name } => {
            feedlist::remove_feed(&cx.path, &name)?;
            println!(
                "removed {name} from {}; its stored entries stay",
                cx.path.display()
            );
            Ok(())
        }
    }
}

async fn add(
    cx: &Context,
    config: &Config,
    url: &str,
    name: Option<String>,
    interval: Option<String>,
) -> anyhow::Result<()> {
    let url = parse_feed_url(url).map_err(anyhow::Error::msg)?;
    let (feed_url, title) = discover(&url, &config.http).await?;
    let name = name.unwrap_or_else(|| feedlist::name_for(title.as_deref(), &feed_url));
    let new = NewFeed {
        url: feed_url,
        name,
        interval,
    };
    let (updated, skipped) = feedlist::add_feeds(&cx.path, std::slice::from_ref(&new))?;
    if !skipped.is_empty() {
        anyhow::bail!("{} is already configured", new.url);
    }
    let added = updated
        .feeds
        .last()
        .map(|f| f.name.clone())
        .unwrap_or_default();
    println!(
        "added {added} <{}> to {}; `systemctl reload feedcorpus` (or SIGHUP) applies it to a running daemon",
        new.url,
        cx.path.display()
    );
    Ok(())
}

/// The feed at `url`, or the one feed the page at `url` announces, with its title.
async fn discover(url: &Url, http: &Http) -> anyhow::Result<(Url, Option<String>)> {
    let fetched = Fetcher::new(http)?
        .get(url, None)
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    match feedlist::discover(
        &fetched.body,
        fetched.content_type.as_deref(),
        &fetched.final_url,
    ) {
        Discovery::Feed { title } => Ok((url.clone(), title)),
        Discovery::Page(candidates) => match candidates.as_slice() {
            [] => anyhow::bail!("{url} is neither a feed nor a page that links to one"),
            [one] => {
                refuse_internal_link(&one.url, &fetched.final_url, http)?;
                println!("found feed {} on {url}", one.url);
                Ok((one.url.clone(), one.title.clone()))
            }
            many => {
                println!(
                    "{url} announces {} feeds; add the one you want:",
                    many.len()
                );
                for c in many {
                    println!(
                        "  feedcorpus feeds add {}   {}",
                        c.url,
                        c.title.as_deref().unwrap_or("")
                    );
                }
                anyhow::bail!("several feeds found; none added");
            }
        },
    }
}

/// A page may announce a feed on its own host or on a public one, never on an internal address
/// the operator did not allow (autodiscovery must not steer the daemon inside the network).
fn refuse_internal_link(found: &Url, page: &Url, http: &Http) -> anyhow::Result<()> {
    let host = found.host_str().unwrap_or("").trim_matches(['[', ']']);
    let internal = host.parse::<std::net::IpAddr>().is_ok_and(is_internal);
    let same = page
        .host_str()
        .is_some_and(|h| h.trim_matches(['[', ']']).eq_ignore_ascii_case(host));
    let allowed = http
        .allow_internal_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host));
    if internal && !same && !allowed {
        anyhow::bail!(
            "{page} announces a feed at the internal address {found}; refused (add {host:?} to [http] allow_internal_hosts, or add that URL yourself)"
        );
    }
    Ok(())
}
