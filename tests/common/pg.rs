//! A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` package, `initdb` in a
//! temp folder, the server listening only on a Unix socket in that folder, one fresh database
//! per test. The server is this test process's child: when the process exits it is shut down
//! and its folder removed (an exit handler), and should the process be killed instead, the
//! server dies with it (parent-death signal) and the next test process removes the folder.
//! When the tests run as root the server runs as the `postgres` user, which the package
//! creates.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Cluster {
    /// Holds the socket and the data folder.
    pub dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    _keep: tempfile::TempDir,
}

const PACKAGE_HINT: &str = "PostgreSQL is not installed: the PostgreSQL tests need Debian's \
    `postgresql` package (`apt-get install postgresql`; ./scripts/test installs it)";

/// The server binaries of the newest PostgreSQL the package installed.
fn bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{PACKAGE_HINT} ({}: {e})", root.display()))
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, b)| b)
        .unwrap_or_else(|| panic!("{PACKAGE_HINT} (no initdb under {})", root.display()))
}

/// The user the server runs as: `postgres` when the tests run as root (the server refuses
/// root), else the tests' own user.
fn server_user() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("postgres").expect("name");
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !pw.is_null(),
        "{PACKAGE_HINT} (no `postgres` user to run the server as)"
    );
    let pw = unsafe { &*pw };
    Some((pw.pw_uid, pw.pw_gid))
}

fn as_server_user(cmd: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = server_user() {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The server's pid and folder, for the exit handler.
static RUNNING: OnceLock<(i32, PathBuf)> = OnceLock::new();

const PREFIX: &str = "fc-pg";

/// At exit: an immediate shutdown of the server (SIGQUIT), a wait for it, the folder removed.
extern "C" fn stop_at_exit() {
    let Some((pid, dir)) = RUNNING.get() else {
        return;
    };
    unsafe {
        libc::kill(*pid, libc::SIGQUIT);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let mut status = 0;
        let done = unsafe { libc::waitpid(*pid, &mut status, libc::WNOHANG) };
        if done != 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Folders of earlier test processes that were killed: no live server, older than ten
/// minutes (a folder that young may be another test process's, still starting).
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name();
        if !name.to_str().is_some_and(|n| n.starts_with(PREFIX)) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(600));
        let pid_file = e.path().join("data/postmaster.pid");
        let alive = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
            .is_some_and(|pid| unsafe { libc::kill(pid, 0) } == 0);
        if old && !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The test process's cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(start)
}

fn start() -> Cluster {
    let bin = bin_dir();
    sweep_stale();
    let keep = tempfile::Builder::new()
        .prefix(PREFIX)
        .tempdir()
        .expect("tempdir");
    let dir = keep.path().to_path_buf();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    if let Some((uid, gid)) = server_user() {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the cluster folder");
    }
    let data = dir.join("data");
    let out = as_server_user(Command::new(bin.join("initdb")).args([
        "--auth=trust",
        "--username=feedcorpus",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
    ]))
    .arg("-D")
    .arg(&data)
    .output()
    .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A port number only names the socket file; nothing listens on TCP.
    let port = 20000 + (std::process::id() % 20000) as u16;
    let (tx, rx) = std::sync::mpsc::channel();
    let server_bin = bin.join("postgres");
    let (d, s) = (data.clone(), dir.clone());
    // The server's log goes to a file in the cluster folder (quoted when it fails to start).
    let log = std::fs::File::create(dir.join("server.log")).expect("server log");
    // The server is started from a thread that never ends, so that the parent-death signal
    // (which follows the thread that forked) fires only when the whole test process ends.
    std::thread::spawn(move || {
        let mut cmd = Command::new(server_bin);
        cmd.arg("-D")
            .arg(&d)
            .arg("-k")
            .arg(&s)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses="])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=300"])
            // Little WAL: the folder stays small.
            .args(["-c", "wal_level=minimal", "-c", "max_wal_senders=0"])
            .args(["-c", "max_wal_size=64MB", "-c", "min_wal_size=32MB"])
            .args([
                "-c",
                "shared_buffers=32MB",
                "-c",
                "log_min_messages=warning",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        as_server_user(&mut cmd);
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn();
        let ok = child.is_ok();
        let _ = tx.send(child.map(|c| c.id()).map_err(|e| e.to_string()));
        if ok {
            loop {
                std::thread::park();
            }
        }
    });
    let pid = rx
        .recv()
        .expect("server thread")
        .unwrap_or_else(|e| panic!("cannot start postgres: {e}"));
    if let Ok(pid) = i32::try_from(pid)
        && RUNNING.set((pid, dir.clone())).is_ok()
    {
        unsafe {
            libc::atexit(stop_at_exit);
        }
    }
    let cluster = Cluster {
        dir,
        port,
        bin,
        _keep: keep,
    };
    cluster.wait_ready();
    cluster
}

impl Cluster {
    /// A URL for database `db` on this cluster (over its socket).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://feedcorpus@localhost/{db}?host={}&port={}",
            self.dir.display(),
            self.port
        )
    }

    /// Waits until the server accepts connections (`pg_isready`), at most a minute.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .arg("-h")
                .arg(&self.dir)
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "feedcorpus",
                    "-d",
                    "postgres",
                ])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the test PostgreSQL server did not start within a minute; its log:\n{}",
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A new, empty database; returns its URL.
    pub fn create_database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        run(&self.url("postgres"), &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }
}

/// Runs SQL on `url` and returns the rows as text (`NULL` for null; booleans as 1/0 and times
/// as RFC 3339, the way the SQLite tests read them). The simple query protocol: every value
/// arrives as text, whatever its type.
pub fn run(url: &str, query: &str) -> Vec<Vec<String>> {
    use sqlx::{Column, Row, TypeInfo, ValueRef};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
            .await
            .expect("connect");
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(query.to_string()))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| {
                        let raw = r.try_get_raw(i).expect("raw");
                        if raw.is_null() {
                            return "NULL".to_string();
                        }
                        let text = raw.as_str().expect("a text value").to_string();
                        match r.column(i).type_info().name() {
                            "BOOL" => if text == "t" { "1" } else { "0" }.to_string(),
                            "TIMESTAMPTZ" => chrono::DateTime::parse_from_str(
                                &format!("{text}00"),
                                "%Y-%m-%d %H:%M:%S%.f%z",
                            )
                            .map(|t| {
                                t.with_timezone(&chrono::Utc)
                                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                            })
                            .unwrap_or(text),
                            _ => text,
                        }
                    })
                    .collect()
            })
            .collect()
    })
}
