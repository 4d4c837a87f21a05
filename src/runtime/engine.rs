//! The composition root: opens the lock, the database (migrated, feed list synced) and the
//! fetcher that every command needs, and makes the writer. Holds no policy of its own.

use std::sync::Arc;

use crate::config::Config;
use crate::ingest::notes::NoteLog;
use crate::ingest::writer::Writer;
use crate::model::feed::FeedJob;
use crate::pipeline::fetch::Fetcher;
use crate::runtime::clock::Clock;
use crate::runtime::lock::InstanceLock;
use crate::store::{FeedSpec, Refingerprint, Store, StoreError};

/// Opens everything a poll needs: lock, database (migrated, feed list synced), fetcher.
pub struct Engine {
    pub config: Config,
    pub store: Store,
    pub fetcher: Fetcher,
    pub feeds: Vec<FeedJob>,
    /// What the fetch tasks logged already (a capped wait once per feed).
    pub notes: Arc<NoteLog>,
    /// On SQLite one process owns the file (instance lock) and the corpus folder. Instances
    /// sharing PostgreSQL share the folder (record numbers come from the database).
    _lock: Option<InstanceLock>,
    _corpus_lock: crate::corpus::CorpusLock,
}

impl Engine {
    pub async fn open(config: Config) -> anyhow::Result<Engine> {
        let dir = &config.storage.corpus_dir;
        let (lock, corpus_lock) = match config.storage.database.sqlite_path() {
            Some(path) => (
                Some(InstanceLock::acquire(path)?),
                crate::corpus::CorpusLock::acquire(dir)?,
            ),
            None => (None, crate::corpus::CorpusLock::acquire_shared(dir)?),
        };
        // The HTTP client (it reads the system's CA certificates) is built on another thread
        // while the database opens.
        let http = config.http.clone();
        let fetcher = tokio::task::spawn_blocking(move || Fetcher::new(&http));
        let store =
            Store::open_instance(&config.storage.database, dir, config.storage.lease).await?;
        refresh_fingerprints(&store).await?;
        let feeds = sync_feeds(&store, &config).await?;
        let fetcher = fetcher
            .await
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))??;
        Ok(Engine {
            config,
            store,
            fetcher,
            feeds,
            notes: Arc::new(NoteLog::default()),
            _lock: lock,
            _corpus_lock: corpus_lock,
        })
    }

    /// Makes a new config the running one: the feed list is synced to the database and the
    /// HTTP client rebuilt when its settings changed. Storage paths need a restart.
    pub async fn reload(&mut self, config: Config) -> anyhow::Result<()> {
        if config.storage != self.config.storage {
            tracing::warn!("[storage] changed; it takes effect at the next restart");
        }
        let feeds = sync_feeds(&self.store, &config).await?;
        if config.http != self.config.http {
            self.fetcher = Fetcher::new(&config.http)?;
        }
        let storage = self.config.storage.clone();
        self.config = config;
        self.config.storage = storage;
        self.feeds = feeds;
        Ok(())
    }

    /// Ends this process's part: on a shared database its claims go back at once (else they
    /// would wait out their lease), then the connections close.
    pub async fn close(&self) {
        if let Err(e) = self.store.leave().await {
            tracing::warn!(error = %e, "cannot hand this instance's claims back; they expire with their lease");
        }
        self.store.close().await;
    }

    pub fn writer(&self, clock: Arc<dyn Clock>) -> Writer {
        Writer::new(
            self.store.clone(),
            self.config.storage.corpus_dir.clone(),
            clock,
        )
        .with_corpus_settings(self.config.corpus.clone())
    }
}

/// Fingerprints stored by an earlier version, in another format, are computed again: new ones
/// would never match them.
async fn refresh_fingerprints(store: &Store) -> Result<(), StoreError> {
    use crate::pipeline::text::neardup;
    let done = store
        .refresh_fingerprints(&Refingerprint {
            bytes: neardup::FINGERPRINT_BYTES,
            version: neardup::FORMAT_VERSION,
            compute: &neardup::stored_form,
            bands: &neardup::stored_band_ids,
        })
        .await?;
    if done > 0 {
        tracing::info!(
            entries = done,
            "near-duplicate fingerprints of an earlier format computed again"
        );
    }
    Ok(())
}

/// Registers the config's feeds in the database and pairs each with its row id.
async fn sync_feeds(store: &Store, config: &Config) -> Result<Vec<FeedJob>, StoreError> {
    let specs: Vec<FeedSpec<'_>> = config
        .feeds
        .iter()
        .map(|f| FeedSpec {
            name: &f.name,
            url: f.url.as_str(),
            host: crate::pipeline::fetch::host_key(&f.url),
        })
        .collect();
    let ids = store.sync_feeds(&specs).await?;
    Ok(config
        .feeds
        .iter()
        .filter_map(|f| {
            ids.get(&f.name).map(|&id| FeedJob {
                id,
                name: f.name.clone(),
                url: f.url.clone(),
                cfg: f.clone(),
                max_wait: config.poll.max_interval,
                max_entries: config.poll.max_entries_per_fetch,
                max_pages: config.corpus.max_pages_per_poll,
            })
        })
        .collect())
}
