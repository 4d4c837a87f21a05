//! `feedcorpus opml import|export`: the feed list as OPML 2.0.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use feedcorpus::config::feedlist;
use feedcorpus::store::Store;

use super::common::Context;

#[derive(Subcommand)]
pub enum Action {
    /// Add the feeds of an OPML file (feeds already configured are skipped)
    Import { file: PathBuf },
    /// Print the configured feeds as OPML 2.0
    Export,
}

pub async fn run(cx: &Context, action: Action) -> anyhow::Result<()> {
    match action {
        Action::Import { file } => {
            let xml = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let feeds = feedlist::opml_feeds(&xml)?;
            let (config, skipped) = feedlist::add_feeds(&cx.path, &feeds)?;
            println!(
                "imported {} feeds from {} ({} already configured); {} feeds configured",
                feeds.len() - skipped.len(),
                file.display(),
                skipped.len(),
                config.feeds.len()
            );
            Ok(())
        }
        Action::Export => {
            let config = cx.load_config()?;
            let rows = match Store::open_existing(&config.storage.database).await {
                Ok(store) => store.site_urls().await?,
                Err(_) => Default::default(),
            };
            let xml = feedlist::opml_export(&config, &|name| rows.get(name).cloned())?;
            println!("{xml}");
            Ok(())
        }
    }
}
