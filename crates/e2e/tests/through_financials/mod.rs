//! The integration's JSON API as the Financials process serves it (its authentication and
//! permission sets in front), called in process, and a stand-in cipher for the sealed
//! credentials. Shared by the API tests.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kontor_financials_server::testing::{TEST_ADMIN_PASSWORD, TestServer, basic_auth};
use kontor_sync_server::{SyncState, routes};
use serde_json::Value;
use tower::ServiceExt;

/// The integration's routes behind the Financials router, on the database of `fin`.
pub async fn router(fin: &TestServer, state: SyncState) -> axum::Router {
    let fin_state =
        kontor_financials_server::AppState::new(fin.db.clone(), Default::default()).await.unwrap();
    kontor_financials_server::router_with(fin_state, routes(state))
}

/// One request as ADMIN; the status and the JSON answer (null when none).
pub async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("authorization", basic_auth("ADMIN", TEST_ADMIN_PASSWORD));
    let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_default()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A stand-in cipher for the store's sealed credentials (XOR, hex).
pub struct XorSealer;

impl kontor_sync::credentials::Sealer for XorSealer {
    fn seal(&self, p: &str) -> String {
        p.bytes().map(|b| format!("{:02x}", b ^ 0x5a)).collect()
    }
    fn open(&self, s: &str) -> Option<String> {
        let bytes: Option<Vec<u8>> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok().map(|b| b ^ 0x5a))
            .collect();
        String::from_utf8(bytes?).ok()
    }
}
