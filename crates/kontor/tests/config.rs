//! The binary's settings as a person gives them: a key in the `--config` TOML file takes effect,
//! an environment variable overrides it, a flag overrides both; a wrong value stops the start
//! naming where it came from (the file and key, the variable, the flag), never showing a secret.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{KONTOR, free_port};

/// Every variable the binary reads as a setting: removed from the tests' processes so the
/// person running them changes nothing.
const VARIABLES: &[&str] = &[
    "KONTOR_CONFIG",
    "KONTOR_LOG_FORMAT",
    "KONTOR_DATA",
    "KONTOR_HEADER_READ_TIMEOUT",
    "KONTOR_BODY_READ_TIMEOUT",
    "KONTOR_WORKERS",
    "KONTOR_LEASE_SECONDS",
    "KONTOR_EXIT_AFTER_SYNC",
    "KONTOR_USER",
    "KONTOR_PASSWORD_ENV",
    "KONTOR_FINANCIALS_DB",
    "KONTOR_FINANCIALS_LISTEN",
    "KONTOR_FINANCIALS_PORT",
    "KONTOR_FINANCIALS_URL",
    "KONTOR_SALES_DB",
    "KONTOR_SALES_LISTEN",
    "KONTOR_SALES_PORT",
    "KONTOR_SALES_URL",
    "KONTOR_SALES_LIMITS",
    "KONTOR_ADMIN_PASSWORD",
    "KONTOR_SECRET_KEY",
];

const ADMIN_PASSWORD: &str = "config-admin-password-7";

