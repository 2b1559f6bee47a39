//! The authorization matrix, generated from the route tables the Financials listener is built
//! from (its own and the integration's): every route × {no credentials, a wrong password, a user
//! without the permission, a user with it}, on SQLite and PostgreSQL. A route added to a table
//! is covered without touching this file; a route cannot be mounted without a table entry
//! (`router_with` takes tables only), which the last tests check.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use kontor_financials_server::testing::{TEST_ADMIN_PASSWORD, basic_auth, state_for_test};
use kontor_financials_server::{
    Config, Permission, PermissionSet, Route, Verb, financials_routes, router_with,
};
use kontor_jobs::{ManualClock, Queue};
use kontor_store::Db;
use kontor_sync::store::SyncStore;
use kontor_sync_server::{SyncState, routes, table};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Who calls.
#[derive(Debug, Clone, Copy)]
enum Caller {
    Nobody,
    WrongPassword,
    /// A user holding only these permission sets.
    Holding(&'static str),
    Admin,
}

/// The users the matrix signs in as (name, permission sets); their password is `<name>-Pw-1`.
const USERS: [(&str, &str); 4] = [
    ("AVAILABILITY", "D365 ITEM AVAILABILITY"),
    ("CRMREADER", "D365 DYN CRM READ"),
    ("CRMMANAGER", "D365 DYN CRM MGT"),
    ("BUSINESS", "D365 BUS FULL ACCESS"),
];

fn user_of(sets: &str) -> &'static str {
    USERS.iter().find(|(_, s)| *s == sets).map(|(n, _)| *n).expect("a matrix user")
}

struct Listener {
    app: axum::Router,
    company: uuid::Uuid,
    _dirs: tempfile::TempDir,
}

/// A fresh database URL on `backend`.
async fn fresh(backend: &str, dir: &tempfile::TempDir) -> String {
    if backend == "postgres" {
        kontor_testkit::pg::url().await
    } else {
        kontor_testkit::sqlite_url(dir)
    }
}

/// The Financials listener with the integration's routes, as the binary serves them, and the
/// matrix's users.
async fn listener(url: &str, backend: &str) -> Listener {
    let dirs = tempfile::tempdir().unwrap();
    let fin = state_for_test(url, Config::default()).await;
    let company = fin.company.id;
    let db = Db::connect(&fresh(backend, &dirs).await).await.unwrap();
    let store = SyncStore::new(db.clone());
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()));
    let it = SyncState::new(store, Queue::with_clock(db, clock.clone()), clock);
    let l = Listener { app: router_with(fin, routes(it)), company, _dirs: dirs };
    for (name, sets) in USERS {
        let password = format!("{name}-Pw-1");
        let body = json!({"userName": name, "fullName": name, "permissionSets": sets, "password": password});
        let path = format!("/api/v2.0/companies({company})/users");
        let (status, v) = l.call(Caller::Admin, "POST", &path, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "create {name}: {v}");
    }
    l
}

impl Listener {
    async fn call(
        &self,
        caller: Caller,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req =
            Request::builder().method(method).uri(path).header("content-type", "application/json");
        let auth = match caller {
            Caller::Nobody => None,
            Caller::WrongPassword => Some(basic_auth("ADMIN", "not-the-password")),
            Caller::Holding(sets) => {
                let name = user_of(sets);
                Some(basic_auth(name, &format!("{name}-Pw-1")))
            }
            Caller::Admin => Some(basic_auth("ADMIN", TEST_ADMIN_PASSWORD)),
        };
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_default();
        let res = self.app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A request to `route` with its path parameters filled in.
    async fn call_route(&self, caller: Caller, route: &Described) -> (StatusCode, Value) {
        let path = concrete(route.path, self.company);
        let method = route.verb.method().map_or("GET".to_owned(), |m| m.to_string());
        let body = (method != "GET" && method != "DELETE").then(|| json!({}));
        self.call(caller, &method, &path, body).await
    }
}

/// A route of the tables without its handler.
#[derive(Debug, Clone, Copy)]
struct Described {
    verb: Verb,
    path: &'static str,
    permission: Permission,
}

fn describe<S>(r: &Route<S>) -> Described {
    Described { verb: r.verb, path: r.path, permission: r.permission }
}

/// Every route of the listener, from the tables it is built from.
fn all_routes() -> Vec<Described> {
    let fin = financials_routes();
    let it = table();
    fin.iter().map(describe).chain(it.iter().map(describe)).collect()
}

/// `path` with its parameters given values: mappings `CUSTOMER`, ids a GUID, the catch-alls a
/// request for this company's customers.
fn concrete(path: &str, company: uuid::Uuid) -> String {
    path.replace("{name}", "CUSTOMER")
        .replace("{mapping}", "CUSTOMER")
        .replace("{side}", "financials")
        .replace("{id}", "00000000-0000-0000-0000-0000000000aa")
        .replace("{*rest}", &format!("companies({company})/customers"))
}

/// The permission sets that do not grant `needed` (the callers who must be refused).
fn lacking(needed: PermissionSet) -> Vec<&'static str> {
    USERS
        .iter()
        .map(|(_, sets)| *sets)
        .filter(|sets| !PermissionSet::parse(sets).is_some_and(|held| held.implies(needed)))
        .collect()
}

/// The permission sets that grant `needed`.
fn holding(needed: PermissionSet) -> Vec<&'static str> {
    USERS
        .iter()
        .map(|(_, sets)| *sets)
        .filter(|sets| PermissionSet::parse(sets).is_some_and(|held| held.implies(needed)))
        .collect()
}

