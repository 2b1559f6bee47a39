//! A throwaway PostgreSQL cluster for tests.
//!
//! The first [`url`] call starts a cluster: `initdb` (as the `postgres` user when running as
//! root, since initdb refuses root) into `/tmp/kontor-testpg-<key>`, then `pg_ctl start` on a free
//! loopback port with `fsync=off`. Every `url()` call creates a new database on it, so tests are
//! isolated.
//!
//! **Sharing and cleanup.** The cluster is shared by all test processes with the same parent (the
//! `cargo nextest` / `cargo test` run, which starts one process per test or per binary); the
//! first one starts it under a file lock, the others reuse it. A detached watchdog
//! (`setsid sh -c 'while kill -0 <parent>; do sleep 1; done; pg_ctl stop; rm -rf …'`) stops the
//! cluster and deletes its folder when that parent exits, even after a panic or a kill.
//! Set `KONTOR_TEST_PG_KEY` to choose the sharing key yourself.
//!
//! When no PostgreSQL binaries are found (`/usr/lib/postgresql/*/bin`, or `initdb` on `PATH`),
//! it runs `apt-get install -y postgresql` (as root), and panics with what to install when that
//! fails. Tests never skip PostgreSQL.

use std::fs::{self, File};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A running cluster this process can use.
#[derive(Debug, Clone)]
struct Cluster {
    port: u16,
    bin: PathBuf,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A URL (`postgres://postgres@127.0.0.1:<port>/t_<pid>_<n>`) of a new, empty database.
pub async fn url() -> String {
    let cluster = match CLUSTER.get() {
        Some(c) => c.clone(),
        None => tokio::task::spawn_blocking(|| CLUSTER.get_or_init(start_or_join).clone())
            .await
            .expect("the PostgreSQL test cluster failed to start"),
    };
    let name = format!("t_{}_{}", std::process::id(), DB_COUNTER.fetch_add(1, Ordering::Relaxed));
    let out = tokio::process::Command::new(cluster.bin.join("createdb"))
        .args(["-h", "127.0.0.1", "-p", &cluster.port.to_string(), "-U", "postgres", &name])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run createdb");
    assert!(
        out.status.success(),
        "createdb {name} on the test cluster (port {}) failed: {}",
        cluster.port,
        String::from_utf8_lossy(&out.stderr)
    );
    format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port)
}

fn sharing_key() -> String {
    if let Ok(key) = std::env::var("KONTOR_TEST_PG_KEY") {
        return key;
    }
    match std::os::unix::process::parent_id() {
        // Orphaned or started by init: nothing to share with, watch ourselves.
        0 | 1 => std::process::id().to_string(),
        ppid => ppid.to_string(),
    }
}

/// The pid whose exit stops the cluster.
fn watched_pid() -> u32 {
    if std::env::var("KONTOR_TEST_PG_KEY").is_ok() {
        return std::process::id();
    }
    match std::os::unix::process::parent_id() {
        0 | 1 => std::process::id(),
        ppid => ppid,
    }
}

fn start_or_join() -> Cluster {
    let base = std::env::temp_dir().join(format!("kontor-testpg-{}", sharing_key()));
    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("create {}: {e}", base.display()));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(base.join("lock"))
        .unwrap_or_else(|e| panic!("open the cluster lock in {}: {e}", base.display()));
    lock.lock().expect("lock the PostgreSQL test cluster folder");

    let bin = find_or_install_binaries();
    let ready = base.join("ready");
    if let Ok(text) = fs::read_to_string(&ready)
        && let Ok(port) = text.trim().parse::<u16>()
        && TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
    {
        return Cluster { port, bin };
    }

    let cluster = start(&base, bin);
    fs::write(&ready, cluster.port.to_string()).expect("write the cluster's ready file");
    drop(lock);
    cluster
}

