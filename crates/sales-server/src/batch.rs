//! `$batch` (entities-reference B.6): multipart/mixed requests with atomic change sets,
//! `Content-ID` and `$n` references, answered as multipart/mixed.
//!
//! Reading and writing the multipart bodies is `kontor_odata::batch`'s; what is Dataverse's stays
//! here: each part runs through [`dispatch::execute`] (a change set in one transaction, answered by one
//! error part when it fails), `Prefer: odata.continue-on-error`, `$n` references (in URLs and in
//! `@odata.bind` / `@odata.id` values, within a change set), the Dataverse error codes and the
//! 1,000-operation limit.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use bytes::Bytes;
use kontor_odata::batch::{self as ob, BatchPart, BatchResponse, ResponsePart};
use kontor_store::Tx;
use serde_json::Value;

use crate::dispatch;
use crate::error::{ApiError, ApiResult, code};
use crate::request::{Ctx, Reply, Request, decode_path};

/// Most operations one batch may carry (Dataverse: 1,000).
pub const MAX_OPERATIONS: usize = ob::MAX_OPERATIONS;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(code::PAYLOAD, msg)
}

/// Parses a `$batch` body; errors come in Dataverse's codes.
pub fn parse(content_type: &str, body: &[u8]) -> ApiResult<Vec<BatchPart>> {
    match ob::parse(content_type, body) {
        Ok(batch) => Ok(batch.parts),
        Err(e) if e.code == ob::TOO_MANY_OPERATIONS => Err(ApiError::bad_request(
            code::INVALID_ARGUMENT,
            format!(
                "The batch has more than {MAX_OPERATIONS} requests; the limit is {MAX_OPERATIONS}."
            ),
        )),
        Err(e) => Err(bad(e.message)),
    }
}

/// The URL a `Content-ID` of the change set stands for (the created entity's `OData-EntityId`).
fn lookup(ids: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
    |n| ids.iter().find(|(id, _)| id == n).map(|(_, url)| url.clone())
}

/// Turns a part URL into `(path below /api/data/v9.2/, query)`, resolving `$n` references.
fn resolve_url(url: &str, ids: &[(String, String)]) -> ApiResult<(String, String)> {
    let u = ob::resolve_references(url, lookup(ids));
    if let Some(rest) = u.strip_prefix('$') {
        let n: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .collect();
        return Err(bad(format!(
            "The Content-ID reference '${n}' does not name an earlier request of the change set."
        )));
    }
    let tail = match u.find("/api/data/v9.2/") {
        Some(i) => u[i + "/api/data/v9.2/".len()..].to_owned(),
        None => u.trim_start_matches('/').to_owned(),
    };
    let (path, query) = tail
        .split_once('?')
        .map(|(p, q)| (p.to_owned(), q.to_owned()))
        .unwrap_or((tail, String::new()));
    Ok((decode_path(&path), query))
}

/// Replaces `"$n"` references in `@odata.bind` / `@odata.id` values.
fn resolve_body(body: &[u8], ids: &[(String, String)]) -> Bytes {
    if ids.is_empty() || !body.contains(&b'$') {
        return Bytes::copy_from_slice(body);
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return Bytes::copy_from_slice(body);
    };
    fn walk(v: &mut Value, ids: &[(String, String)]) {
        match v {
            Value::Object(o) => {
                for (k, val) in o.iter_mut() {
                    if k.ends_with("@odata.bind") || k == "@odata.id" {
                        if let Value::String(s) = val
                            && s.starts_with('$')
                        {
                            *s = ob::resolve_references(s, lookup(ids));
                        }
                    } else {
                        walk(val, ids);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, ids)),
            _ => {}
        }
    }
    walk(&mut v, ids);
    Bytes::from(v.to_string())
}

fn to_request(r: &ob::Request, ids: &[(String, String)]) -> ApiResult<Request> {
    let (path, query) = resolve_url(&r.url, ids)?;
    let method = Method::from_bytes(r.method.as_bytes())
        .map_err(|_| bad(format!("Unknown method '{}'.", r.method)))?;
    let mut headers = HeaderMap::new();
    for (k, v) in &r.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            headers.append(k, v);
        }
    }
    Ok(Request { method, path, query, headers, body: resolve_body(&r.body, ids) })
}

/// One answer as a response part, with the headers Dataverse sends.
fn to_part(content_id: Option<String>, reply: &Reply) -> ob::Response {
    let mut headers = vec![("OData-Version".to_owned(), "4.0".to_owned())];
    headers.extend(reply.headers.iter().cloned());
    let body = if let Some(body) = &reply.body {
        headers.push((
            "Content-Type".to_owned(),
            "application/json; odata.metadata=minimal; odata.streaming=true".to_owned(),
        ));
        body.to_string().into_bytes()
    } else if let Some((ct, bytes)) = &reply.raw {
        headers.push(("Content-Type".to_owned(), ct.clone()));
        bytes.clone()
    } else {
        vec![]
    };
    ob::Response { content_id, status: reply.status.as_u16(), headers, body }
}

