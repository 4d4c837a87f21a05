//! Record files: `NNN_<16 hex>.txt`, one per entry, in the corpus folder.
//!
//! The hash part of a name is derived from the entry's dedup key, so a record written just before
//! a crash (file renamed into place, database not yet told) is recognised and adopted on the next
//! run instead of being written again under a new number. Files appear by rename, never half
//! written, and a batch becomes durable with one `syncfs` instead of an fsync per file.

pub mod export;
pub mod markdown;
pub mod report;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::RecordFormat;
use crate::model::entry::key_hash16;
use crate::model::record::PendingRecord;

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("corpus folder {path}: {source}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write record {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "corpus folder {path} is in use by another feedcorpus process (two configs with different databases cannot share one corpus_dir): {source}"
    )]
    Locked {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make records durable in {path}: {source}")]
    Sync {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

const TMP_PREFIX: &str = ".tmp-";

/// In a folder shared by instances, a temp file this old was left by a crash (a live writer
/// renames its file within moments).
const SHARED_TMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// This host, in temp file names: 8 hex digits of its name's hash. Instances on several hosts
/// may share a folder; only a temp file of this host can be told to be a gone process's.
static HOST_TAG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    key_hash16(&host).chars().take(8).collect()
});

/// A record's temp file name: the writer's process id and host keep instances apart, and tell
/// whose crash left it.
fn tmp_name_of(pid: u32, host: &str, name: &str) -> String {
    format!("{TMP_PREFIX}{pid}-{host}-{name}")
}

/// Whether a temp file in a shared folder can no longer be renamed by its writer: a process
/// of this host that is gone, or a file older than [`SHARED_TMP_AGE`] (a writer elsewhere).
fn shared_tmp_is_stale(name: &str, item: &fs::DirEntry) -> bool {
    let gone_here = name
        .strip_prefix(TMP_PREFIX)
        .and_then(|rest| {
            let mut parts = rest.splitn(3, '-');
            let pid: i32 = parts.next()?.parse().ok()?;
            let host = parts.next()?;
            (pid > 0 && host == HOST_TAG.as_str()).then_some(pid)
        })
        .is_some_and(|pid| {
            // No signal is sent: this only asks whether the process exists.
            let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None);
            matches!(alive, Err(nix::errno::Errno::ESRCH))
        });
    gone_here
        || item
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > SHARED_TMP_AGE)
}

/// Holds the corpus folder for one process: record numbers are handed out by whoever writes
/// there, so two processes with different databases must never share a `corpus_dir`. The lock
/// is an advisory `flock` on the folder itself (no file is added to the corpus); the kernel
/// drops it when the process dies, so a crash leaves nothing stale. Temp files left in the folder
/// are removed only under this lock, so they are never another live process's.
///
/// Instances sharing a PostgreSQL database share the folder (the database numbers records):
/// they take the lock shared ([`CorpusLock::acquire_shared`]), so an SQLite instance is still
/// refused a folder they use, and they are refused one an SQLite instance uses.
pub struct CorpusLock {
    _lock: nix::fcntl::Flock<File>,
}

impl CorpusLock {
    pub fn acquire(dir: &Path) -> Result<CorpusLock, CorpusError> {
        CorpusLock::take(dir, nix::fcntl::FlockArg::LockExclusiveNonblock)
    }

    /// The lock as instances of one shared database hold it, together.
    pub fn acquire_shared(dir: &Path) -> Result<CorpusLock, CorpusError> {
        CorpusLock::take(dir, nix::fcntl::FlockArg::LockSharedNonblock)
    }