fn assert_odata_error(what: &str, v: &Value) {
    assert!(
        v["error"]["code"].as_str().is_some_and(|c| !c.is_empty())
            && v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: not the OData error body: {v}"
    );
}

#[tokio::test]
async fn every_route_refuses_missing_and_wrong_credentials_and_users_without_its_permission_set() {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let l = listener(&url, backend).await;
        let routes = all_routes();
        assert!(routes.len() >= 24, "the tables: {routes:?}");
        for route in &routes {
            let what = format!("{:?} {}", route.verb, route.path);
            if route.permission == Permission::Public {
                let (s, _) = l.call_route(Caller::Nobody, route).await;
                assert_eq!(s, StatusCode::OK, "{what} is public");
                continue;
            }
            for caller in [Caller::Nobody, Caller::WrongPassword] {
                let (s, v) = l.call_route(caller, route).await;
                assert_eq!(s, StatusCode::UNAUTHORIZED, "{what} as {caller:?}: {v}");
                assert_odata_error(&what, &v);
            }
            let (s, v) = l.call_route(Caller::Admin, route).await;
            assert!(
                s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
                "{what} as ADMIN (SUPER): {s} {v}"
            );
            let Permission::Set(needed) = route.permission else {
                continue;
            };
            for sets in lacking(needed) {
                let (s, v) = l.call_route(Caller::Holding(sets), route).await;
                assert_eq!(s, StatusCode::FORBIDDEN, "{what} as a user with {sets}: {v}");
                assert_odata_error(&what, &v);
                let message = v["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains(&format!("'{}'", needed.name())), "{what}: {message}");
            }
            for sets in holding(needed) {
                let (s, v) = l.call_route(Caller::Holding(sets), route).await;
                assert!(
                    s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
                    "{what} as a user with {sets}: {s} {v}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn the_api_routes_let_any_signed_in_user_in_and_check_the_permission_sets_inside() {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let l = listener(&url, backend).await;
        // (route, a user the check inside refuses, a user it lets through)
        let cases = [
            ("/api/v2.0", "D365 ITEM AVAILABILITY", "D365 BUS FULL ACCESS"),
            ("/api/v2.0/", "D365 DYN CRM MGT", "D365 BUS FULL ACCESS"),
            ("/api/v2.0/{*rest}", "D365 DYN CRM READ", "D365 BUS FULL ACCESS"),
            ("/ODataV4/{*rest}", "D365 DYN CRM MGT", "D365 ITEM AVAILABILITY"),
        ];
        let signed_in: Vec<Described> = all_routes()
            .into_iter()
            .filter(|r| matches!(r.permission, Permission::SignedIn { .. }))
            .collect();
        assert_eq!(signed_in.len(), cases.len(), "a case per signed-in route: {signed_in:?}");
        for route in &signed_in {
            let (_, refused, allowed) =
                cases.iter().find(|(p, ..)| *p == route.path).expect("a case for the route");
            let probe = Described {
                path: if route.path == "/ODataV4/{*rest}" {
                    "/ODataV4/$metadata"
                } else {
                    route.path
                },
                ..*route
            };
            let (s, v) = l.call_route(Caller::Holding(refused), &probe).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{} as {refused}: {v}", probe.path);
            assert_odata_error(probe.path, &v);
            let (s, v) = l.call_route(Caller::Holding(allowed), &probe).await;
            assert_eq!(s, StatusCode::OK, "{} as {allowed}: {v}", probe.path);
        }
    })
    .await;
}

#[test]
fn every_integration_route_needs_a_dyn_crm_permission_set_and_the_setup_needs_super() {
    use PermissionSet::{DynCrmMgt, DynCrmRead, Super};
    for r in table() {
        let Permission::Set(set) = r.permission else {
            panic!("{r:?} must name a permission set");
        };
        let expected = match (r.verb, r.path) {
            (_, "/integration/v1/setup") => Super,
            (Verb::Get, _) => DynCrmRead,
            _ => DynCrmMgt,
        };
        assert_eq!(set, expected, "{r:?}");
    }
}

#[test]
fn the_route_tables_name_each_method_and_path_once() {
    let routes = all_routes();
    for (i, a) in routes.iter().enumerate() {
        for b in &routes[i + 1..] {
            let clash = a.path == b.path
                && (a.verb == b.verb || a.verb == Verb::Any || b.verb == Verb::Any);
            assert!(!clash, "{a:?} and {b:?}");
        }
    }
}

#[tokio::test]
async fn a_path_no_table_names_answers_404_with_the_odata_error_body_signed_in_or_not() {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let l = listener(&url, backend).await;
        for path in ["/integration/v1/unknown", "/integration/v2/jobs", "/admin", "/api/v1.0"] {
            for caller in [Caller::Nobody, Caller::Admin] {
                let (s, v) = l.call(caller, "GET", path, None).await;
                assert_eq!(s, StatusCode::NOT_FOUND, "{path} as {caller:?}: {v}");
                assert_odata_error(path, &v);
            }
        }
    })
    .await;
}

/// The server crates mount routes only through the route table (`routes::build`); a
/// `Router::route` call or a `routing::get`-style router anywhere else would mount a route with
/// no permission.
#[test]
fn no_route_is_mounted_outside_the_route_table() {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let allowed = crates.join("financials-server/src/routes.rs");
    let mut checked = 0;
    for dir in ["financials-server/src", "sync-server/src"] {
        for entry in std::fs::read_dir(crates.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") || path == allowed {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for needle in [".route(", ".nest(", "routing::get", "routing::post", "routing::any"] {
                assert!(!text.contains(needle), "{} mounts a route: {needle}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "the server sources were read ({checked})");
}