fn error_reply(e: &ApiError) -> Reply {
    Reply { status: e.status, headers: vec![], body: Some(e.body()), raw: None }
}

/// Runs a parsed batch; returns the response's content type and its multipart body
/// (`batchresponse_…` / `changesetresponse_…` boundaries).
pub async fn run(
    ctx: &Ctx<'_>,
    parts: Vec<BatchPart>,
    continue_on_error: bool,
) -> ApiResult<(String, Vec<u8>)> {
    // One transaction for the whole batch; every request (and every change set) runs in its own
    // savepoint, so a failure undoes only that request (or change set), as if each had its own
    // transaction, while the batch costs one commit instead of one per request.
    let all_reads = parts.iter().all(|p| match p {
        BatchPart::Request(r) => r.method.eq_ignore_ascii_case("GET"),
        BatchPart::ChangeSet(_) => false,
    });
    let db = ctx.state.db();
    let mut tx: Tx = if all_reads { db.begin_read().await? } else { db.begin().await? };
    let mut out = BatchResponse::default();
    for part in parts {
        match part {
            BatchPart::Request(r) => {
                tx.savepoint().await?;
                let result = single(ctx, &mut tx, &r).await;
                tx.end_savepoint(result.is_ok()).await?;
                let reply = result.unwrap_or_else(|e| error_reply(&e));
                let failed = reply.status.is_client_error() || reply.status.is_server_error();
                out.parts.push(ResponsePart::Response(to_part(r.content_id, &reply)));
                if failed && !continue_on_error {
                    break;
                }
            }
            BatchPart::ChangeSet(reqs) => {
                tx.savepoint().await?;
                let result = change_set(ctx, &mut tx, &reqs).await;
                tx.end_savepoint(result.is_ok()).await?;
                match result {
                    Ok(replies) => out.parts.push(ResponsePart::ChangeSet(
                        reqs.into_iter()
                            .zip(&replies)
                            .map(|(r, reply)| to_part(r.content_id, reply))
                            .collect(),
                    )),
                    Err((content_id, err)) => {
                        out.parts
                            .push(ResponsePart::Response(to_part(content_id, &error_reply(&err))));
                        if !continue_on_error {
                            break;
                        }
                    }
                }
            }
        }
    }
    tx.commit().await?;
    Ok(ob::write_response(&out))
}

async fn single(ctx: &Ctx<'_>, tx: &mut Tx, r: &ob::Request) -> ApiResult<Reply> {
    let req = to_request(r, &[])?;
    if req.path.starts_with("$batch") {
        return Err(bad("A batch cannot contain another batch."));
    }
    dispatch::execute(ctx, tx, &req).await
}