/// `kontor <args>` with only `env` of the settings' variables set.
fn kontor(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(KONTOR);
    c.args(args).stdin(Stdio::null());
    for v in VARIABLES {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    c
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("kontor.toml");
    std::fs::write(&path, text).expect("write the config file");
    path
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `@odata.context` of Sales' accounts at `base`, once it answers.
async fn accounts_context(base: &str, running: &mut Running) -> String {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let token = loop {
        let r = http
            .post(format!("{base}/oauth2/v2.0/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=password&username=admin&password={ADMIN_PASSWORD}"))
            .send()
            .await;
        if let Ok(r) = r
            && r.status().is_success()
        {
            let v: serde_json::Value = r.json().await.unwrap();
            break v["access_token"].as_str().unwrap().to_owned();
        }
        if let Some(status) = running.0.try_wait().unwrap() {
            panic!("kontor sales serve exited ({status})");
        }
        assert!(Instant::now() < deadline, "Sales did not start on {base}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let v: serde_json::Value = http
        .get(format!("{base}/api/data/v9.2/accounts?$top=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["@odata.context"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_config_file_key_takes_effect_the_environment_overrides_it_and_a_flag_overrides_both() {
    // Sales' public URL (`sales.url`, KONTOR_SALES_URL, --public-url) from each source:
    // (in the file, in the environment, as a flag, the URL Sales answers with)
    let cases = [
        (Some("http://file.example"), None, None, "http://file.example"),
        (Some("http://file.example"), Some("http://env.example"), None, "http://env.example"),
        (None, Some("http://env.example/"), None, "http://env.example"),
        (
            Some("http://file.example"),
            Some("http://env.example"),
            Some("http://flag.example"),
            "http://flag.example",
        ),
    ];
    for (file, env, flag, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        // Where Sales listens, its database, data folder and administrators' password come
        // from the file alone.
        let mut text = format!(
            "admin_password = \"{ADMIN_PASSWORD}\"\ndata = \"{}\"\n\n[sales]\ndb = \"{}\"\nlisten = \"127.0.0.1:{port}\"\n",
            dir.path().display(),
            dir.path().join("sales.sqlite").display(),
        );
        if let Some(url) = file {
            text.push_str(&format!("url = \"{url}\"\n"));
        }
        let config = write_config(dir.path(), &text);
        let mut args = vec!["sales", "serve", "--config", config.to_str().unwrap()];
        if let Some(url) = flag {
            args.extend(["--public-url", url]);
        }
        let envs: Vec<(&str, &str)> = env.map(|u| ("KONTOR_SALES_URL", u)).into_iter().collect();
        let child = kontor(&args, &envs).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        let mut running = Running(child.expect("start kontor sales serve"));
        let context = accounts_context(&format!("http://127.0.0.1:{port}"), &mut running).await;
        assert!(
            context.starts_with(&format!("{expected}/api/data/v9.2/$metadata")),
            "file {file:?}, env {env:?}, flag {flag:?}: {context}"
        );
    }
}

#[test]
fn the_config_file_can_also_be_named_by_kontor_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[sales]\nlimits = \"speed=3\"\n");
    let out = kontor(&["sales", "serve"], &[("KONTOR_CONFIG", config.to_str().unwrap())])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("`sales.limits` in the config file {}", config.display())),
        "{err}"
    );
}

/// Environment variables and their values.
type Env<'a> = &'a [(&'a str, &'a str)];

/// (command, config file, environment, extra flags, what the error must say)
type RefusedCase<'a> = (&'a [&'a str], Option<&'a str>, Env<'a>, &'a [&'a str], &'a [&'a str]);

/// What a start with a wrong value printed.
fn refused(args: &[&str], file: Option<&str>, env: &[(&str, &str)]) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if let Some(text) = file {
        let config = write_config(dir.path(), text);
        all.extend(["--config".to_owned(), config.display().to_string()]);
    }
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = kontor(&all, env).output().expect("run kontor");
    let err =
        String::from_utf8_lossy(&out.stderr).replace(&dir.path().display().to_string(), "DIR");
    (out, err)
}

#[test]
fn a_bad_value_in_each_source_stops_the_start_naming_that_source() {
    const SALES: &[&str] = &["sales", "serve"];
    const UP: &[&str] = &["up"];
    // (command, config file, environment, extra flags, what the error must say)
    let cases: &[RefusedCase] = &[
        (
            SALES,
            Some("[sales]\nlimits = \"speed=3\"\n"),
            &[],
            &[],
            &["the key `sales.limits` in the config file DIR/kontor.toml", "unknown limit 'speed'"],
        ),
        (
            SALES,
            None,
            &[("KONTOR_SALES_LIMITS", "speed=3")],
            &[],
            &["KONTOR_SALES_LIMITS (environment variable)", "unknown limit 'speed'"],
        ),
        (
            SALES,
            Some("[sales]\nlimits = \"off\"\n"),
            &[("KONTOR_SALES_LIMITS", "off")],
            &["--limits", "speed=3"],
            &["--limits (command-line flag)", "unknown limit 'speed'"],
        ),
        (
            UP,
            Some("[financials]\nport = \"eighty\"\n"),
            &[],
            &[],
            &["the key `financials.port` in the config file DIR/kontor.toml"],
        ),
        (UP, None, &[("KONTOR_FINANCIALS_PORT", "eighty")], &[], &["KONTOR_FINANCIALS_PORT"]),
        (
            UP,
            None,
            &[],
            &["--financials-port", "eighty"],
            &["'--financials-port <FINANCIALS_PORT>'"],
        ),
        (
            SALES,
            Some("header_read_timeout = \"soon\"\n"),
            &[],
            &[],
            &["`header_read_timeout` in the config file", "'soon' is not a duration"],
        ),
        (
            SALES,
            None,
            &[("KONTOR_BODY_READ_TIMEOUT", "0s")],
            &[],
            &["KONTOR_BODY_READ_TIMEOUT (environment variable)"],
        ),
        (
            SALES,
            None,
            &[],
            &["--header-read-timeout", "later"],
            &["--header-read-timeout (command-line flag)", "'later' is not a duration"],
        ),
        (
            SALES,
            None,
            &[("KONTOR_SALES_URL", "ftp://sales.example")],
            &[],
            &["KONTOR_SALES_URL (environment variable)", "not a URL starting with http://"],
        ),
        (
            SALES,
            None,
            &[],
            &["--listen", "nowhere"],
            &["--listen (command-line flag)", "'nowhere' is not an address to listen on"],
        ),
        (
            SALES,
            Some("[sales]\nlimit = \"on\"\n"),
            &[],
            &[],
            &["the config file DIR/kontor.toml", "there is no setting `sales.limit`"],
        ),
        (UP, Some("workers = \"many\"\n"), &[], &[], &["`workers` in the config file"]),
        (SALES, Some("[sales\n"), &[], &[], &["the config file DIR/kontor.toml", "line 1"]),
        (
            SALES,
            None,
            &[("KONTOR_CONFIG", "/nonexistent/kontor.toml")],
            &[],
            &["the config file /nonexistent/kontor.toml", "does not exist"],
        ),
    ];
    for (command, file, env, flags, expected) in cases {
        let args: Vec<&str> = command.iter().chain(flags.iter()).copied().collect();
        let (out, err) = refused(&args, *file, env);
        assert!(!out.status.success(), "{args:?} {file:?} {env:?} started");
        for e in *expected {
            assert!(err.contains(e), "{args:?} {file:?} {env:?}: expected {e:?} in:\n{err}");
        }
    }
}

#[test]
fn a_bad_secret_is_refused_naming_its_source_but_never_showing_it() {
    // (config file, environment, where the error says it came from)
    let cases: [(Option<&str>, Env, &str); 4] = [
        (Some("secret_key = \"hunter2-not-a-key\"\n"), &[], "`secret_key` in the config file"),
        (None, &[("KONTOR_SECRET_KEY", "hunter2-not-a-key")], "KONTOR_SECRET_KEY"),
        (Some("admin_password = 12345\n"), &[], "`admin_password` in the config file"),
        // A broken line holding a secret: the parse error says where, not what the line says.
        (Some("admin_password = \"hunter2-broken\n"), &[], "the config file DIR/kontor.toml"),
    ];
    for (file, env, source) in cases {
        let (out, err) = refused(&["sales", "serve"], file, env);
        assert!(!out.status.success());
        assert!(err.contains(source), "{file:?} {env:?}: {err}");
        assert!(!err.contains("hunter2") && !err.contains("12345"), "{file:?} {env:?}: {err}");
    }
}

#[test]
fn help_names_each_settings_variable_and_key() {
    // (command, the names its help must show)
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["up", "--help"],
            &["KONTOR_FINANCIALS_PORT", "financials.port", "--config", "KONTOR_CONFIG"],
        ),
        (&["sales", "serve", "--help"], &["KONTOR_SALES_URL", "sales.url", "KONTOR_SALES_LIMITS"]),
        (&["worker", "--help"], &["KONTOR_LEASE_SECONDS", "lease_seconds", "KONTOR_FINANCIALS_DB"]),
        (
            &["sync", "status", "--help"],
            &["KONTOR_FINANCIALS_URL", "KONTOR_USER", "KONTOR_LOG_FORMAT"],
        ),
    ];
    for (args, names) in cases {
        let out = kontor(args, &[]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        for n in names {
            assert!(help.contains(n), "{args:?} help lacks {n}:\n{help}");
        }
    }
}
