//! `$batch`: OData multipart (`multipart/mixed`, change sets atomic, `Content-ID` / `$n`) and
//! Business Central's JSON batch (`{"requests":[…]}`, atomic with `Isolation: snapshot`). Each
//! operation runs through the same executor as a plain request; at most 1,000 operations.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use kontor_financials::service;
use kontor_financials::users::Principal;
use kontor_odata::batch::{self as ob, BatchPart, BatchResponse, ResponsePart};
use serde_json::{Value as Json, json};

use crate::AppState;
use crate::api::{self, ApiRequest, ApiResponse};
use crate::error::ApiError;

/// The most operations one batch may carry (Business Central allows 100).
pub const MAX_OPERATIONS: usize = 1000;

/// Turns an operation's URL into a path relative to the service root.
fn relative(url: &str, service_root: &str) -> (String, String) {
    let mut u = url.trim();
    if let Some(rest) = u.strip_prefix(service_root) {
        u = rest;
    } else if let Some(i) = u.find("://") {
        let after = &u[i + 3..];
        u = after.find('/').map_or("", |j| &after[j..]);
    }
    let u = u.trim_start_matches('/');
    let u = u.strip_prefix("api/v2.0/").unwrap_or(u);
    let (path, query) = u.split_once('?').unwrap_or((u, ""));
    (path.to_owned(), query.to_owned())
}

fn to_api(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
    service_root: &str,
) -> Result<ApiRequest, ApiError> {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|_| {
        ApiError::bad_request("BadRequest", format!("'{method}' is not an HTTP method."))
    })?;
    let (path, query) = relative(url, service_root);
    Ok(ApiRequest {
        method,
        path,
        query,
        headers: headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect(),
        body,
        service_root: service_root.to_owned(),
    })
}

fn to_part(content_id: Option<String>, r: Result<ApiResponse, ApiError>) -> ob::Response {
    match r {
        Ok(resp) => {
            let mut out = match &resp.body {
                Some(b) => ob::Response::json(resp.status.as_u16(), b),
                None => ob::Response::new(resp.status.as_u16()),
            };
            for (k, v) in &resp.headers {
                out = out.with_header(k, v);
            }
            out.with_content_id(content_id)
        }
        Err(e) => ob::Response::json(e.status().as_u16(), &e.body()).with_content_id(content_id),
    }
}

/// The multipart `$batch`.
pub async fn multipart(
    state: &AppState,
    principal: &Principal,
    content_type: &str,
    body: &[u8],
    service_root: &str,
) -> Result<(String, Vec<u8>), ApiError> {
    let batch = ob::parse(content_type, body)
        .map_err(|e| ApiError(e.with_code("BadRequest_InvalidBatch")))?;
    if batch.operation_count() > MAX_OPERATIONS {
        return Err(ApiError::bad_request(
            "BadRequest_InvalidBatch",
            format!(
                "The batch has {} operations; at most {MAX_OPERATIONS} are allowed.",
                batch.operation_count()
            ),
        ));
    }
    let all_reads = batch.parts.iter().all(|p| match p {
        BatchPart::Request(r) => r.method.eq_ignore_ascii_case("GET"),
        BatchPart::ChangeSet(_) => false,
    });
    // One transaction for the whole batch; every operation (and every change set) runs in its
    // own savepoint, so a failure undoes only that operation (or change set), and the batch
    // costs one commit instead of one per operation.
    let mut tx = if all_reads {
        state.db.begin_read().await?
    } else {
        service::begin_write(&state.db).await?
    };
    let mut out = BatchResponse::default();
    let mut ids: HashMap<String, String> = HashMap::new();
    for part in batch.parts {
        match part {
            BatchPart::Request(r) => {
                let resolved_url = ob::resolve_references(&r.url, |id| ids.get(id).cloned());
                let result = match to_api(
                    &r.method,
                    &resolved_url,
                    &r.headers,
                    r.body.clone(),
                    service_root,
                ) {
                    Ok(req) => {
                        tx.savepoint().await?;
                        let result = api::execute(state, principal, &req, &mut tx).await;
                        tx.end_savepoint(result.is_ok()).await?;
                        result
                    }
                    Err(e) => Err(e),
                };
                remember(&mut ids, r.content_id.as_deref(), &result);
                out.parts.push(ResponsePart::Response(to_part(r.content_id, result)));
            }
            BatchPart::ChangeSet(requests) => {
                tx.savepoint().await?;
                let mut responses = Vec::new();
                let mut failed = None;
                let mut created = Vec::new();
                for r in requests {
                    let url = ob::resolve_references(&r.url, |id| ids.get(id).cloned());
                    let body_text = String::from_utf8_lossy(&r.body).into_owned();
                    let body =
                        ob::resolve_references(&body_text, |id| ids.get(id).cloned()).into_bytes();
                    let result = match to_api(&r.method, &url, &r.headers, body, service_root) {
                        Ok(req) => api::execute(state, principal, &req, &mut tx).await,
                        Err(e) => Err(e),
                    };
                    match result {
                        Ok(resp) => {
                            remember(&mut ids, r.content_id.as_deref(), &Ok(resp.clone()));
                            created.extend(r.content_id.clone());
                            responses.push(to_part(r.content_id, Ok(resp)));
                        }
                        Err(e) => {
                            failed = Some(to_part(r.content_id, Err(e)));
                            break;
                        }
                    }
                }
                tx.end_savepoint(failed.is_none()).await?;
                match failed {
                    Some(err) => {
                        for id in created {
                            ids.remove(&id);
                        }
                        out.parts.push(ResponsePart::Response(err));
                    }
                    None => out.parts.push(ResponsePart::ChangeSet(responses)),
                }
            }
        }
    }
    if all_reads {
        tx.commit().await?;
    } else {
        state.commit_write(tx).await?;
    }
    Ok(ob::write_response(&out))
}

