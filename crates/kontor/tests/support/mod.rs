//! What the tests of the `kontor` binary share: free ports, polling, and `kontor` child
//! processes with their output in a log file.

#![allow(dead_code)] // each test binary uses its own part

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KONTOR: &str = env!("CARGO_BIN_EXE_kontor");

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Polls `check` every 50 ms until it gives a value; panics after `limit` naming `what`.
pub async fn poll<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `kontor` process, its stdout and stderr in `<logs>/<name>.log`; SIGKILLed when dropped.
pub struct Proc {
    pub name: String,
    pub child: Child,
}

impl Proc {
    /// Starts `kontor <args>` with `env` set, and without the variables of the person running the
    /// tests that would change what it does (`KONTOR_SECRET_KEY`, `KONTOR_PASSWORD`,
    /// `RUST_BACKTRACE`).
    pub fn start(logs: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let log = std::fs::File::create(logs.join(format!("{name}.log"))).expect("a log file");
        let child = Command::new(KONTOR)
            .args(args)
            .env_remove("KONTOR_SECRET_KEY")
            .env_remove("KONTOR_PASSWORD")
            .env_remove("RUST_BACKTRACE")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc { name: name.to_owned(), child }
    }

    /// Its output so far.
    pub fn log(&self, logs: &Path) -> String {
        std::fs::read_to_string(logs.join(format!("{}.log", self.name))).unwrap_or_default()
    }

    /// SIGKILL: no clean shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it as Ctrl-C does (SIGINT) and waits for it to exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().expect("poll a process").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} did not stop within 30 s of SIGINT", self.name);
    }

    /// Panics with its output when it has exited.
    pub fn assert_running(&mut self, logs: &Path) {
        if let Some(status) = self.child.try_wait().expect("poll a process") {
            panic!("{} exited ({status}):\n{}", self.name, self.log(logs));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