    fn take(dir: &Path, how: nix::fcntl::FlockArg) -> Result<CorpusLock, CorpusError> {
        let folder_err = |source| CorpusError::Folder {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(folder_err)?;
        let file = File::open(dir).map_err(folder_err)?;
        let lock = nix::fcntl::Flock::lock(file, how).map_err(|(_, e)| CorpusError::Locked {
            path: dir.to_path_buf(),
            source: std::io::Error::from(e),
        })?;
        Ok(CorpusLock { _lock: lock })
    }
}

pub struct Corpus {
    dir: PathBuf,
    next_seq: u64,
    /// Record files present, by the hash part of their name (as a number: a corpus of 50,000
    /// records keeps 2 MB for this, not 6).
    by_hash: HashMap<u64, Listed, foldhash::fast::RandomState>,
    /// `by_hash` is the folder's listing as it was just read (no write since), and these of
    /// its names are not files: [`Corpus::missing`] checks against it instead of listing the
    /// folder again.
    fresh: Option<std::collections::HashSet<String>>,
}

/// A record file of the folder: its number when its name is the one this corpus writes for it
/// ([`record_name`]), else the whole name.
#[derive(Debug, Clone)]
enum Listed {
    Seq(u64),
    Name(Box<str>),
}

/// The name of record number `seq` of the key whose hash is `hash`.
fn record_name(seq: u64, hash: &str) -> String {
    format!("{seq:03}_{hash}.txt")
}

/// The record for an entry: ` date YYYY-MM-DD ` + paragraphs + a final blank line.
pub fn render(record_date: &str, content_text: &str) -> String {
    format!(" date {record_date} {content_text}\n\n")
}

/// How records are written: the text form of seeds 000/001 (with the title paragraph only when
/// `text_title`), or seed 002's Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    pub format: RecordFormat,
    pub text_title: bool,
}

impl Form {
    pub fn of(settings: &crate::config::CorpusSettings) -> Form {
        Form {
            format: settings.record_format,
            text_title: settings.text_title,
        }
    }
}

/// The text without its title paragraph, as the seeds' records are: the stored text opens with
/// the title (the search index and near-duplicate checks want it), the record with the body.
/// The first paragraph is dropped when it reads as the title and a body follows it.
pub fn without_title<'a>(content_text: &'a str, title: Option<&str>) -> &'a str {
    match (content_text.split_once("\n\n"), title) {
        (Some((first, rest)), Some(t))
            if crate::pipeline::text::normalize::same_text(first, t) && !rest.trim().is_empty() =>
        {
            rest
        }
        _ => content_text,
    }
}

