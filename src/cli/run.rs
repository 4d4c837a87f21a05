//! `feedcorpus run`: the daemon. Signal handlers first, then the engine, the optional metrics
//! listener, and the scheduler until SIGTERM/SIGINT; SIGHUP reloads the config.

use std::sync::Arc;

use feedcorpus::runtime::engine::Engine;
use feedcorpus::runtime::metrics::{Metrics, ReportPage};
use feedcorpus::schedule::daemon::run_daemon;
use feedcorpus::store::Store;

use super::common::{Context, reload_on_sighup, shutdown_on_signals, system_clock};

pub async fn run(cx: &Context) -> anyhow::Result<()> {
    let config = cx.load_config()?;
    tracing::info!(config = %cx.path.display(), feeds = config.feeds.len(), "starting");
    // Handlers first: a signal during start-up must not kill the process.
    let shutdown = shutdown_on_signals()?;
    let reloads = reload_on_sighup(cx.path.clone())?;
    let metrics = config
        .metrics_listen
        .map(|addr| (addr, Arc::new(Metrics::new())));
    let mut engine = Engine::open(config).await?;
    if let Some((addr, m)) = &metrics {
        // The page at `/` reads through its own read-only connection: a slow report never
        // holds a connection the fetches or the writer need.
        let page = match Store::open_existing(&engine.config.storage.database).await {
            Ok(store) => Some(ReportPage {
                store,
                corpus_dir: engine.config.storage.corpus_dir.clone(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "the report page at / is off");
                None
            }
        };
        let (addr, m, token) = (*addr, Arc::clone(m), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = feedcorpus::runtime::metrics::serve(addr, m, page, token).await {
                tracing::error!(listen = %addr, error = %e, "cannot serve metrics");
            }
        });
    }
    run_daemon(
        &mut engine,
        shutdown,
        system_clock(),
        reloads,
        metrics.map(|(_, m)| m),
    )
    .await?;
    engine.close().await;
    Ok(())
}