/// Records where a created entity lives, for later `$<content-id>` references.
fn remember(
    ids: &mut HashMap<String, String>,
    content_id: Option<&str>,
    result: &Result<ApiResponse, ApiError>,
) {
    if let (Some(id), Ok(resp)) = (content_id, result)
        && let Some((_, loc)) = resp.headers.iter().find(|(k, _)| k == "location")
    {
        ids.insert(id.to_owned(), loc.clone());
    }
}

/// Business Central's JSON batch.
pub async fn json_batch(
    state: &AppState,
    principal: &Principal,
    body: &[u8],
    atomic: bool,
    service_root: &str,
) -> Result<Json, ApiError> {
    let parsed: Json = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("BadRequest_InvalidBatch", format!("Invalid batch body: {e}."))
    })?;
    let requests = parsed.get("requests").and_then(Json::as_array).ok_or_else(|| {
        ApiError::bad_request("BadRequest_InvalidBatch", "The batch body needs a 'requests' array.")
    })?;
    if requests.len() > MAX_OPERATIONS {
        return Err(ApiError::bad_request(
            "BadRequest_InvalidBatch",
            format!(
                "The batch has {} operations; at most {MAX_OPERATIONS} are allowed.",
                requests.len()
            ),
        ));
    }
    let mut ops = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let id = r.get("id").map_or_else(
            || (i + 1).to_string(),
            |v| v.as_str().map_or_else(|| v.to_string(), str::to_owned),
        );
        let method = r.get("method").and_then(Json::as_str).unwrap_or("GET").to_owned();
        let url = r.get("url").and_then(Json::as_str).unwrap_or("").to_owned();
        let headers: Vec<(String, String)> = r
            .get("headers")
            .and_then(Json::as_object)
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let body =
            r.get("body").map(|b| serde_json::to_vec(b).unwrap_or_default()).unwrap_or_default();
        ops.push((id, to_api(&method, &url, &headers, body, service_root)));
    }
    let mut responses = Vec::with_capacity(ops.len());
    let render = |id: &str, r: Result<ApiResponse, ApiError>| match r {
        Ok(resp) => {
            let headers: serde_json::Map<String, Json> =
                resp.headers.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect();
            let mut o = json!({"id": id, "status": resp.status.as_u16(), "headers": headers});
            if let Some(b) = resp.body {
                o["body"] = b;
            }
            o
        }
        Err(e) => json!({"id": id, "status": e.status().as_u16(), "headers": {}, "body": e.body()}),
    };
    if atomic {
        let mut tx = service::begin_write(&state.db).await?;
        for (id, req) in ops {
            let r = match req {
                Ok(req) => api::execute(state, principal, &req, &mut tx).await,
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                drop(tx);
                return Ok(json!({"responses": [render(&id, Err(e))]}));
            }
            responses.push(render(&id, r));
        }
        state.commit_write(tx).await?;
    } else {
        let mut tx = service::begin_write(&state.db).await?;
        for (id, req) in ops {
            let r = match req {
                Ok(req) => {
                    tx.savepoint().await?;
                    let r = api::execute(state, principal, &req, &mut tx).await;
                    tx.end_savepoint(r.is_ok()).await?;
                    r
                }
                Err(e) => Err(e),
            };
            responses.push(render(&id, r));
        }
        state.commit_write(tx).await?;
    }
    let _ = StatusCode::OK;
    Ok(json!({"responses": responses}))
}