/// A record in the given form.
pub fn render_record(r: &PendingRecord, form: Form) -> String {
    match form.format {
        RecordFormat::Text if form.text_title => render(&r.record_date, &r.content_text),
        RecordFormat::Text => render(
            &r.record_date,
            without_title(&r.content_text, r.title.as_deref()),
        ),
        RecordFormat::Markdown => {
            let date = chrono::NaiveDate::parse_from_str(&r.record_date, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .and_then(|d| {
                    d.and_local_timezone(chrono::FixedOffset::east_opt(0)?)
                        .single()
                });
            let Some(date) = date else {
                return render(&r.record_date, &r.content_text);
            };
            let body = match &r.content_html {
                Some(h) => h.clone(),
                None => r
                    .content_text
                    .split("\n\n")
                    .skip(1)
                    .map(|p| format!("<p>{}</p>", p.replace('&', "&amp;").replace('<', "&lt;")))
                    .collect(),
            };
            crate::corpus::markdown::render_markdown(
                r.title.as_deref().unwrap_or(""),
                r.author.as_deref(),
                date,
                &body,
                r.url.as_deref().unwrap_or(""),
            )
        }
    }
}

/// How many record files the corpus folder holds, and their bytes.
pub fn size_on_disk(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if parse_record_name(&e.file_name().to_string_lossy()).is_some() {
                files += 1;
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    (files, bytes)
}

/// The corpus folder's identity and last change (device, inode, modification and change
/// times): every file added, removed or renamed in the folder moves its times on. Stored with a
/// check that found every record, it lets a later start see that nothing can be missing without
/// listing the folder again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderState {
    dev: u64,
    ino: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

/// A folder state saved this soon after the folder's last change could miss a change made in the
/// same tick of the filesystem's clock (its times are coarser than the system clock), which
/// would leave the times as they were.
const SETTLED: std::time::Duration = std::time::Duration::from_millis(50);

impl FolderState {
    /// The folder's state now; `None` when it cannot be read or the platform has no inodes.
    pub fn of(dir: &Path) -> Option<FolderState> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = fs::metadata(dir).ok()?;
            let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
            Some(FolderState {
                dev: m.dev(),
                ino: m.ino(),
                mtime_ns: ns(m.mtime(), m.mtime_nsec()),
                ctime_ns: ns(m.ctime(), m.ctime_nsec()),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = dir;
            None
        }
    }

    /// Whether the filesystem's clock has moved past the folder's last change by `now`: a later
    /// change then shows in the times. Only such a state is worth saving.
    pub fn settled(&self, now: std::time::SystemTime) -> bool {
        self.settles_in(now).is_none()
    }

    /// How long until the state is [settled](FolderState::settled) (`None`: it is); never more
    /// than the margin itself, whatever the clock says.
    pub fn settles_in(&self, now: std::time::SystemTime) -> Option<std::time::Duration> {
        let Ok(since) = now.duration_since(std::time::UNIX_EPOCH) else {
            return Some(SETTLED);
        };
        let now_ns = i128::try_from(since.as_nanos()).unwrap_or(i128::MAX);
        let settled = i128::try_from(SETTLED.as_nanos()).unwrap_or(i128::MAX);
        let left = settled.saturating_sub(now_ns.saturating_sub(self.mtime_ns.max(self.ctime_ns)));
        (left > 0)
            .then(|| std::time::Duration::from_nanos(u64::try_from(left.min(settled)).unwrap_or(0)))
    }

    /// The stored form, `dev:ino:mtime_ns:ctime_ns`.
    pub fn encode(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.dev, self.ino, self.mtime_ns, self.ctime_ns
        )
    }

    /// Reads [`FolderState::encode`]'s form; anything else (a hand edit) is `None`.
    pub fn decode(s: &str) -> Option<FolderState> {
        let mut parts = s.split(':');
        let state = FolderState {
            dev: parts.next()?.parse().ok()?,
            ino: parts.next()?.parse().ok()?,
            mtime_ns: parts.next()?.parse().ok()?,
            ctime_ns: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(state)
    }
}

/// Splits a record file name into its sequence number and hash.
pub fn parse_record_name(name: &str) -> Option<(u64, &str)> {
    let stem = name.strip_suffix(".txt")?;
    let (num, hash) = stem.split_once('_')?;
    if num.len() < 3 || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if hash.len() != 16 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Some((num.parse().ok()?, hash))
}

impl Corpus {
    /// Opens the folder (creating it if needed), learns the highest record number and removes
    /// temp files a crash left behind.
    pub fn open(dir: &Path) -> Result<Corpus, CorpusError> {
        Corpus::open_with(dir, false)
    }

    /// As [`Corpus::open`]; `shared`: other instances write this folder too (their record
    /// numbers come from the shared database), so only temp files older than an hour are
    /// someone's crash to clean up.
    pub fn open_with(dir: &Path, shared: bool) -> Result<Corpus, CorpusError> {
        let folder_err = |source| CorpusError::Folder {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(folder_err)?;
        let mut corpus = Corpus {
            dir: dir.to_path_buf(),
            next_seq: 0,
            by_hash: HashMap::default(),
            fresh: None,
        };
        let mut not_files = std::collections::HashSet::new();
        for item in fs::read_dir(dir).map_err(folder_err)? {
            let item = item.map_err(folder_err)?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) {
                let stale = !shared || shared_tmp_is_stale(name, &item);
                if !stale {
                    continue;
                }
                if let Err(e) = fs::remove_file(item.path()) {
                    tracing::warn!(path = %item.path().display(), error = %e, "cannot remove a stale temp file");
                }
                continue;
            }
            if let Some((seq, hash)) = parse_record_name(name) {
                corpus.next_seq = corpus.next_seq.max(seq + 1);
                if !is_file(&item) {
                    not_files.insert(name.to_string());
                }
                corpus.note(seq, hash, name);
            }
        }
        corpus.fresh = Some(not_files);
        Ok(corpus)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The number the next new record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// New records get numbers from `floor` up at least (the database's memory of numbers given
    /// to files that may since have been deleted).
    pub fn raise_next_seq(&mut self, floor: u64) {
        self.next_seq = self.next_seq.max(floor);
    }

    /// Writes the records and makes them durable. Returns (entry id, file name) for each record
    /// that is durable, plus the error that stopped the batch, if any: records before the error
    /// are still made durable and returned, so the database can mark them.
    pub fn write(
        &mut self,
        records: &[PendingRecord],
        form: Form,
    ) -> (Vec<(i64, String)>, Option<CorpusError>) {
        self.fresh = None;
        let mut written = Vec::with_capacity(records.len());
        let mut error = None;
        for r in records {
            match self.write_one(r, form) {
                Ok(name) => written.push((r.entry_id, name)),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if !written.is_empty()
            && let Err(e) = self.barrier()
        {
            return (Vec::new(), Some(e));
        }
        (written, error)
    }

    fn write_one(&mut self, r: &PendingRecord, form: Form) -> Result<String, CorpusError> {
        let hash = key_hash16(&r.key);
        // Keep the name the database knows; else adopt a file a crash left unregistered; else
        // take the next number.
        let known = r
            .record_path
            .as_deref()
            .filter(|p| parse_record_name(p).is_some_and(|(_, h)| h == hash))
            .map(str::to_string)
            .or_else(|| self.listed(&hash));
        let is_new = known.is_none();
        let seq = r.record_seq.unwrap_or(self.next_seq);
        let name = known.unwrap_or_else(|| record_name(seq, &hash));
        let content = render_record(r, form);
        let path = self.dir.join(&name);
        let unchanged =
            !is_new && fs::read(&path).is_ok_and(|existing| existing == content.as_bytes());
        if !unchanged {
            // The process id keeps two instances writing the same record apart.
            let tmp = self
                .dir
                .join(tmp_name_of(std::process::id(), &HOST_TAG, &name));
            let write_err = |source| CorpusError::Write {
                path: path.clone(),
                source,
            };
            let result = File::create(&tmp)
                .and_then(|mut f| f.write_all(content.as_bytes()))
                .and_then(|()| fs::rename(&tmp, &path));
            if let Err(e) = result {
                let _ = fs::remove_file(&tmp);
                return Err(write_err(e));
            }
        }
        // A restored or renamed file's number is taken too: no new record may reuse it.
        if let Some((seq, listed_hash)) = parse_record_name(&name) {
            self.next_seq = self.next_seq.max(seq.saturating_add(1));
            self.note(seq, listed_hash, &name);
        }
        Ok(name)
    }

    #[cfg(test)]
    fn write_text(
        &mut self,
        records: &[PendingRecord],
    ) -> (Vec<(i64, String)>, Option<CorpusError>) {
        self.write(
            records,
            Form {
                format: RecordFormat::Text,
                text_title: true,
            },
        )
    }

    /// One durability barrier for everything written so far.
    fn barrier(&self) -> Result<(), CorpusError> {
        let sync_err = |source| CorpusError::Sync {
            path: self.dir.clone(),
            source,
        };
        let dir = File::open(&self.dir).map_err(sync_err)?;
        nix::unistd::syncfs(&dir).map_err(|e| sync_err(std::io::Error::from(e)))
    }

    /// Remembers a record file (`seq` and `hash` parsed from `name`).
    fn note(&mut self, seq: u64, hash: &str, name: &str) {
        let Ok(key) = u64::from_str_radix(hash, 16) else {
            return;
        };
        let listed = if record_name(seq, hash) == name {
            Listed::Seq(seq)
        } else {
            Listed::Name(name.into())
        };
        self.by_hash.insert(key, listed);
    }

    /// The file name the folder holds for this key hash, if any.
    fn listed(&self, hash: &str) -> Option<String> {
        let key = u64::from_str_radix(hash, 16).ok()?;
        match self.by_hash.get(&key)? {
            Listed::Seq(seq) => Some(record_name(*seq, hash)),
            Listed::Name(name) => Some(name.to_string()),
        }
    }

    /// Drops the listing read at open: the folder may change from now on.
    pub fn forget_listing(&mut self) {
        self.fresh = None;
    }

    /// Entries whose record file is not in the folder.
    pub fn missing(&mut self, records: &[(i64, String)]) -> Vec<i64> {
        // The listing the folder was opened with, when nothing was written since (start-up);
        // else one directory listing instead of a stat per record: a poll checks the whole
        // corpus.
        let listed: Listing = match self.fresh.take() {
            Some(not_files) => Listing::Opened(not_files),
            None => match std::fs::read_dir(&self.dir) {
                Ok(dir) => Listing::Read(
                    dir.filter_map(Result::ok)
                        .filter(is_file)
                        .map(|e| e.file_name())
                        .collect(),
                ),
                Err(_) => Listing::None,
            },
        };
        records
            .iter()
            .filter(|(_, name)| {
                let present = match &listed {
                    _ if name.contains('/') => None,
                    Listing::Opened(not_files) => {
                        parse_record_name(name).and_then(|(_, hash)| match self.listed(hash) {
                            Some(listed) if listed == *name => Some(!not_files.contains(name)),
                            // Another file with this key's hash: look this one up.
                            Some(_) => None,
                            None => Some(false),
                        })
                    }
                    Listing::Read(names) => Some(names.contains(std::ffi::OsStr::new(name))),
                    Listing::None => None,
                };
                !present.unwrap_or_else(|| self.dir.join(name).is_file())
            })
            .map(|(id, _)| *id)
            .collect()
    }
}

/// What [`Corpus::missing`] checks names against.
enum Listing {
    /// The listing read at open: record names are in `by_hash`; these are not files.
    Opened(std::collections::HashSet<String>),
    Read(std::collections::HashSet<std::ffi::OsString>),
    /// The folder cannot be listed: each name is looked up.
    None,
}

/// A file, or a link to one.
fn is_file(e: &fs::DirEntry) -> bool {
    e.file_type()
        .is_ok_and(|t| t.is_file() || (t.is_symlink() && e.path().is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: i64, key: &str, text: &str) -> PendingRecord {
        PendingRecord {
            entry_id: id,
            key: key.into(),
            record_date: "2026-06-15".into(),
            content_text: text.into(),
            record_path: None,
            title: None,
            author: None,
            url: None,
            content_html: None,
            record_seq: None,
        }
    }

    #[test]
    fn a_folder_state_moves_with_every_file_added_or_removed_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = FolderState::of(dir.path()).expect("state");
        assert_eq!(FolderState::of(dir.path()), Some(first), "unchanged");
        let mut seen = vec![first];
        let file = dir.path().join("001_0123456789abcdef.txt");
        // A change in the same tick of the filesystem's clock can leave the times as they
        // were: each step waits until the clock has moved past the last change.
        let mut step = |change: &dyn Fn()| {
            let last = *seen.last().expect("a state");
            while !last.settled(std::time::SystemTime::now()) {
                std::thread::yield_now();
            }
            change();
            let now = FolderState::of(dir.path()).expect("state");
            assert!(
                !seen.contains(&now),
                "{now:?} after a change, as before one"
            );
            seen.push(now);
        };
        step(&|| fs::write(&file, "x").expect("write"));
        step(&|| fs::rename(&file, dir.path().join("002_0123456789abcdef.txt")).expect("mv"));
        step(&|| fs::remove_file(dir.path().join("002_0123456789abcdef.txt")).expect("rm"));
        for state in &seen {
            assert_eq!(FolderState::decode(&state.encode()), Some(*state));
        }
        for bad in ["", "1:2:3", "1:2:3:4:5", "a:2:3:4", "1:2:3:x"] {
            assert_eq!(FolderState::decode(bad), None, "{bad:?}");
        }
        assert!(FolderState::of(&dir.path().join("absent")).is_none());
    }

    #[test]
    fn a_state_is_settled_only_once_the_clock_has_moved_past_its_last_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = FolderState::of(dir.path()).expect("state");
        let changed = std::time::UNIX_EPOCH
            + std::time::Duration::from_nanos(
                u64::try_from(state.mtime_ns.max(state.ctime_ns)).expect("after 1970"),
            );
        assert!(!state.settled(changed));
        assert!(!state.settled(changed + SETTLED / 2));
        assert!(state.settled(changed + SETTLED));
        assert!(
            !state.settled(std::time::UNIX_EPOCH),
            "a clock before the change"
        );
        assert_eq!(state.settles_in(changed), Some(SETTLED));
        assert_eq!(
            state.settles_in(changed + SETTLED / 5),
            Some(SETTLED * 4 / 5)
        );
        assert_eq!(state.settles_in(changed + SETTLED * 2), None);
        assert_eq!(
            state.settles_in(std::time::UNIX_EPOCH),
            Some(SETTLED),
            "never longer"
        );
    }

    #[test]
    fn record_names() {
        assert_eq!(
            parse_record_name("004_bd3ee2f2bbef7fa1.txt"),
            Some((4, "bd3ee2f2bbef7fa1"))
        );
        assert_eq!(
            parse_record_name("1234_bd3ee2f2bbef7fa1.txt").map(|p| p.0),
            Some(1234)
        );
        assert!(parse_record_name("04_bd3ee2f2bbef7fa1.txt").is_none());
        assert!(parse_record_name("004_BD3EE2F2BBEF7FA1.txt").is_none());
        assert!(parse_record_name(".tmp-004_bd3ee2f2bbef7fa1.txt").is_none());
    }

    /// In a folder shared by instances, a temp file is someone's crash to clean up when its
    /// writer is a process of this host that is gone, or when it is an hour old; a live
    /// process's file, or another host's young one, is left alone.
    #[test]
    fn a_shared_folder_keeps_only_temps_that_may_still_be_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let name = "007_0000000000000000.txt";
        // A process of this host that has ended.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id();
        child.wait().expect("wait");
        let dead_here = tmp_name_of(dead, &HOST_TAG, name);
        let live_here = tmp_name_of(std::process::id(), &HOST_TAG, name);
        let other_host = tmp_name_of(dead, "00000000", name);
        let old_other = tmp_name_of(dead, "ffffffff", "008_0000000000000000.txt");
        let unparsed = format!("{TMP_PREFIX}{name}");
        for t in [&dead_here, &live_here, &other_host, &old_other, &unparsed] {
            fs::write(dir.path().join(t), "half").expect("tmp");
        }
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        File::options()
            .write(true)
            .open(dir.path().join(&old_other))
            .and_then(|f| f.set_modified(two_hours_ago))
            .expect("age");
        Corpus::open_with(dir.path(), true).expect("open");
        let left = |t: &str| dir.path().join(t).exists();
        assert!(
            !left(&dead_here),
            "a dead process's temp file of this host is removed"
        );
        assert!(!left(&old_other), "an hour-old temp file is removed");
        assert!(left(&live_here), "a live process's temp file stays");
        assert!(left(&other_host), "another host's young temp file stays");
        assert!(left(&unparsed), "a young temp file of unknown writer stays");
        // Alone on the folder, every temp file is a crash's.
        Corpus::open_with(dir.path(), false).expect("open");
        for t in [&live_here, &other_host, &unparsed] {
            assert!(!left(t), "{t}");
        }
    }

    #[test]
    fn numbering_continues_after_existing_files_and_cleans_temps() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("004_bd3ee2f2bbef7fa1.txt"), "x").expect("seed");
        fs::write(dir.path().join("notes.md"), "x").expect("other");
        fs::write(dir.path().join(".tmp-005_0000000000000000.txt"), "half").expect("tmp");
        let mut c = Corpus::open(dir.path()).expect("open");
        assert_eq!(c.next_seq(), 5);
        assert!(!dir.path().join(".tmp-005_0000000000000000.txt").exists());
        let (written, err) = c.write_text(&[rec(1, "k1", "Para one.\n\nPara two.")]);
        assert!(err.is_none());
        let name = format!("005_{}.txt", key_hash16("k1"));
        assert_eq!(written, vec![(1, name.clone())]);
        assert_eq!(
            fs::read_to_string(dir.path().join(&name)).expect("read"),
            " date 2026-06-15 Para one.\n\nPara two.\n\n"
        );
    }

    #[test]
    fn a_record_left_unregistered_is_adopted_not_duplicated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = Corpus::open(dir.path()).expect("open");
        let (first, _) = c.write_text(&[rec(1, "k1", "text")]);
        // A new process that never learned of the write (crash before the DB was told).
        let mut c = Corpus::open(dir.path()).expect("reopen");
        let (again, err) = c.write_text(&[rec(1, "k1", "text")]);
        assert!(err.is_none());
        assert_eq!(first, again);
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1);
        assert_eq!(c.next_seq(), 1);
    }

    #[test]
    fn the_listing_read_at_open_finds_what_a_new_listing_finds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = Corpus::open(dir.path()).expect("open");
        let recs: Vec<PendingRecord> = (1..=5).map(|i| rec(i, &format!("k{i}"), "t")).collect();
        let (written, _) = c.write_text(&recs);
        let name = |i: usize| written[i].1.clone();
        // 1: deleted; 2: replaced by a folder; 3: replaced by a link to a file; 4: by a dangling
        // link; a record path of another form; two records with one key's hash.
        fs::remove_file(dir.path().join(name(0))).expect("rm");
        fs::remove_file(dir.path().join(name(1))).expect("rm");
        fs::create_dir(dir.path().join(name(1))).expect("mkdir");
        fs::rename(dir.path().join(name(2)), dir.path().join("elsewhere.txt")).expect("mv");
        std::os::unix::fs::symlink("elsewhere.txt", dir.path().join(name(2))).expect("ln");
        fs::remove_file(dir.path().join(name(3))).expect("rm");
        std::os::unix::fs::symlink("gone.txt", dir.path().join(name(3))).expect("ln");
        let twin = name(4).replacen(&name(4)[..3], "900", 1);
        fs::copy(dir.path().join(name(4)), dir.path().join(&twin)).expect("cp");
        let mut asked = written.clone();
        asked.push((6, "sub/dir.txt".into()));
        asked.push((7, twin));
        let mut c = Corpus::open(dir.path()).expect("reopen");
        let from_open = c.missing(&asked);
        assert_eq!(from_open, vec![1, 2, 4, 6]);
        let mut c = Corpus::open(dir.path()).expect("reopen");
        c.forget_listing();
        assert_eq!(c.missing(&asked), from_open);
    }

    #[test]
    fn missing_files_are_found_and_rewritten_under_their_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = Corpus::open(dir.path()).expect("open");
        let (written, _) = c.write_text(&[rec(1, "k1", "a"), rec(2, "k2", "b")]);
        fs::remove_file(dir.path().join(&written[1].1)).expect("rm");
        assert_eq!(c.missing(&written), vec![2]);
        let mut again = rec(2, "k2", "b");
        again.record_path = Some(written[1].1.clone());
        let (re, err) = c.write_text(&[again]);
        assert!(err.is_none());
        assert_eq!(re, vec![written[1].clone()]);
        assert!(c.missing(&written).is_empty());
    }
}
