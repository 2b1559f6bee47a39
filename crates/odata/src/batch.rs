//! The `$batch` codec: `multipart/mixed` bodies with nested change sets, both directions.
//!
//! A batch is a list of parts; each part is one operation or a change set (a nested
//! `multipart/mixed` of operations that succeed or fail together). Each operation is an
//! `application/http` part holding an inner HTTP request (or response): request line, headers,
//! blank line, body. `Content-ID` comes from the MIME part headers (or, leniently, the inner
//! headers), and later operations may refer to an earlier one as `$n` in their URL or body
//! ([`resolve_references`]).
//!
//! Parsing is tolerant: the boundary comes from the `Content-Type` parameter, quoted or not; line
//! breaks may be CRLF or LF; trailing line breaks of a body are dropped. Writing uses CRLF and
//! the `batchresponse_…` / `changesetresponse_…` boundaries Dataverse uses. At most
//! [`MAX_OPERATIONS`] operations are accepted.

use crate::error::ODataError;

/// The most operations (requests, counting each inside change sets) one batch may hold.
pub const MAX_OPERATIONS: usize = 1000;

/// The [`ODataError::code`] of the error [`parse`] and [`parse_response`] give for a batch with
/// more than [`MAX_OPERATIONS`] operations (400, like every other batch error), so a server can
/// answer it apart from a malformed body (Dataverse uses a different error code for it).
pub const TOO_MANY_OPERATIONS: &str = "TooManyOperations";

/// The most headers an inner request or response may have.
const MAX_HEADERS: usize = 64;

/// A parsed `$batch` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    pub parts: Vec<BatchPart>,
}

/// One part of a batch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchPart {
    Request(Request),
    /// An atomic change set.
    ChangeSet(Vec<Request>),
}

/// One operation of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub content_id: Option<String>,
    pub method: String,
    /// The request target as written (`/api/data/v9.2/tasks`, `$1/primarycontactid/$ref`, or an
    /// absolute URL).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A `$batch` response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchResponse {
    pub parts: Vec<ResponsePart>,
}

/// One part of a batch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponsePart {
    Response(Response),
    /// The answers to a change set (one error response when it failed).
    ChangeSet(Vec<Response>),
}

/// One operation's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub content_id: Option<String>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }
    /// The body as text (`None` when it is not UTF-8).
    pub fn body_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response { content_id: None, status, headers: Vec::new(), body: Vec::new() }
    }
    /// A JSON response with `Content-Type: application/json; odata.metadata=minimal`.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Response {
            content_id: None,
            status,
            headers: vec![
                ("Content-Type".into(), "application/json; odata.metadata=minimal".into()),
                ("OData-Version".into(), "4.0".into()),
            ],
            body: body.to_string().into_bytes(),
        }
    }
    /// The error response for `e`, with the OData error body.
    pub fn error(e: &ODataError) -> Self {
        Self::json(e.status, &e.body())
    }
    pub fn with_content_id(mut self, id: Option<String>) -> Self {
        self.content_id = id;
        self
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }
}

impl Batch {
    /// Operations in the batch, counting each one inside change sets.
    pub fn operation_count(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                BatchPart::Request(_) => 1,
                BatchPart::ChangeSet(r) => r.len(),
            })
            .sum()
    }
}

fn invalid(message: impl Into<String>) -> ODataError {
    ODataError::invalid_batch(message)
}

/// The `boundary` parameter of a `multipart/mixed` content type, quoted or not.
pub fn boundary(content_type: &str) -> Result<String, ODataError> {
    let mut params = content_type.split(';');
    let media = params.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("multipart/mixed") {
        return Err(invalid(format!(
            "The batch needs Content-Type multipart/mixed with a boundary, not '{media}'."
        )));
    }
    for p in params {
        let Some((k, v)) = p.split_once('=') else { continue };
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            if v.is_empty() || v.len() > 200 || v.contains(['\r', '\n']) {
                return Err(invalid(
                    "The multipart boundary must be 1 to 200 characters on one line.",
                ));
            }
            return Ok(v.to_owned());
        }
    }
    Err(invalid("The batch Content-Type has no boundary parameter."))
}

