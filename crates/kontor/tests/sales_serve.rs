//! `kontor sales serve` as a person starts it: Sales' service protection limits are on unless
//! turned off, configurable by flag or `KONTOR_SALES_LIMITS`, and a bad setting stops the start
//! with an error naming the flag or the variable.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{KONTOR, free_port};

struct Sales {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for Sales {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sales_serve(limits: Option<&str>, env: Option<&str>) -> Sales {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut c = Command::new(KONTOR);
    c.args(["sales", "serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
        .arg(data.path().join("sales.sqlite"))
        .arg("--data")
        .arg(data.path())
        .env("KONTOR_ADMIN_PASSWORD", "limits-admin-password")
        .env_remove("KONTOR_SALES_LIMITS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(l) = limits {
        c.args(["--limits", l]);
    }
    if let Some(e) = env {
        c.env("KONTOR_SALES_LIMITS", e);
    }
    let child = c.spawn().expect("start kontor sales serve");
    Sales { child, base: format!("http://127.0.0.1:{port}"), _data: data }
}

async fn token(base: &str) -> String {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = http
            .post(format!("{base}/oauth2/v2.0/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=password&username=admin&password=limits-admin-password")
            .send()
            .await;
        if let Ok(r) = r
            && r.status().is_success()
        {
            let v: serde_json::Value = r.json().await.unwrap();
            return v["access_token"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "Sales did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The statuses of `n` WhoAmI calls in a row.
async fn who_am_i(base: &str, n: usize) -> Vec<u16> {
    let token = token(base).await;
    let http = reqwest::Client::new();
    let mut out = vec![];
    for _ in 0..n {
        let r = http
            .get(format!("{base}/api/data/v9.2/WhoAmI"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        out.push(r.status().as_u16());
    }
    out
}

#[tokio::test]
async fn the_limits_given_by_flag_or_environment_refuse_the_request_over_them_with_429() {
    for (flag, env) in [(Some("requests=3,window=60"), None), (None, Some("requests=3,window=60"))]
    {
        let s = sales_serve(flag, env);
        let statuses = who_am_i(&s.base, 4).await;
        assert_eq!(statuses, vec![200, 200, 200, 429], "flag {flag:?}, env {env:?}");
    }
    let s = sales_serve(Some("off"), None);
    assert!(who_am_i(&s.base, 10).await.iter().all(|s| *s == 200));
}

#[test]
fn the_limits_are_on_at_dataverse_values_by_default_and_a_bad_setting_stops_the_start() {
    let help = Command::new(KONTOR).args(["sales", "serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: on]"), "{help}");
    assert!(help.contains("KONTOR_SALES_LIMITS"), "{help}");
    for (flag, env) in [(Some("speed=3"), None), (None, Some("speed=3"))] {
        let mut c = Command::new(KONTOR);
        c.args(["sales", "serve", "--db", "unused.sqlite", "--listen", "127.0.0.1:0"])
            .env_remove("KONTOR_SALES_LIMITS");
        if let Some(f) = flag {
            c.args(["--limits", f]);
        }
        if let Some(e) = env {
            c.env("KONTOR_SALES_LIMITS", e);
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        let source = if flag.is_some() { "--limits" } else { "KONTOR_SALES_LIMITS" };
        assert!(err.contains(source) && err.contains("unknown limit 'speed'"), "{err}");
    }
}
