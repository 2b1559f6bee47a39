//! `$batch` (entities-reference B.6): multipart/mixed requests with atomic change sets,
//! `Content-ID` and `$n` references, answered as multipart/mixed.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use bytes::Bytes;
use kontor_store::Tx;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, code};
use crate::ops::{self, Ctx, Reply, Request};

/// Most operations one batch may carry (Dataverse: 1,000).
pub const MAX_OPERATIONS: usize = 1000;

/// One parsed part: a request, or a change set of requests.
#[derive(Debug, Clone)]
pub enum Part {
    Request(BatchRequest),
    ChangeSet(Vec<BatchRequest>),
}

#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub content_id: Option<String>,
    pub method: Method,
    /// The URL as written (absolute, `/api/data/v9.2/…`, relative, or `$n…`).
    pub url: String,
    pub headers: HeaderMap,
    pub body: String,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(code::PAYLOAD, msg)
}

/// The `boundary` parameter of a multipart content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let lower = content_type.to_ascii_lowercase();
    if !lower.trim_start().starts_with("multipart/mixed") {
        return None;
    }
    content_type.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("boundary") {
            Some(v.trim().trim_matches('"').to_owned())
        } else {
            None
        }
    })
}

/// Splits a multipart body into its parts (without the delimiters).
fn split_parts<'a>(body: &'a str, boundary: &str) -> ApiResult<Vec<&'a str>> {
    let delim = format!("--{boundary}");
    let mut parts = vec![];
    let mut positions = vec![];
    let mut search = 0;
    while let Some(i) = body[search..].find(&delim) {
        let at = search + i;
        let line_start = at == 0 || body[..at].ends_with('\n');
        if line_start {
            positions.push(at);
        }
        search = at + delim.len();
    }
    if positions.is_empty() {
        return Err(bad(format!("The batch body has no part delimited by '--{boundary}'.")));
    }
    let mut closed = false;
    for (n, &start) in positions.iter().enumerate() {
        let after = start + delim.len();
        if body[after..].starts_with("--") {
            closed = true;
            break;
        }
        let content_start = match body[after..].find('\n') {
            Some(i) => after + i + 1,
            None => return Err(bad("A batch delimiter is not followed by a line break.")),
        };
        let end = positions
            .get(n + 1)
            .copied()
            .ok_or_else(|| bad(format!("The batch body does not end with '--{boundary}--'.")))?;
        let mut content = &body[content_start..end];
        content = content.strip_suffix('\n').unwrap_or(content);
        content = content.strip_suffix('\r').unwrap_or(content);
        parts.push(content);
    }
    if !closed {
        return Err(bad(format!("The batch body does not end with '--{boundary}--'.")));
    }
    Ok(parts)
}

/// Splits headers from content at the first blank line.
fn split_head(part: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = if let Some(i) = part.find("\r\n\r\n") {
        (&part[..i], &part[i + 4..])
    } else if let Some(i) = part.find("\n\n") {
        (&part[..i], &part[i + 2..])
    } else if part.trim().is_empty() {
        ("", "")
    } else {
        (part, "")
    };
    let headers = head
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    (headers, body)
}

fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn parse_request(part: &str, in_change_set: bool) -> ApiResult<BatchRequest> {
    let (outer, inner) = split_head(part);
    let ct = get(&outer, "content-type").unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/http") {
        return Err(bad(format!(
            "A batch part has Content-Type '{ct}'; expected application/http."
        )));
    }
    let content_id = get(&outer, "content-id").map(str::to_owned);
    let inner = inner.trim_start_matches(['\r', '\n']);
    let (line, rest) = match inner.find('\n') {
        Some(i) => (inner[..i].trim_end_matches('\r'), &inner[i + 1..]),
        None => (inner.trim_end_matches('\r'), ""),
    };
    let mut words = line.split_whitespace();
    let (Some(method), Some(url)) = (words.next(), words.next()) else {
        return Err(bad(format!(
            "The batch part request line '{line}' is not 'METHOD URL HTTP/1.1'."
        )));
    };
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| bad(format!("Unknown method '{method}'.")))?;
    let (hdrs, body) = if rest.starts_with("\r\n") || rest.starts_with('\n') {
        (vec![], rest.trim_start_matches(['\r', '\n']))
    } else {
        split_head(rest)
    };
    let mut headers = HeaderMap::new();
    for (k, v) in hdrs {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&v)) {
            headers.append(k, v);
        }
    }
    if in_change_set && method == Method::GET {
        return Err(bad("GET requests are not allowed inside a change set."));
    }
    Ok(BatchRequest { content_id, method, url: url.to_owned(), headers, body: body.to_owned() })
}

