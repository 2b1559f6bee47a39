//! `cargo xtask` — the project's own tasks, so that CI and people run the same commands.
//!
//! - `cargo xtask test`  — installs what the tests need on a fresh Debian machine (PostgreSQL), then runs
//!   every test of the workspace (cargo-nextest when present, else `cargo test`).
//! - `cargo xtask ci`    — what `.ci/run` runs: format check, dependency invariants, clippy with
//!   `-D warnings`, then `test`.
//! - `cargo xtask fuzz [SECONDS]` — runs the cargo-fuzz targets for a bounded time each.
//! - `cargo xtask deps`  — checks the crate dependency invariants of ARCHITECTURE.md.

mod deps;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("ci") => {
            run(Command::new("cargo").args(["fmt", "--all", "--check"]))
                .context("formatting differs: run `cargo fmt --all`")?;
            deps::check(&root)?;
            run(Command::new("cargo").args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--features",
                "kontor/bench",
                "--",
                "-D",
                "warnings",
            ]))
            .context("clippy found warnings")?;
            test(&args[1..])
        }
        Some("fuzz") => {
            let secs = args.get(1).map(String::as_str).unwrap_or("60");
            run(Command::new("bash").arg("scripts/fuzz.sh").arg(secs))
        }
        Some("deps") => deps::check(&root),
        Some("screenshots") => run(Command::new("bash").arg("scripts/screenshots.sh")),
        _ => {
            eprintln!("usage: cargo xtask <test|ci|fuzz [SECONDS]|deps|screenshots>");
            std::process::exit(2);
        }
    }
}

/// The workspace this run belongs to: `cargo run` tells the binary its manifest folder. The
/// folder baked in at compile time is only the fallback: a build folder shared by several clones
/// (CI's) reuses a binary compiled in another clone.
fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    Path::new(&manifest_dir).parent().expect("xtask lives in the workspace root").to_owned()
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd.status().with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
}

/// `apt-get install -y` of Debian packages (through sudo unless root).
fn apt_install(packages: &[&str]) -> Result<()> {
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    let apt = |args: &[&str]| {
        let mut all: Vec<&str> = sudo.to_vec();
        all.push("apt-get");
        all.extend_from_slice(args);
        run(Command::new(all[0]).args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive"))
    };
    apt(&["update", "-q"])?;
    let mut install = vec!["install", "-y", "-q"];
    install.extend_from_slice(packages);
    apt(&install)
}

/// Debian's chromium and chromedriver, for the web client's browser tests.
fn ensure_chromium() -> Result<()> {
    let present = |p: &str| std::path::Path::new(p).exists();
    if present("/usr/bin/chromium") && present("/usr/bin/chromedriver") {
        return Ok(());
    }
    eprintln!("chromium or chromedriver not found: installing Debian's `chromium chromium-driver`");
    apt_install(&["chromium", "chromium-driver"])?;
    if !present("/usr/bin/chromium") || !present("/usr/bin/chromedriver") {
        bail!(
            "`apt-get install chromium chromium-driver` finished but /usr/bin/chromium or /usr/bin/chromedriver is missing"
        );
    }
    Ok(())
}

/// PostgreSQL server binaries from Debian's packages, for the throwaway test clusters.
fn ensure_postgres() -> Result<()> {
    if postgres_bin().is_some() {
        return Ok(());
    }
    eprintln!(
        "PostgreSQL server binaries not found under /usr/lib/postgresql: installing Debian's `postgresql`"
    );
    apt_install(&["postgresql"])?;
    if postgres_bin().is_none() {
        bail!(
            "`apt-get install postgresql` finished but no /usr/lib/postgresql/*/bin/initdb exists"
        );
    }
    Ok(())
}

fn postgres_bin() -> Option<PathBuf> {
    let dir = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    dir.filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .find(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
}

fn has_nextest() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn test(extra: &[String]) -> Result<()> {
    ensure_postgres()?;
    ensure_chromium()?;
    // Snapshots are found under this clone, not under the folder a reused test binary was
    // compiled in (insta otherwise starts from the compile-time manifest folder).
    let root = workspace_root();
    if has_nextest() {
        run(Command::new("cargo")
            .env("INSTA_WORKSPACE_ROOT", &root)
            .args(["nextest", "run", "--workspace", "--no-fail-fast", "--profile", "ci"])
            .args(["--features", "kontor/bench"])
            .args(extra))
    } else {
        eprintln!(
            "cargo-nextest not found: running `cargo test` (install it with `cargo install cargo-nextest --locked` for faster runs)"
        );
        run(Command::new("cargo")
            .env("INSTA_WORKSPACE_ROOT", &root)
            .args(["test", "--workspace", "--no-fail-fast", "--features", "kontor/bench"])
            .args(extra))
    }
}
