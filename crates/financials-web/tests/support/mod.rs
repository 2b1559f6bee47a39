//! What the web client's tests share: a fresh Financials database with users of each
//! permission set, the integration's store with the default mappings and two job queue
//! entries, and a cookie-keeping client over the router (tower `oneshot`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::{DateTime, Utc};
use kontor_financials::credentials::{Permissions, Secret};
use kontor_financials::users::{self, Authenticator};
use kontor_financials_web::WebState;
use kontor_integration::Integration;
use kontor_jobs::{ManualClock, NewJob, Outcome, Queue};
use kontor_store::Db;
use kontor_sync::defaults::default_mappings;
use kontor_sync::store::SyncStore;
use tower::ServiceExt;

pub mod connected;

pub const ADMIN_PASSWORD: &str = "Kontor-Admin-1";
/// Every other user's password.
pub const PASSWORD: &str = "Kontor-User-1";

/// The users a fresh setup has besides ADMIN: (name, full name, permission sets).
pub const USERS: [(&str, &str, &str); 3] = [
    ("ANNA", "Anna Accountant", "D365 BUS FULL ACCESS, D365 DYN CRM READ"),
    ("ITEMS", "Item Availability", "D365 ITEM AVAILABILITY"),
    ("READER", "Read Only", "D365 READ"),
];

pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// A fresh setup on `url`.
pub struct Setup {
    pub db: Db,
    pub state: WebState,
    pub integration: Integration,
}

pub async fn setup(url: &str) -> Setup {
    let db = Db::connect(url).await.unwrap();
    kontor_financials::bootstrap(&db, Some(ADMIN_PASSWORD.to_owned())).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    for (name, full, sets) in USERS {
        let p = Permissions::parse(sets).unwrap();
        users::create_user(&mut tx, name, full, &p, Some(&Secret::new(PASSWORD)), None)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let store = SyncStore::new(db.clone());
    store.migrate().await.unwrap();
    store.save_mappings(&default_mappings(), true, false, t0()).await.unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let queue = Queue::with_clock(db.clone(), clock.clone());
    queue.migrate().await.unwrap();
    let every = NewJob::new("sync.incremental", serde_json::json!({"mapping": "CUSTOMER"}))
        .description("CUSTOMER - Dynamics 365 Sales synchronization job")
        .every(Duration::from_secs(30));
    queue.enqueue(every).await.unwrap();
    let failing = NewJob::new("sync.full", serde_json::json!({}))
        .description("Full synchronization of CURRENCY")
        .max_attempts(1);
    let id = queue.enqueue(failing).await.unwrap();
    let job = queue
        .claim_kinds("w", &["sync.full".to_owned()], t0(), Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.id(), id);
    queue.complete(&job, Outcome::Failed("Sales answered 503".into()), t0()).await.unwrap();
    let integration = Integration::new(store, queue, clock);
    let state = WebState::new(
        db.clone(),
        Arc::new(Authenticator::new(db.clone())),
        Some(integration.clone()),
    );
    Setup { db, state, integration }
}

/// An answer: status, headers, body.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
    }
    /// The `value` of the first hidden `csrf` field.
    pub fn csrf_field(&self) -> String {
        value_after(&self.body, "name=\"csrf\" value=\"")
    }
    /// The `<title>`.
    pub fn title(&self) -> String {
        value_between(&self.body, "<title>", "</title>")
    }
}

pub fn value_after(body: &str, marker: &str) -> String {
    value_between(body, marker, "\"")
}

pub fn value_between(body: &str, start: &str, end: &str) -> String {
    let Some(at) = body.find(start) else { return String::new() };
    let rest = &body[at + start.len()..];
    rest[..rest.find(end).unwrap_or(rest.len())].to_owned()
}

/// A browser-like client: keeps cookies, sends `Accept: text/html`, follows no redirects.
pub struct Client {
    pub app: Router,
    pub cookies: BTreeMap<String, String>,
    /// The session's CSRF token (from the last page that had one).
    pub csrf: String,
}

impl Client {
    pub fn new(app: Router) -> Client {
        Client { app, cookies: BTreeMap::new(), csrf: String::new() }
    }

    pub async fn send(&mut self, req: Request<Body>) -> Answer {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        for c in headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
        let body = String::from_utf8(bytes.to_vec()).unwrap();
        let csrf = value_after(&body, "\"X-CSRF-Token\": \"");
        if !csrf.is_empty() {
            self.csrf = csrf;
        }
        Answer { status, headers, body }
    }

    fn request(&self, method: Method, path: &str) -> axum::http::request::Builder {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "erp.test")
            .header(header::ACCEPT, "text/html");
        if !self.cookies.is_empty() {
            let all: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            b = b.header(header::COOKIE, all.join("; "));
        }
        b
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let req = self.request(Method::GET, path).body(Body::empty()).unwrap();
        self.send(req).await
    }

    /// A GET with these headers (replacing the client's own, e.g. `accept`).
    pub async fn get_with(&mut self, path: &str, headers: &[(&'static str, &str)]) -> Answer {
        let mut req = self.request(Method::GET, path).body(Body::empty()).unwrap();
        for (k, v) in headers {
            req.headers_mut().insert(*k, v.parse().unwrap());
        }
        self.send(req).await
    }

    /// A form POST with these fields and extra headers.
    pub async fn post(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut b = self
            .request(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(b.body(Body::from(body)).unwrap()).await
    }

    /// Signs in through the form; returns the answer to the POST.
    pub async fn sign_in(&mut self, user: &str, password: &str) -> Answer {
        let form = self.get("/signin").await;
        let token = form.csrf_field();
        let fields = [("csrf", token.as_str()), ("user_name", user), ("password", password)];
        let answer = self.post("/signin", &fields, &[("origin", "http://erp.test")]).await;
        if answer.status == StatusCode::SEE_OTHER {
            self.get("/").await;
        }
        answer
    }

    /// A POST of a signed-in page with the session's CSRF token in its hidden field.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.csrf.clone();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all, &[("origin", "http://erp.test"), ("sec-fetch-site", "same-origin")])
            .await
    }
}

/// `body` with what changes from run to run replaced: the CSRF token, user and entry ids.
pub async fn redact(setup: &Setup, csrf: &str, body: &str) -> String {
    let mut out = body.replace(csrf, "[csrf]");
    for u in users::list(&setup.db).await.unwrap() {
        out = out.replace(&u.id.to_string(), &format!("[id of {}]", u.user_name));
    }
    let entries =
        setup.integration.job_queue_entries(kontor_integration::JobQueueQuery::default()).await;
    for (n, e) in entries.unwrap().iter().enumerate() {
        out = out.replace(&e.id.to_string(), &format!("[entry {n}]"));
    }
    out
}