/// Parses a `$batch` body.
pub fn parse(content_type: &str, body: &[u8]) -> ApiResult<Vec<Part>> {
    let b = boundary(content_type).ok_or_else(|| {
        bad("A $batch request needs Content-Type multipart/mixed with a boundary.")
    })?;
    let text = std::str::from_utf8(body).map_err(|_| bad("The batch body is not UTF-8."))?;
    let mut out = vec![];
    let mut count = 0;
    for part in split_parts(text, &b)? {
        let (headers, content) = split_head(part);
        let ct = get(&headers, "content-type").unwrap_or("");
        if let Some(cb) = boundary(ct) {
            let mut reqs = vec![];
            for p in split_parts(content, &cb)? {
                reqs.push(parse_request(p, true)?);
            }
            count += reqs.len();
            out.push(Part::ChangeSet(reqs));
        } else {
            count += 1;
            out.push(Part::Request(parse_request(part, false)?));
        }
    }
    if count > MAX_OPERATIONS {
        return Err(ApiError::bad_request(
            code::INVALID_ARGUMENT,
            format!("The batch has {count} requests; the limit is {MAX_OPERATIONS}."),
        ));
    }
    Ok(out)
}

/// Turns a part URL into `(path below /api/data/v9.2/, query)`, resolving `$n` references.
fn resolve_url(url: &str, ids: &[(String, String)]) -> ApiResult<(String, String)> {
    let mut u = url.to_owned();
    if let Some(rest) = u.strip_prefix('$') {
        let n: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
        let target = ids
            .iter()
            .find(|(id, _)| *id == n)
            .map(|(_, url)| url.clone())
            .ok_or_else(|| bad(format!("The Content-ID reference '${n}' does not name an earlier request of the change set.")))?;
        u = format!("{target}{}", &rest[n.len()..]);
    }
    let tail = match u.find("/api/data/v9.2/") {
        Some(i) => u[i + "/api/data/v9.2/".len()..].to_owned(),
        None => u.trim_start_matches('/').to_owned(),
    };
    let (path, query) = tail
        .split_once('?')
        .map(|(p, q)| (p.to_owned(), q.to_owned()))
        .unwrap_or((tail, String::new()));
    Ok((crate::http::decode_path(&path), query))
}

