//! A reqwest client for a spawned Financials server.

#![allow(dead_code)]

use kontor_financials_server::Config;
use kontor_financials_server::testing::{TestServer, spawn_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct Api {
    pub server: std::sync::Arc<TestServer>,
    pub http: reqwest::Client,
    pub user: String,
    pub secret: String,
}

/// `%`-encodes a query value (spaces as `%20`, as OData expects).
pub fn enc(s: &str) -> String {
    kontor_odata::query::percent_encode(s)
}

pub async fn start(url: &str) -> Api {
    let server = spawn_with(url, Config { default_page_size: 50, ..Config::default() }).await;
    let secret = server.admin_password.clone();
    Api {
        server: std::sync::Arc::new(server),
        http: reqwest::Client::new(),
        user: "ADMIN".into(),
        secret,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn etag(&self) -> String {
        self.body["@odata.etag"].as_str().map(str::to_owned).unwrap_or_default()
    }
    pub fn id(&self) -> String {
        self.body["id"].as_str().map(str::to_owned).unwrap_or_default()
    }
    pub fn values(&self) -> Vec<Value> {
        self.body["value"].as_array().cloned().unwrap_or_default()
    }
    pub fn error_code(&self) -> String {
        self.body["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
    pub fn error_message(&self) -> String {
        self.body["error"]["message"].as_str().unwrap_or_default().to_owned()
    }
}

impl Api {
    pub fn as_user(&self, user: &str, secret: &str) -> Api {
        Api {
            server: self.server.clone(),
            http: self.http.clone(),
            user: user.into(),
            secret: secret.into(),
        }
    }

    /// An absolute URL: `path` relative to the company (`customers`) unless it starts with `/`
    /// or `http`.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else if let Some(p) = path.strip_prefix('/') {
            format!("{}/{p}", self.server.base_url)
        } else {
            format!("{}{path}", self.server.company_url())
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req =
            self.http.request(method, self.url(path)).basic_auth(&self.user, Some(&self.secret));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body), &[]).await
    }
    pub async fn patch(&self, path: &str, etag: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body), &[("If-Match", etag)]).await
    }
    pub async fn delete(&self, path: &str, etag: &str) -> Reply {
        self.send(Method::DELETE, path, None, &[("If-Match", etag)]).await
    }

    /// POST that must succeed (201); returns the body.
    pub async fn create(&self, set: &str, body: Value) -> Value {
        let r = self.post(set, body.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "POST {set} {body}: {}", r.text);
        r.body
    }

    /// A user with `permission_sets` and a password; returns a client acting as that user.
    pub async fn user_with(&self, name: &str, permission_sets: &str) -> Api {
        let password = format!("{name}-Password-1");
        self.create(
            "users",
            json!({"userName": name, "fullName": name, "permissionSets": permission_sets, "password": password}),
        )
        .await;
        self.as_user(name, &password)
    }
}
