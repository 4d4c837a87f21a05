//! What several commands share: where the config is, the read-only store, `--since`/`--until`
//! bounds, logging, and the signals that stop or reload the daemon.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use feedcorpus::config::Config;
use feedcorpus::runtime::clock::{Clock, SystemClock};
use feedcorpus::store::Store;

use super::LogFormat;
use super::output;

/// The `--config` flag and the file it resolves to.
pub struct Context {
    /// The flag as given (`None`: the default locations).
    pub flag: Option<PathBuf>,
    /// The file the commands read and edit.
    pub path: PathBuf,
}

impl Context {
    pub fn new(flag: Option<PathBuf>) -> Context {
        let path = Config::locate(flag.as_deref());
        Context { flag, path }
    }

    pub fn load_config(&self) -> anyhow::Result<Config> {
        Ok(Config::load(&self.path)?)
    }

    /// The config and its existing database, for the read-only commands.
    pub async fn open_for_queries(&self) -> anyhow::Result<(Config, Store)> {
        let config = self.load_config()?;
        let store = Store::open_existing(&config.storage.database).await?;
        Ok((config, store))
    }

    /// The config given with `--config`, if any (inspect and extract work without one).
    pub fn explicit_config(&self) -> anyhow::Result<Option<Config>> {
        self.flag.as_deref().map(load).transpose()
    }
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}

pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// `--since` / `--until` words as RFC 3339 bounds.
pub fn bounds(
    since: Option<String>,
    until: Option<String>,
) -> anyhow::Result<(Option<String>, Option<String>)> {
    let bound = |v: Option<String>, end: bool| {
        v.map(|s| output::time_bound(&s, end))
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    Ok((bound(since, false)?, bound(until, true)?))
}

pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // journald stamps every line itself; a second timestamp is noise.
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let color = std::io::stderr().is_terminal();
    match (format, under_journald) {
        (LogFormat::Json, _) => builder.json().flatten_event(true).init(),
        (LogFormat::Text, true) => builder.without_time().with_ansi(false).init(),
        (LogFormat::Text, false) => builder.with_ansi(color).init(),
    }
}

/// Cancels the token on SIGTERM or SIGINT; a second signal exits at once.
pub fn shutdown_on_signals() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let t = token.clone();
    tokio::spawn(async move {
        for round in 0..2 {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            if round == 0 {
                tracing::info!(signal = name, "stopping: finishing stored work");
                t.cancel();
            } else {
                tracing::warn!(signal = name, "second signal: exiting now");
                std::process::exit(130);
            }
        }
    });
    Ok(token)
}

/// Re-reads the config on SIGHUP (`systemctl reload`). A config that fails validation is
/// logged and the running one kept.
pub fn reload_on_sighup(path: PathBuf) -> anyhow::Result<tokio::sync::mpsc::Receiver<Config>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match Config::load(&path) {
                Ok(config) => {
                    tracing::info!(config = %path.display(), "SIGHUP: reloading the config");
                    if tx.send(config).await.is_err() {
                        break;
                    }
                }
                Err(e) => tracing::error!(
                    config = %path.display(), error = %e,
                    "config reload failed; keeping the running one"
                ),
            }
        }
    });
    Ok(rx)
}