/// Replaces `"$n"` references in `@odata.bind` / `@odata.id` values.
fn resolve_body(body: &str, ids: &[(String, String)]) -> String {
    if ids.is_empty() || !body.contains('$') {
        return body.to_owned();
    }
    let Ok(mut v) = serde_json::from_str::<Value>(body) else { return body.to_owned() };
    fn walk(v: &mut Value, ids: &[(String, String)]) {
        match v {
            Value::Object(o) => {
                for (k, val) in o.iter_mut() {
                    if k.ends_with("@odata.bind") || k == "@odata.id" {
                        if let Value::String(s) = val
                            && let Some(rest) = s.strip_prefix('$')
                        {
                            let n: String =
                                rest.chars().take_while(char::is_ascii_alphanumeric).collect();
                            if let Some((_, url)) = ids.iter().find(|(id, _)| *id == n) {
                                *s = format!("{url}{}", &rest[n.len()..]);
                            }
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
    v.to_string()
}

fn to_request(r: &BatchRequest, ids: &[(String, String)]) -> ApiResult<Request> {
    let (path, query) = resolve_url(&r.url, ids)?;
    Ok(Request {
        method: r.method.clone(),
        path,
        query,
        headers: r.headers.clone(),
        body: Bytes::from(resolve_body(&r.body, ids)),
    })
}

fn write_http(out: &mut String, content_id: Option<&str>, reply: &Reply) {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str("\r\n");
    let reason = reply.status.canonical_reason().unwrap_or("");
    out.push_str(&format!("HTTP/1.1 {} {reason}\r\n", reply.status.as_u16()));
    out.push_str("OData-Version: 4.0\r\n");
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = &reply.body {
        out.push_str(
            "Content-Type: application/json; odata.metadata=minimal; odata.streaming=true\r\n\r\n",
        );
        out.push_str(&body.to_string());
        out.push_str("\r\n");
    } else if let Some((ct, bytes)) = &reply.raw {
        out.push_str(&format!("Content-Type: {ct}\r\n\r\n"));
        out.push_str(&String::from_utf8_lossy(bytes));
        out.push_str("\r\n");
    } else {
        out.push_str("\r\n");
    }
}

fn error_reply(e: &ApiError) -> Reply {
    Reply { status: e.status, headers: vec![], body: Some(e.body()), raw: None }
}

/// Runs a parsed batch; returns the multipart response body and its content type.
pub async fn run(
    ctx: &Ctx<'_>,
    parts: Vec<Part>,
    continue_on_error: bool,
) -> ApiResult<(String, String)> {
    let boundary = format!("batchresponse_{}", Uuid::new_v4());
    let mut out = String::new();
    for part in parts {
        out.push_str(&format!("--{boundary}\r\n"));
        match part {
            Part::Request(r) => {
                let reply = match single(ctx, &r).await {
                    Ok(reply) => reply,
                    Err(e) => error_reply(&e),
                };
                let failed = reply.status.is_client_error() || reply.status.is_server_error();
                write_http(&mut out, r.content_id.as_deref(), &reply);
                if failed && !continue_on_error {
                    break;
                }
            }
            Part::ChangeSet(reqs) => {
                let (replies, failed) = change_set(ctx, &reqs).await?;
                if let Some((content_id, err)) = failed {
                    write_http(&mut out, content_id.as_deref(), &error_reply(&err));
                    if !continue_on_error {
                        break;
                    }
                } else {
                    let cs = format!("changesetresponse_{}", Uuid::new_v4());
                    out.push_str(&format!("Content-Type: multipart/mixed; boundary={cs}\r\n\r\n"));
                    for (r, reply) in reqs.iter().zip(replies.iter()) {
                        out.push_str(&format!("--{cs}\r\n"));
                        write_http(&mut out, r.content_id.as_deref(), reply);
                    }
                    out.push_str(&format!("--{cs}--\r\n"));
                }
            }
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    Ok((out, format!("multipart/mixed; boundary={boundary}")))
}

async fn single(ctx: &Ctx<'_>, r: &BatchRequest) -> ApiResult<Reply> {
    let req = to_request(r, &[])?;
    if req.path.starts_with("$batch") {
        return Err(bad("A batch cannot contain another batch."));
    }
    let db = ctx.state.db();
    let mut tx: Tx =
        if req.method == Method::GET { db.begin_read().await? } else { db.begin().await? };
    match ops::execute(ctx, &mut tx, &req).await {
        Ok(reply) => {
            tx.commit().await?;
            Ok(reply)
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

/// Runs a change set in one transaction. On the first failure everything is rolled back and the
/// failing request's Content-ID and error are returned.
#[allow(clippy::type_complexity)]
async fn change_set(
    ctx: &Ctx<'_>,
    reqs: &[BatchRequest],
) -> ApiResult<(Vec<Reply>, Option<(Option<String>, ApiError)>)> {
    let mut tx = ctx.state.db().begin().await?;
    let mut ids: Vec<(String, String)> = vec![];
    let mut replies = vec![];
    for r in reqs {
        let result = match to_request(r, &ids) {
            Ok(req) => ops::execute(ctx, &mut tx, &req).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(reply) => {
                if let (Some(cid), Some(url)) = (&r.content_id, reply.entity_id()) {
                    ids.push((cid.clone(), url.to_owned()));
                }
                replies.push(reply);
            }
            Err(e) => {
                tx.rollback().await?;
                return Ok((vec![], Some((r.content_id.clone(), e))));
            }
        }
    }
    tx.commit().await?;
    Ok((replies, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_2\r\n\r\n--changeset_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\nPOST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"name\":\"A\"}\r\n--changeset_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\nPOST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"lastname\":\"B\",\"parentcustomerid_account@odata.bind\":\"$1\"}\r\n--changeset_2--\r\n--batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET /api/data/v9.2/accounts?$select=name HTTP/1.1\r\nAccept: application/json\r\n\r\n--batch_1--\r\n";

    #[test]
    fn a_batch_with_a_change_set_and_a_get_parses() {
        let parts = parse("multipart/mixed; boundary=\"batch_1\"", BODY.as_bytes()).unwrap();
        assert_eq!(parts.len(), 2);
        let Part::ChangeSet(cs) = &parts[0] else { panic!("expected a change set") };
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0].content_id.as_deref(), Some("1"));
        assert_eq!(cs[0].body, "{\"name\":\"A\"}");
        assert_eq!(cs[1].method, Method::POST);
        let Part::Request(get) = &parts[1] else { panic!("expected a request") };
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
        let Part::Request(r) = &parts[0] else { panic!("expected a request") };
        assert_eq!((r.method.as_str(), r.body.as_str()), ("PATCH", "{\"name\":\"A\"}"));
        let req = to_request(r, &[]).unwrap();
        assert_eq!(req.path, format!("accounts({id})"));

        let mut out = String::new();
        let b = "batchresponse_x";
        out.push_str(&format!("--{b}\r\n"));
        write_http(
            &mut out,
            Some("1"),
            &Reply {
                status: axum::http::StatusCode::NO_CONTENT,
                headers: vec![],
                body: None,
                raw: None,
            },
        );
        out.push_str(&format!("--{b}\r\n"));
        let err = ApiError::not_found("account", id);
        write_http(&mut out, Some("2"), &error_reply(&err));
        out.push_str(&format!("--{b}--\r\n"));
        let parsed =
            ob::parse_response(&format!("multipart/mixed; boundary={b}"), out.as_bytes()).unwrap();
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
                    let reqs = match p { Part::Request(r) => vec![r], Part::ChangeSet(rs) => rs };
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
}