/// Splits a multipart body into the raw contents of its parts.
fn split_parts<'b>(body: &'b [u8], boundary: &str) -> Result<Vec<&'b [u8]>, ODataError> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    // Start offsets of delimiter lines.
    let mut marks: Vec<(usize, usize, bool)> = Vec::new(); // (line start, content start, is_close)
    let mut line_start = 0;
    while line_start <= body.len() {
        let line_end = body[line_start..].iter().position(|&b| b == b'\n').map(|i| line_start + i);
        let line = &body[line_start..line_end.unwrap_or(body.len())];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(d) {
            let trimmed = rest.trim_ascii();
            let next = line_end.map(|e| e + 1).unwrap_or(body.len());
            if trimmed.is_empty() {
                marks.push((line_start, next, false));
            } else if trimmed == b"--" {
                marks.push((line_start, next, true));
                break;
            }
        }
        match line_end {
            Some(e) => line_start = e + 1,
            None => break,
        }
    }
    let Some(first) = marks.first() else {
        return Err(invalid(format!("The batch body has no part starting with '--{boundary}'.")));
    };
    if first.2 {
        return Ok(Vec::new());
    }
    if !marks.last().is_some_and(|m| m.2) {
        return Err(invalid(format!("The batch body does not end with '--{boundary}--'.")));
    }
    let mut parts = Vec::new();
    for w in marks.windows(2) {
        let (_, content_start, closed) = w[0];
        if closed {
            break;
        }
        let mut end = w[1].0;
        // The line break before a delimiter belongs to the delimiter.
        if end > content_start && body[end - 1] == b'\n' {
            end -= 1;
            if end > content_start && body[end - 1] == b'\r' {
                end -= 1;
            }
        }
        parts.push(&body[content_start..end.max(content_start)]);
    }
    Ok(parts)
}

/// Splits MIME part headers from the part content at the first blank line.
fn split_head(part: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < part.len() {
        let line_end = part[i..].iter().position(|&b| b == b'\n').map(|p| i + p);
        let line = &part[i..line_end.unwrap_or(part.len())];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            let body_start = line_end.map(|e| e + 1).unwrap_or(part.len());
            return (&part[..i], &part[body_start..]);
        }
        match line_end {
            Some(e) => i = e + 1,
            None => return (part, &[]),
        }
    }
    (part, &[])
}

fn parse_mime_headers(head: &[u8]) -> Result<Vec<(String, String)>, ODataError> {
    let text =
        std::str::from_utf8(head).map_err(|_| invalid("A batch part header is not UTF-8."))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(invalid(format!("The batch part header line '{line}' has no ':'.")));
        };
        out.push((k.trim().to_owned(), v.trim().to_owned()));
        if out.len() > MAX_HEADERS {
            return Err(invalid("A batch part has too many headers."));
        }
    }
    Ok(out)
}

fn trim_trailing_newlines(mut body: &[u8]) -> &[u8] {
    while let Some(rest) = body.strip_suffix(b"\n").or_else(|| body.strip_suffix(b"\r")) {
        body = rest;
    }
    body
}

/// Splits an inner HTTP message into its head (with the blank line) and body.
fn split_http(payload: &[u8]) -> (Vec<u8>, &[u8]) {
    let (head, body) = split_head(payload);
    let mut h = head.to_vec();
    if !h.ends_with(b"\n") {
        h.extend_from_slice(b"\r\n");
    }
    h.extend_from_slice(b"\r\n");
    (h, trim_trailing_newlines(body))
}

