//! A small Dataverse Web API client for the API tests, written from the public documentation.
#![allow(dead_code)]

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub use kontor_sales_server::testing::{TestServer, spawn_for_test};

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
    pub fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
    pub fn message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap_or_default().to_owned()
    }
}

pub async fn token(base: &str, form: &[(&str, &str)]) -> Resp {
    let body: String =
        form.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
    let r = reqwest::Client::new()
        .post(format!("{base}/oauth2/v2.0/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    Resp { status: r.status(), headers: r.headers().clone(), text: r.text().await.unwrap() }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Api {
    pub async fn login(base: &str, user: &str, password: &str) -> Api {
        let r =
            token(base, &[("grant_type", "password"), ("username", user), ("password", password)])
                .await;
        assert_eq!(r.status, StatusCode::OK, "login {user}: {}", r.text);
        let token = r.json()["access_token"].as_str().unwrap().to_owned();
        Api { http: reqwest::Client::new(), base: base.to_owned(), token }
    }

    pub async fn admin(server: &TestServer) -> Api {
        Api::login(&server.base_url, "admin", &server.admin_password).await
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}/api/data/v9.2/{path}", self.base)
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .header("Accept", "application/json")
            .header("OData-MaxVersion", "4.0")
            .header("OData-Version", "4.0");
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.header("Content-Type", "application/json; charset=utf-8").body(b.to_string());
        }
        let r = rb.send().await.unwrap();
        Resp { status: r.status(), headers: r.headers().clone(), text: r.text().await.unwrap() }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, &[]).await
    }
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::GET, path, None, headers).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(&body), &[]).await
    }
    pub async fn create(&self, set: &str, body: Value) -> Value {
        let r =
            self.send(Method::POST, set, Some(&body), &[("Prefer", "return=representation")]).await;
        assert_eq!(r.status, StatusCode::CREATED, "create {set}: {}", r.text);
        r.json()
    }
    pub async fn patch(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::PATCH, path, Some(&body), headers).await
    }
    pub async fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::DELETE, path, None, headers).await
    }

    pub async fn batch(&self, body: &str, boundary: &str) -> Resp {
        let r = self
            .http
            .post(self.url("$batch"))
            .bearer_auth(&self.token)
            .header("Content-Type", format!("multipart/mixed; boundary={boundary}"))
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        Resp { status: r.status(), headers: r.headers().clone(), text: r.text().await.unwrap() }
    }

    pub async fn who_am_i(&self) -> String {
        self.get("WhoAmI").await.json()["UserId"].as_str().unwrap().to_owned()
    }

    /// All rows of a query, following `@odata.nextLink`; returns the rows and the page sizes.
    pub async fn all_pages(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (Vec<Value>, Vec<usize>, Option<String>) {
        let mut rows = vec![];
        let mut sizes = vec![];
        let mut next = Some(path.to_owned());
        let mut delta = None;
        while let Some(p) = next.take() {
            let r = self.get_with(&p, headers).await;
            assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.text);
            let j = r.json();
            let v = j["value"].as_array().cloned().unwrap_or_default();
            sizes.push(v.len());
            rows.extend(v);
            next = j["@odata.nextLink"].as_str().map(str::to_owned);
            delta = j["@odata.deltaLink"].as_str().map(str::to_owned);
        }
        (rows, sizes, delta)
    }

    /// Creates an interactive user with roles (by name) and a password; returns its id.
    pub async fn create_user(&self, name: &str, roles: &[&str], password: &str) -> String {
        let u = self
            .create("systemusers", json!({"domainname": name, "firstname": name, "lastname": "Test", "internalemailaddress": format!("{name}@example.com")}))
            .await;
        let id = u["systemuserid"].as_str().unwrap().to_owned();
        for role in roles {
            let roles =
                self.get(&format!("roles?$filter=name eq '{role}'&$select=roleid")).await.json();
            let rid = roles["value"][0]["roleid"].as_str().unwrap().to_owned();
            let r = self
                .post(
                    &format!("systemusers({id})/systemuserroles_association/$ref"),
                    json!({"@odata.id": self.url(&format!("roles({rid})"))}),
                )
                .await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        }
        let r = self
            .post(
                &format!("systemusers({id})/Microsoft.Dynamics.CRM.kontor_SetPassword"),
                json!({"Password": password}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        id
    }
}

/// Runs `f` on a fresh SQLite and a fresh PostgreSQL database, each with a server.
#[macro_export]
macro_rules! on_both_backends {
    (|$server:ident| $body:block) => {
        for db in kontor_testkit::backends().await {
            println!("running on {}", db.name);
            let $server = $crate::common::spawn_for_test(&db.url).await.expect("start Sales");
            $body
            println!("passed on {}", db.name);
        }
    };
}
