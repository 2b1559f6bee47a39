//! The OAuth2 token endpoint (`POST /oauth2/v2.0/token`, also under `/{tenant}/…` like Entra ID)
//! and bearer-token authentication of API requests.
//!
//! Grants: `client_credentials` (application users: `client_id` = the user's `applicationid`,
//! `client_secret`; also HTTP Basic) and `password` (interactive users: `username` = domainname or
//! e-mail). Tokens are opaque random strings stored as sha256 hashes, valid for the configured
//! lifetime. Errors follow RFC 6749 (`{"error":"invalid_client","error_description":…}`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use kontor_sales::directory::{self, ClientLogin, Principal};
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r =
        (status, Json(json!({"error": error, "error_description": description}))).into_response();
    r.headers_mut().insert("Cache-Control", axum::http::HeaderValue::from_static("no-store"));
    r
}

/// Reads `application/x-www-form-urlencoded` pairs.
fn form(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| kontor_odata::query::percent_decode(s).ok();
            Some((dec(k)?, dec(v)?))
        })
        .collect()
}

/// `POST /oauth2/v2.0/token`.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    match token_inner(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn token_inner(state: &AppState, headers: &HeaderMap, body: &[u8]) -> ApiResult<Response> {
    let mut f = form(body);
    // client_secret_basic
    if let Some(basic) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        && let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(basic.trim())
    {
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some((id, secret)) = text.split_once(':') {
            f.entry("client_id".into()).or_insert_with(|| id.to_owned());
            f.entry("client_secret".into()).or_insert_with(|| secret.to_owned());
        }
    }
    let db = state.db();
    let user = match f.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {
            let (Some(id), Some(secret)) = (f.get("client_id"), f.get("client_secret")) else {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "AADSTS900144: The request body must contain the following parameters: 'client_id' and 'client_secret'.",
                ));
            };
            match directory::client_login(db, id, secret).await? {
                ClientLogin::Ok(user) => user,
                ClientLogin::UnknownClient => {
                    return Ok(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "unauthorized_client",
                        &format!(
                            "AADSTS700016: Application with identifier '{id}' was not found in the directory."
                        ),
                    ));
                }
                ClientLogin::WrongSecret => {
                    return Ok(oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        &format!(
                            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{id}'."
                        ),
                    ));
                }
            }
        }
        Some("password") => {
            let (Some(u), Some(p)) = (f.get("username"), f.get("password")) else {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "AADSTS900144: The request body must contain the following parameters: 'username' and 'password'.",
                ));
            };
            match directory::password_login(db, u, p).await? {
                Some(user) => user,
                None => {
                    return Ok(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "AADSTS50126: Error validating credentials due to invalid username or password.",
                    ));
                }
            }
        }
        other => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!(
                    "AADSTS70003: The app requested an unsupported grant type '{}'. Use client_credentials or password.",
                    other.unwrap_or("")
                ),
            ));
        }
    };
    let ttl = state.config().token_lifetime;
    let token = directory::issue_token(db, user, ttl).await?;
    let secs = ttl.as_secs();
    let mut r = Json(json!({
        "token_type": "Bearer",
        "expires_in": secs,
        "ext_expires_in": secs,
        "access_token": token.expose(),
    }))
    .into_response();
    r.headers_mut().insert("Cache-Control", axum::http::HeaderValue::from_static("no-store"));
    Ok(r)
}

/// The principal behind the request's bearer token.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> ApiResult<Principal> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)?;
    directory::authenticate(state.db(), token).await?.ok_or_else(ApiError::unauthorized)
}