fn collect_headers(headers: &[httparse::Header<'_>]) -> Result<Vec<(String, String)>, ODataError> {
    headers
        .iter()
        .map(|h| {
            let v = std::str::from_utf8(h.value)
                .map_err(|_| invalid(format!("The header '{}' is not UTF-8.", h.name)))?;
            Ok((h.name.to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn parse_inner_request(payload: &[u8], content_id: Option<String>) -> Result<Request, ODataError> {
    let payload = trim_leading_newlines(payload);
    let (head, body) = split_http(payload);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(invalid("A batch operation has an incomplete request line or headers."));
        }
        Err(e) => {
            return Err(invalid(format!(
                "A batch operation is not a valid HTTP request ({e}); expected e.g. 'GET /api/data/v9.2/accounts HTTP/1.1'."
            )));
        }
    }
    let method = req.method.unwrap_or("").to_owned();
    let url = req.path.unwrap_or("").to_owned();
    let headers = collect_headers(req.headers)?;
    let content_id = content_id.or_else(|| header_value(&headers, "Content-ID").map(str::to_owned));
    let headers =
        headers.into_iter().filter(|(k, _)| !k.eq_ignore_ascii_case("Content-ID")).collect();
    Ok(Request { content_id, method, url, headers, body: body.to_vec() })
}

fn parse_inner_response(
    payload: &[u8],
    content_id: Option<String>,
) -> Result<Response, ODataError> {
    let payload = trim_leading_newlines(payload);
    let (head, body) = split_http(payload);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(invalid("A batch response part has an incomplete status line or headers."));
        }
        Err(e) => {
            return Err(invalid(format!(
                "A batch response part is not a valid HTTP response ({e})."
            )));
        }
    }
    let status = resp.code.unwrap_or(0);
    let headers = collect_headers(resp.headers)?;
    let content_id = content_id.or_else(|| header_value(&headers, "Content-ID").map(str::to_owned));
    let headers =
        headers.into_iter().filter(|(k, _)| !k.eq_ignore_ascii_case("Content-ID")).collect();
    Ok(Response { content_id, status, headers, body: body.to_vec() })
}

fn trim_leading_newlines(mut b: &[u8]) -> &[u8] {
    while let Some(rest) = b.strip_prefix(b"\r\n").or_else(|| b.strip_prefix(b"\n")) {
        b = rest;
    }
    b
}

/// One MIME part: either an `application/http` message or a nested multipart change set.
enum RawPart<'b> {
    Http { content_id: Option<String>, payload: &'b [u8] },
    Multipart { boundary: String, body: &'b [u8] },
}

fn classify(part: &[u8]) -> Result<RawPart<'_>, ODataError> {
    let (head, payload) = split_head(part);
    let headers = parse_mime_headers(head)?;
    let content_type = header_value(&headers, "Content-Type").unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("multipart/mixed") {
        return Ok(RawPart::Multipart { boundary: boundary(content_type)?, body: payload });
    }
    if !media.eq_ignore_ascii_case("application/http") {
        return Err(invalid(format!(
            "A batch part has Content-Type '{content_type}'; expected application/http or multipart/mixed."
        )));
    }
    let content_id = header_value(&headers, "Content-ID").map(str::to_owned);
    Ok(RawPart::Http { content_id, payload })
}

fn too_many() -> ODataError {
    invalid(format!(
        "The batch has more than {MAX_OPERATIONS} operations; split it into several batches."
    ))
    .with_code(TOO_MANY_OPERATIONS)
}

/// Parses a `$batch` request body.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Batch, ODataError> {
    let b = boundary(content_type)?;
    let mut batch = Batch::default();
    let mut count = 0;
    for part in split_parts(body, &b)? {
        match classify(part)? {
            RawPart::Http { content_id, payload } => {
                count += 1;
                if count > MAX_OPERATIONS {
                    return Err(too_many());
                }
                batch.parts.push(BatchPart::Request(parse_inner_request(payload, content_id)?));
            }
            RawPart::Multipart { boundary, body } => {
                let mut requests = Vec::new();
                for inner in split_parts(body, &boundary)? {
                    match classify(inner)? {
                        RawPart::Http { content_id, payload } => {
                            count += 1;
                            if count > MAX_OPERATIONS {
                                return Err(too_many());
                            }
                            let r = parse_inner_request(payload, content_id)?;
                            if r.method.eq_ignore_ascii_case("GET") {
                                return Err(invalid("A change set cannot contain a GET request."));
                            }
                            requests.push(r);
                        }
                        RawPart::Multipart { .. } => {
                            return Err(invalid("A change set cannot contain another change set."));
                        }
                    }
                }
                batch.parts.push(BatchPart::ChangeSet(requests));
            }
        }
    }
    Ok(batch)
}

/// Parses a `$batch` response body (for clients).
pub fn parse_response(content_type: &str, body: &[u8]) -> Result<BatchResponse, ODataError> {
    let b = boundary(content_type)?;
    let mut out = BatchResponse::default();
    let mut count = 0;
    for part in split_parts(body, &b)? {
        match classify(part)? {
            RawPart::Http { content_id, payload } => {
                count += 1;
                if count > MAX_OPERATIONS {
                    return Err(too_many());
                }
                out.parts.push(ResponsePart::Response(parse_inner_response(payload, content_id)?));
            }
            RawPart::Multipart { boundary, body } => {
                let mut responses = Vec::new();
                for inner in split_parts(body, &boundary)? {
                    match classify(inner)? {
                        RawPart::Http { content_id, payload } => {
                            count += 1;
                            if count > MAX_OPERATIONS {
                                return Err(too_many());
                            }
                            responses.push(parse_inner_response(payload, content_id)?);
                        }
                        RawPart::Multipart { .. } => {
                            return Err(invalid(
                                "A change set response cannot contain another change set.",
                            ));
                        }
                    }
                }
                out.parts.push(ResponsePart::ChangeSet(responses));
            }
        }
    }
    Ok(out)
}

/// The reason phrase of a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn write_http_part(
    out: &mut Vec<u8>,
    content_id: Option<&str>,
    start_line: &str,
    headers: &[(String, String)],
    body: &[u8],
) {
    out.extend_from_slice(
        b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n",
    );
    if let Some(id) = content_id {
        out.extend_from_slice(format!("Content-ID: {id}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(start_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if !body.is_empty() {
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
}

/// Writes a batch request with `boundary`; change sets get `changeset_…` boundaries from
/// `changeset_boundary`. Returns the `Content-Type` and the body. The boundaries must not occur
/// in any body (see [`occurs`]); [`write_request`] picks safe random ones.
pub fn write_request_with(
    batch: &Batch,
    boundary: &str,
    changeset_boundary: impl FnMut() -> String,
) -> (String, Vec<u8>) {
    let parts = batch.parts.iter().map(|p| match p {
        BatchPart::Request(r) => Framed::One(r),
        BatchPart::ChangeSet(rs) => Framed::Set(rs),
    });
    write_framed(parts, boundary, changeset_boundary, write_request_part)
}

/// One part of a multipart batch body: a single message or a change set of them.
enum Framed<'a, T> {
    One(&'a T),
    Set(&'a [T]),
}

/// The `multipart/mixed` framing shared by batch requests and responses: parts separated by
/// `boundary`, change sets nested with a boundary of their own, each message written by `write`.
fn write_framed<'a, T: 'a>(
    parts: impl Iterator<Item = Framed<'a, T>>,
    boundary: &str,
    mut changeset_boundary: impl FnMut() -> String,
    write: fn(&mut Vec<u8>, &T),
) -> (String, Vec<u8>) {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part {
            Framed::One(m) => write(&mut out, m),
            Framed::Set(messages) => {
                let cs = changeset_boundary();
                out.extend_from_slice(
                    format!("Content-Type: multipart/mixed; boundary={cs}\r\n\r\n").as_bytes(),
                );
                for m in messages {
                    out.extend_from_slice(format!("--{cs}\r\n").as_bytes());
                    write(&mut out, m);
                }
                out.extend_from_slice(format!("--{cs}--\r\n").as_bytes());
            }
        }
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/mixed; boundary={boundary}"), out)
}

fn write_request_part(out: &mut Vec<u8>, r: &Request) {
    write_http_part(
        out,
        r.content_id.as_deref(),
        &format!("{} {} HTTP/1.1", r.method, r.url),
        &r.headers,
        &r.body,
    );
}

/// Writes a batch request with random `batch_…`/`changeset_…` boundaries (never ones that occur
/// in a body).
pub fn write_request(batch: &Batch) -> (String, Vec<u8>) {
    let bodies: Vec<&[u8]> = batch
        .parts
        .iter()
        .flat_map(|p| match p {
            BatchPart::Request(r) => std::slice::from_ref(r),
            BatchPart::ChangeSet(rs) => rs.as_slice(),
        })
        .map(|r| r.body.as_slice())
        .collect();
    let fresh = |prefix: &str| fresh_boundary(prefix, &bodies);
    write_request_with(batch, &fresh("batch"), || fresh("changeset"))
}

/// A `<prefix>_<uuid>` boundary that occurs in none of `bodies`.
fn fresh_boundary(prefix: &str, bodies: &[&[u8]]) -> String {
    loop {
        let b = format!("{prefix}_{}", uuid::Uuid::new_v4());
        if !bodies.iter().any(|body| occurs(body, b.as_bytes())) {
            return b;
        }
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn occurs(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Writes a batch response with `boundary`; change sets get boundaries from
/// `changeset_boundary`. Returns the `Content-Type` and the body. The boundaries must not occur
/// in any body (see [`occurs`]); [`write_response`] picks safe random ones.
pub fn write_response_with(
    response: &BatchResponse,
    boundary: &str,
    changeset_boundary: impl FnMut() -> String,
) -> (String, Vec<u8>) {
    let parts = response.parts.iter().map(|p| match p {
        ResponsePart::Response(r) => Framed::One(r),
        ResponsePart::ChangeSet(rs) => Framed::Set(rs),
    });
    write_framed(parts, boundary, changeset_boundary, write_response_part)
}

fn write_response_part(out: &mut Vec<u8>, r: &Response) {
    let line = format!("HTTP/1.1 {:03} {}", r.status, reason_phrase(r.status));
    write_http_part(out, r.content_id.as_deref(), &line, &r.headers, &r.body);
}

/// Writes a batch response with `batchresponse_<guid>` / `changesetresponse_<guid>` boundaries,
/// as Dataverse does.
pub fn write_response(response: &BatchResponse) -> (String, Vec<u8>) {
    let bodies: Vec<&[u8]> = response
        .parts
        .iter()
        .flat_map(|p| match p {
            ResponsePart::Response(r) => std::slice::from_ref(r),
            ResponsePart::ChangeSet(rs) => rs.as_slice(),
        })
        .map(|r| r.body.as_slice())
        .collect();
    let fresh = |prefix: &str| fresh_boundary(prefix, &bodies);
    write_response_with(response, &fresh("batchresponse"), || fresh("changesetresponse"))
}

/// Replaces `$id` references (to earlier operations' Content-IDs) in a URL or body with what
/// `lookup` gives for them. A reference starts the text or follows `/`, `"` or whitespace, and
/// ends the text or is followed by `/`, `"`, `?`, `(`, `,` or whitespace; so `$filter=` or an
/// unknown id stays as it is.
pub fn resolve_references(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(i) = rest.find('$') {
        let before = &rest[..i];
        out.push_str(before);
        if let Some(c) = before.chars().last() {
            prev = Some(c);
        }
        let after = &rest[i + 1..];
        let id_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .unwrap_or(after.len());
        let id = &after[..id_len];
        let next = after[id_len..].chars().next();
        let starts_ok =
            matches!(prev, None | Some('/' | '"')) || prev.is_some_and(char::is_whitespace);
        let ends_ok = matches!(next, None | Some('/' | '"' | '?' | '(' | ','))
            || next.is_some_and(char::is_whitespace);
        match (starts_ok && ends_ok && !id.is_empty()).then(|| lookup(id)).flatten() {
            Some(replacement) => {
                out.push_str(&replacement);
                rest = &after[id_len..];
                prev = replacement.chars().last().or(prev);
            }
            None => {
                out.push('$');
                rest = after;
                prev = Some('$');
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
