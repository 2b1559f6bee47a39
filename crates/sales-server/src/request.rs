//! What one Web API request is, however it arrived (HTTP or a `$batch` part): the [`Request`],
//! its [`Reply`], who calls ([`Ctx`]), the `Prefer` and conditional headers, and the JSON
//! bodies of actions. Imports no other module of the server but the error and the state.

use axum::http::{HeaderMap, Method, StatusCode};
use bytes::Bytes;
use kontor_sales::directory::Principal;
use kontor_sales::model::TableInfo;
use kontor_sales::security::Op;
use kontor_sales::service::{self, Key, key::parse_reference};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, code};
use crate::payload::Annotations;
use crate::state::AppState;

/// One request to the Web API (below `/api/data/v9.2/`).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The path below `/api/data/v9.2/`, percent-decoded.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One answer, before it becomes an HTTP response or a `$batch` part.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// A non-JSON body: `(content type, bytes)`.
    pub raw: Option<(String, Vec<u8>)>,
}

impl Reply {
    pub fn new(status: StatusCode) -> Self {
        Reply { status, headers: vec![], body: None, raw: None }
    }
    pub fn json(status: StatusCode, body: Value) -> Self {
        Reply { status, headers: vec![], body: Some(body), raw: None }
    }
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
    /// The entity URL of a created row (`OData-EntityId`), used for `$n` references.
    pub fn entity_id(&self) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == "OData-EntityId").map(|(_, v)| v.as_str())
    }
}

/// Who calls and from where.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub principal: &'a Principal,
    /// `http://host:port/api/data/v9.2`
    pub base: String,
    pub installed: bool,
}

/// The `Prefer` header.
#[derive(Debug, Clone, Default)]
pub struct Prefs {
    pub return_representation: bool,
    pub max_page_size: Option<usize>,
    pub annotations: Annotations,
    pub annotations_raw: Option<String>,
    pub track_changes: bool,
    pub continue_on_error: bool,
}

impl Prefs {
    pub fn parse(headers: &HeaderMap) -> Prefs {
        let mut p = Prefs::default();
        for v in headers.get_all("prefer") {
            let Ok(text) = v.to_str() else { continue };
            for item in split_prefer(text) {
                let item = item.trim();
                let (name, value) = item.split_once('=').unwrap_or((item, ""));
                match name.trim().to_ascii_lowercase().as_str() {
                    "return" => p.return_representation = value.trim() == "representation",
                    "odata.maxpagesize" => {
                        p.max_page_size = value.trim().trim_matches('"').parse().ok()
                    }
                    "odata.include-annotations" => {
                        p.annotations = Annotations::parse(value);
                        p.annotations_raw = Some(value.trim().to_owned());
                    }
                    "odata.track-changes" => p.track_changes = true,
                    "odata.continue-on-error" => p.continue_on_error = true,
                    _ => {}
                }
            }
        }
        p
    }
}

/// Splits a Prefer header at commas outside quotes.
fn split_prefer(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// `If-Match` / `If-None-Match` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    None,
    Any,
    Version(i64),
}

pub fn condition(req: &Request, name: &str) -> ApiResult<Cond> {
    match header(req, name) {
        None | Some("") | Some("null") => Ok(Cond::None),
        Some("*") => Ok(Cond::Any),
        Some(v) => {
            let inner = v.trim_start_matches("W/").trim_matches('"');
            inner.parse::<i64>().map(Cond::Version).map_err(|_| {
                ApiError::bad_request(
                    code::INVALID_ARGUMENT,
                    format!("The {name} header value '{v}' is not a valid ETag."),
                )
            })
        }
    }
}

impl Ctx<'_> {
    pub fn visible<'t>(&self, table: &'t TableInfo) -> impl Fn(&str) -> bool + 't {
        let installed = self.installed;
        move |p: &str| installed || !table.is_solution_property(p)
    }
    /// [`service::check`] for the caller.
    pub fn check(&self, op: Op, table: &TableInfo) -> ApiResult<()> {
        Ok(service::check(self.principal, op, table)?)
    }
    pub fn entity_url(&self, set: &str, id: Uuid) -> String {
        format!("{}/{set}({id})", self.base)
    }
    pub fn context(&self, fragment: &str) -> String {
        format!("{}/$metadata#{fragment}", self.base)
    }
}

/// Parses a JSON request body.
pub fn parse_json(set: &str, body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::payload(set, "The request body is empty."));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::payload(set, format!("The request body is not valid JSON: {e}")))
}

/// Parses a JSON body for an action.
pub fn action_body(req: &Request, what: &str) -> ApiResult<Map<String, Value>> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(ApiError::bad_request(
            code::PAYLOAD,
            format!("The body of {what} must be a JSON object."),
        )),
    }
}

/// Resolves `{"@odata.id": ".../roles(<id>)"}`.
pub fn reference_body(req: &Request) -> ApiResult<(String, Key)> {
    let body = action_body(req, "the reference")?;
    body.get("@odata.id").and_then(Value::as_str).and_then(parse_reference).ok_or_else(|| {
        ApiError::bad_request(code::PAYLOAD, "The body must be {\"@odata.id\": \"<entity URL>\"}.")
    })
}

/// Percent-decodes a URL path (`%20` → space; `+` stays).
pub fn decode_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&path[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