/// Runs a change set inside the batch's transaction (its savepoint undoes it as a whole): its
/// replies, or the failing request's Content-ID and error.
async fn change_set(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    reqs: &[ob::Request],
) -> Result<Vec<Reply>, (Option<String>, ApiError)> {
    let mut ids: Vec<(String, String)> = vec![];
    let mut replies = vec![];
    for r in reqs {
        let result = match to_request(r, &ids) {
            Ok(req) => dispatch::execute(ctx, tx, &req).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(reply) => {
                if let (Some(cid), Some(url)) = (&r.content_id, reply.entity_id()) {
                    ids.push((cid.clone(), url.to_owned()));
                }
                replies.push(reply);
            }
            Err(e) => return Err((r.content_id.clone(), e)),
        }
    }
    Ok(replies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    const BODY: &str = "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_2\r\n\r\n--changeset_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\nPOST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"name\":\"A\"}\r\n--changeset_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\nPOST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"lastname\":\"B\",\"parentcustomerid_account@odata.bind\":\"$1\"}\r\n--changeset_2--\r\n--batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET /api/data/v9.2/accounts?$select=name HTTP/1.1\r\nAccept: application/json\r\n\r\n--batch_1--\r\n";

    #[test]
    fn a_batch_with_a_change_set_and_a_get_parses() {
        let parts = parse("multipart/mixed; boundary=\"batch_1\"", BODY.as_bytes()).unwrap();
        assert_eq!(parts.len(), 2);
        let BatchPart::ChangeSet(cs) = &parts[0] else { panic!("expected a change set") };
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0].content_id.as_deref(), Some("1"));
        assert_eq!(cs[0].body_str(), Some("{\"name\":\"A\"}"));
        assert_eq!(cs[1].method, Method::POST.as_str());
        let BatchPart::Request(get) = &parts[1] else { panic!("expected a request") };
        assert_eq!(get.url, "/api/data/v9.2/accounts?$select=name");
        let ids = vec![("1".to_owned(), "http://h/api/data/v9.2/accounts(x)".to_owned())];
        let req = to_request(&cs[1], &ids).unwrap();
        assert!(String::from_utf8_lossy(&req.body).contains("http://h/api/data/v9.2/accounts(x)"));
        let (path, query) = resolve_url("$1/name", &ids).unwrap();
        assert_eq!((path.as_str(), query.as_str()), ("accounts(x)/name", ""));
    }

    #[test]
    fn batches_written_by_the_odata_crate_parse_and_our_answers_read_back() {
        use kontor_odata::batch as ob;
        let id = Uuid::new_v4();
        let batch = ob::Batch {
            parts: vec![
                ob::BatchPart::Request(ob::Request {
                    content_id: Some("1".into()),
                    method: "PATCH".into(),
                    url: format!("http://h/api/data/v9.2/accounts({id})"),
                    headers: vec![("Content-Type".into(), "application/json".into())],
                    body: b"{\"name\":\"A\"}".to_vec(),
                }),
                ob::BatchPart::Request(ob::Request {
                    content_id: Some("2".into()),
                    method: "DELETE".into(),
                    url: format!("http://h/api/data/v9.2/accounts({id})"),
                    headers: vec![],
                    body: vec![],
                }),
            ],
        };
        let (ct, body) = ob::write_request(&batch);
        let parts = parse(&ct, &body).unwrap();
        assert_eq!(parts.len(), 2);
        let BatchPart::Request(r) = &parts[0] else { panic!("expected a request") };
        assert_eq!((r.method.as_str(), r.body_str().unwrap()), ("PATCH", "{\"name\":\"A\"}"));
        let req = to_request(r, &[]).unwrap();
        assert_eq!(req.path, format!("accounts({id})"));

        let err = ApiError::not_found("account", id);
        let answer = BatchResponse {
            parts: vec![
                ResponsePart::Response(to_part(
                    Some("1".into()),
                    &Reply {
                        status: axum::http::StatusCode::NO_CONTENT,
                        headers: vec![],
                        body: None,
                        raw: None,
                    },
                )),
                ResponsePart::Response(to_part(Some("2".into()), &error_reply(&err))),
            ],
        };
        let (ct, out) = ob::write_response(&answer);
        assert!(ct.starts_with("multipart/mixed; boundary=batchresponse_"));
        let parsed = ob::parse_response(&ct, &out).unwrap();
        let statuses: Vec<(Option<String>, u16)> = parsed
            .parts
            .into_iter()
            .map(|p| match p {
                ob::ResponsePart::Response(r) => (r.content_id, r.status),
                ob::ResponsePart::ChangeSet(_) => (None, 0),
            })
            .collect();
        assert_eq!(statuses, vec![(Some("1".into()), 204), (Some("2".into()), 404)]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_batch_bodies_never_panic(body in "(--b|\r\n|Content-Type: (application/http|multipart/mixed; boundary=c)|--c|GET |POST |\\$1|HTTP/1.1|[ -~]{0,8}){0,40}") {
            if let Ok(parts) = parse("multipart/mixed; boundary=b", body.as_bytes()) {
                for p in parts {
                    let reqs = match p { BatchPart::Request(r) => vec![r], BatchPart::ChangeSet(rs) => rs };
                    for r in reqs {
                        let _ = to_request(&r, &[("1".into(), "http://h/api/data/v9.2/accounts(x)".into())]);
                    }
                }
            }
        }
    }

    #[test]
    fn malformed_batches_are_refused() {
        assert!(parse("application/json", BODY.as_bytes()).is_err());
        assert!(parse("multipart/mixed; boundary=other", BODY.as_bytes()).is_err());
        let unterminated = BODY.replace("--batch_1--", "");
        assert!(parse("multipart/mixed; boundary=batch_1", unterminated.as_bytes()).is_err());
        let get_in_cs =
            BODY.replace("POST /api/data/v9.2/accounts HTTP", "GET /api/data/v9.2/accounts HTTP");
        assert!(parse("multipart/mixed; boundary=batch_1", get_in_cs.as_bytes()).is_err());
        assert!(
            parse(
                "multipart/mixed; boundary=batch_1",
                b"--batch_1\r\nContent-Type: text/plain\r\n\r\nx\r\n--batch_1--"
            )
            .is_err()
        );
    }

    #[test]
    fn more_than_a_thousand_operations_are_refused_with_invalid_argument() {
        let get = |n: usize| {
            "--b\r\nContent-Type: application/http\r\n\r\nGET /api/data/v9.2/accounts HTTP/1.1\r\n\r\n"
                .repeat(n)
                + "--b--\r\n"
        };
        let ct = "multipart/mixed; boundary=b";
        assert_eq!(parse(ct, get(MAX_OPERATIONS).as_bytes()).unwrap().len(), MAX_OPERATIONS);
        let e = parse(ct, get(MAX_OPERATIONS + 1).as_bytes()).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, code::INVALID_ARGUMENT));
        assert_eq!(e.message, "The batch has more than 1000 requests; the limit is 1000.");
        assert_eq!(parse(ct, b"not a batch").unwrap_err().code, code::PAYLOAD);
    }
}