fn is_root() -> bool {
    fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root.
fn pg_command(bin: &Path, tool: &str) -> Command {
    let exe = bin.join(tool);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(exe);
        c
    } else {
        Command::new(exe)
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({cmd:?}): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start(base: &Path, bin: PathBuf) -> Cluster {
    let data = base.join("data");
    let run_dir = base.join("run");
    let _ = fs::remove_dir_all(&data);
    let _ = fs::remove_dir_all(&run_dir);
    fs::create_dir_all(&data).expect("create the cluster data folder");
    fs::create_dir_all(&run_dir).expect("create the cluster run folder");
    if is_root() {
        // The postgres user must reach its folders whatever the creating process's umask (the
        // `kontor` binary runs with 077, and its benchmarks start clusters too).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(base, fs::Permissions::from_mode(0o755))
                .expect("open the cluster folder to the postgres user");
        }
        let mut chown = Command::new("chown");
        chown.args(["-R", "postgres:postgres"]).arg(&data).arg(&run_dir);
        run(chown, "chown the test cluster folders to postgres");
    }

    let mut initdb = pg_command(&bin, "initdb");
    initdb.arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "-N", "-E", "UTF8"]);
    initdb.args(["--locale=C"]);
    run(initdb, "initdb for the PostgreSQL test cluster");

    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            run_dir.display()
        );
        let mut pg_ctl = pg_command(&bin, "pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(run_dir.join("postgres.log"))
            .args(["-o", &opts, "-w", "-t", "60", "start"])
            .stdin(Stdio::null());
        let out = pg_ctl.output().expect("run pg_ctl start");
        if out.status.success() {
            spawn_watchdog(base, &bin, &data);
            return Cluster { port, bin };
        }
        last_error = format!(
            "{}{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            fs::read_to_string(run_dir.join("postgres.log")).unwrap_or_default()
        );
    }
    panic!("could not start the PostgreSQL test cluster in {}: {last_error}", base.display());
}

/// A detached shell that stops the cluster and deletes its folder once the watched process exits.
fn spawn_watchdog(base: &Path, bin: &Path, data: &Path) {
    let pg_ctl = bin.join("pg_ctl");
    let stop = if is_root() {
        format!(
            "runuser -u postgres -- '{}' -D '{}' stop -m immediate",
            pg_ctl.display(),
            data.display()
        )
    } else {
        format!("'{}' -D '{}' stop -m immediate", pg_ctl.display(), data.display())
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{base}'",
        pid = watched_pid(),
        base = base.display()
    );
    let mut cmd = if Path::new("/usr/bin/setsid").exists() || Path::new("/bin/setsid").exists() {
        let mut c = Command::new("setsid");
        c.args(["sh", "-c", &script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn the PostgreSQL test cluster watchdog");
    // Reap it if it ever ends while we live (it normally outlives this process).
    std::thread::spawn(move || child.wait());
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free loopback port");
    listener.local_addr().expect("local address").port()
}

/// The folder holding `initdb`, `pg_ctl` and `createdb`: the newest `/usr/lib/postgresql/*/bin`,
/// else `PATH`; installs Debian's `postgresql` package when neither has them.
fn find_or_install_binaries() -> PathBuf {
    if let Some(bin) = find_binaries() {
        return bin;
    }
    let mut log = String::new();
    if is_root() {
        for args in [&["update"][..], &["install", "-y", "postgresql"][..]] {
            let out = Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdin(Stdio::null())
                .output();
            match out {
                Ok(o) => log.push_str(&format!(
                    "apt-get {}: {}\n{}\n",
                    args.join(" "),
                    o.status,
                    String::from_utf8_lossy(&o.stderr)
                )),
                Err(e) => log.push_str(&format!("apt-get {}: {e}\n", args.join(" "))),
            }
        }
        if let Some(bin) = find_binaries() {
            return bin;
        }
    } else {
        log.push_str("not root, so apt-get install was not tried\n");
    }
    panic!(
        "PostgreSQL is required by the tests and was not found (looked in /usr/lib/postgresql/*/bin \
         and PATH for initdb, pg_ctl, createdb). Install it, e.g. `sudo apt-get install -y postgresql` \
         on Debian/Ubuntu. Details:\n{log}"
    );
}

fn find_binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_tools(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|dir| has_tools(dir))
}

fn has_tools(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "createdb"].iter().all(|t| dir.join(t).is_file())
}
