//! What a running process needs around the pipeline: the [`engine`] (composition root: config,
//! store, fetcher, feed list), [`lock`] (one process per database), [`clock`] (wall time,
//! replaceable in tests), [`systemd`] notifications and Prometheus [`metrics`].

pub mod clock;
pub mod engine;
pub mod lock;
pub mod metrics;
pub mod systemd;
