//! The instance lock: one process at a time owns a database (and, through the corpus lock, its
//! corpus folder).

use std::fs::File;
use std::path::{Path, PathBuf};

/// Holds the instance lock: one process at a time owns a database and its corpus, because
/// record numbers are handed out by that process.
pub struct InstanceLock {
    _lock: nix::fcntl::Flock<File>,
}

impl InstanceLock {
    pub fn acquire(database: &Path) -> anyhow::Result<InstanceLock> {
        let mut path = database.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open lock file {}: {e}", path.display()))?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| {
                anyhow::anyhow!(
                    "another feedcorpus process is using {} (lock {}): {e}",
                    database.display(),
                    path.display()
                )
            })?;
        Ok(InstanceLock { _lock: lock })
    }
}
