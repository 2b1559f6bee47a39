//! `ODataConnector`: the `Connector` port over HTTP, for the Financials API (v2.0 shape) and the
//! Dataverse Web API. Reads follow the change feed (`Prefer: odata.track-changes`,
//! `odata.maxpagesize`, next and delta links); writes go as `$batch` requests of independent
//! PATCH-upserts and DELETEs by key (`Prefer: odata.continue-on-error`), several batches in
//! flight, with 429 + `Retry-After` obeyed and concurrency adapted by the [`Governor`]; 5xx and
//! timeouts are retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::future::join_all;
use kontor_odata::batch::{
    self as odata_batch, Batch, BatchPart, Request as BatchRequest, ResponsePart,
};
use kontor_sync::connector::{
    Bind, Change, ChangePage, Connector, ConnectorError, Cursor, OptionValue, Record, Row, Side,
    TableRef, WriteBatch, WriteOp, WriteOutcome,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Auth;
use crate::governor::{Governor, jitter};

/// Tuning of one side's client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Operations per `$batch` request.
    pub batch_size: usize,
    /// Concurrency the governor starts with and may grow to.
    pub initial_concurrency: usize,
    pub max_concurrency: usize,
    /// Ids per `$filter` when fetching rows by key.
    pub ids_per_get: usize,
    /// Upserts per `UpsertMultiple` request (Dataverse only: the Financials API has no such
    /// message), or 0 to write upserts as `$batch`
    /// requests of independent PATCHes. A rejected `UpsertMultiple` (all or nothing) is
    /// written again as a `$batch`, so that each record gets its own outcome.
    pub bulk_upsert_size: usize,
    /// Retries of a request after 5xx or a timeout.
    pub max_retries: u32,
    /// Throttle answers tolerated for one request before giving up.
    pub max_throttles: u32,
    /// Longest wait honoured from `Retry-After`.
    pub max_retry_after: Duration,
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            batch_size: 100,
            initial_concurrency: 4,
            max_concurrency: 16,
            ids_per_get: 40,
            bulk_upsert_size: 250,
            max_retries: 6,
            max_throttles: 200,
            max_retry_after: Duration::from_secs(60),
            timeout: Duration::from_secs(120),
        }
    }
}

/// The HTTP connector of one side.
pub struct ODataConnector {
    side: Side,
    client: reqwest::Client,
    /// Service root with a trailing slash (`http://h/api/data/v9.2/`, `http://h/api/v2.0/companies(<id>)/`).
    base: String,
    /// Path of `$batch` (`/api/data/v9.2/$batch`, `/api/v2.0/$batch`).
    batch_url: String,
    auth: Arc<Auth>,
    governor: Arc<Governor>,
    pub options: ClientOptions,
}

impl std::fmt::Debug for ODataConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ODataConnector")
            .field("side", &self.side)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// What a request came back with, after retries.
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

fn trim_slash(s: &str) -> &str {
    s.trim_end_matches('/')
}

fn error_message(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    v["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect())
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<f64>().ok().map(Duration::from_secs_f64)
}

impl ODataConnector {
    fn new(
        side: Side,
        base: String,
        batch_url: String,
        auth: Auth,
        options: ClientOptions,
    ) -> ODataConnector {
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .expect("an HTTP client can be built");
        let governor =
            Arc::new(Governor::new(options.initial_concurrency, options.max_concurrency));
        ODataConnector { side, client, base, batch_url, auth: Arc::new(auth), governor, options }
    }

    /// Financials API v2.0 of one company at `root` (`http://host`), as `user` with its web
    /// service access key.
    pub fn financials(
        root: &str,
        company_id: Uuid,
        user: &str,
        web_service_key: &str,
    ) -> ODataConnector {
        let root = trim_slash(root);
        ODataConnector::new(
            Side::Financials,
            format!("{root}/api/v2.0/companies({company_id})/"),
            format!("{root}/api/v2.0/$batch"),
            Auth::Basic {
                user: user.to_owned(),
                key: crate::auth::Secret(web_service_key.to_owned()),
            },
            ClientOptions::default(),
        )
    }

    /// Dataverse Web API at `root` (`http://host`), with tokens from `tokens`.
    pub fn dataverse(root: &str, tokens: crate::auth::TokenSource) -> ODataConnector {
        let root = trim_slash(root);
        ODataConnector::new(
            Side::Sales,
            format!("{root}/api/data/v9.2/"),
            format!("{root}/api/data/v9.2/$batch"),
            Auth::Bearer(tokens),
            ClientOptions::default(),
        )
    }

    pub fn with_options(mut self, options: ClientOptions) -> ODataConnector {
        self.governor =
            Arc::new(Governor::new(options.initial_concurrency, options.max_concurrency));
        self.options = options;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn governor(&self) -> &Governor {
        &self.governor
    }

    fn unavailable(&self, message: impl Into<String>) -> ConnectorError {
        ConnectorError::Unavailable { side: self.side, message: message.into() }
    }

    /// Sends a request with auth, obeying throttles and retrying 5xx/timeouts. Returns the final
    /// answer (any status) or an error once retries are exhausted.
    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<(String, Vec<u8>)>,
    ) -> Result<Answer, ConnectorError> {
        let mut failures = 0u32;
        let mut throttles = 0u32;
        let mut reauth = false;
        loop {
            let slot = self.governor.acquire().await;
            let auth = match self.auth.header(&self.client).await {
                Ok(a) => a,
                Err(e) => {
                    self.governor.done(slot, None);
                    return Err(e);
                }
            };
            let mut req = self
                .client
                .request(method.clone(), url)
                .header("Authorization", auth)
                .header("Accept", "application/json")
                .header("OData-MaxVersion", "4.0")
                .header("OData-Version", "4.0");
            for (k, v) in headers {
                req = req.header(*k, v.as_str());
            }
            if let Some((ct, b)) = &body {
                req = req.header("Content-Type", ct.as_str()).body(b.clone());
            }
            let res = req.send().await;
            let res = match res {
                Ok(r) => r,
                Err(e) => {
                    self.governor.done(slot, None);
                    failures += 1;
                    if failures > self.options.max_retries {
                        return Err(self.unavailable(format!(
                            "{method} {}: {}",
                            url,
                            e.without_url()
                        )));
                    }
                    tokio::time::sleep(jitter(Duration::from_millis(100 << failures.min(7)))).await;
                    continue;
                }
            };
            let status = res.status();
            let headers = res.headers().clone();
            if let Some(dop) = headers
                .get("x-ms-dop-hint")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
            {
                self.governor.hint(dop);
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = retry_after(&headers)
                    .unwrap_or(Duration::from_secs(1))
                    .min(self.options.max_retry_after);
                self.governor.done(slot, Some(jitter(wait)));
                throttles += 1;
                let _ = res.bytes().await;
                if throttles > self.options.max_throttles {
                    return Err(self.unavailable(format!(
                        "{method} {url}: still throttled after {throttles} attempts"
                    )));
                }
                continue;
            }
            let body = match res.bytes().await {
                Ok(b) => b.to_vec(),
                Err(e) => {
                    self.governor.done(slot, None);
                    failures += 1;
                    if failures > self.options.max_retries {
                        return Err(
                            self.unavailable(format!("{method} {url}: {}", e.without_url()))
                        );
                    }
                    continue;
                }
            };
            self.governor.done(slot, None);
            if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
                failures += 1;
                if failures > self.options.max_retries {
                    return Err(self.unavailable(format!(
                        "{method} {url}: {status} {}",
                        error_message(&body)
                    )));
                }
                let wait =
                    retry_after(&headers).unwrap_or(Duration::from_millis(100 << failures.min(7)));
                tokio::time::sleep(jitter(wait.min(self.options.max_retry_after))).await;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED && !reauth {
                reauth = true;
                self.auth.invalidate().await;
                continue;
            }
            return Ok(Answer { status, headers, body });
        }
    }

    fn check(&self, a: &Answer, what: &str) -> Result<(), ConnectorError> {
        if a.status.is_success() {
            return Ok(());
        }
        let message = format!("{what}: {} {}", a.status.as_u16(), error_message(&a.body));
        Err(match a.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                ConnectorError::Unauthorized { side: self.side, message }
            }
            StatusCode::GONE => ConnectorError::TokenExpired { side: self.side, message },
            _ => ConnectorError::Rejected { side: self.side, message },
        })
    }

    /// GET a JSON document (relative to the service root, or an absolute link).
    pub async fn get_json(&self, url: &str, prefer: Option<&str>) -> Result<Value, ConnectorError> {
        let url = if url.starts_with("http://") || url.starts_with("https://") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        };
        let headers: Vec<(&str, String)> =
            prefer.map(|p| vec![("Prefer", p.to_owned())]).unwrap_or_default();
        let a = self.send(Method::GET, &url, &headers, None).await?;
        self.check(&a, &format!("GET {url}"))?;
        serde_json::from_slice(&a.body).map_err(|e| ConnectorError::Rejected {
            side: self.side,
            message: format!("GET {url}: not JSON: {e}"),
        })
    }

    /// POST/PATCH a JSON body; returns the status and the parsed body (if any).
    pub async fn send_json(
        &self,
        method: Method,
        url: &str,
        body: &Value,
    ) -> Result<(StatusCode, Value), ConnectorError> {
        let url =
            if url.starts_with("http") { url.to_owned() } else { format!("{}{url}", self.base) };
        let a = self
            .send(
                method.clone(),
                &url,
                &[],
                Some(("application/json".into(), serde_json::to_vec(body).expect("JSON"))),
            )
            .await?;
        let v = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
        Ok((a.status, v))
    }

    fn row(&self, table: &TableRef, v: Value) -> Option<Change> {
        let Value::Object(map) = v else { return None };
        let deleted = map
            .get("@odata.context")
            .and_then(Value::as_str)
            .is_some_and(|c| c.contains("$deletedEntity"))
            || map.get("reason").and_then(Value::as_str) == Some("deleted");
        if deleted {
            let id = map.get("id").or_else(|| map.get(&table.key)).and_then(Value::as_str)?;
            return Some(Change::Deleted(Uuid::parse_str(id).ok()?));
        }
        let id = Uuid::parse_str(map.get(&table.key)?.as_str()?).ok()?;
        let fields: Record =
            map.into_iter().filter(|(k, _)| !k.starts_with('@') && !k.contains("@")).collect();
        Some(Change::Upsert(Row::new(id, fields)))
    }

    fn entity_url(&self, set: &str, id: Uuid) -> String {
        format!("{}{set}({id})", self.base)
    }

    fn wire_fields(&self, fields: &Record, binds: &[Bind]) -> Record {
        let mut out = Record::new();
        for (k, v) in fields {
            match binds.iter().find(|b| &b.field == k) {
                Some(b) => {
                    // Lookups are written as binds; an empty lookup is left as it is.
                    if let Some(id) = v.as_str().filter(|s| !s.is_empty()) {
                        out.insert(
                            format!("{}@odata.bind", b.navigation),
                            Value::String(format!("/{}({id})", b.target_set)),
                        );
                    }
                }
                None => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        out
    }

    /// One `$batch` of independent operations; returns one outcome per op (`None` = not
    /// answered or transiently failed: send again).
    async fn batch_once(
        &self,
        table: &TableRef,
        binds: &[Bind],
        ops: &[&WriteOp],
    ) -> Result<Vec<Option<WriteOutcome>>, ConnectorError> {
        let parts = ops
            .iter()
            .enumerate()
            .map(|(k, op)| {
                let (method, body) = match op {
                    WriteOp::Upsert { fields, .. } => (
                        "PATCH",
                        serde_json::to_vec(&Value::Object(self.wire_fields(fields, binds)))
                            .expect("JSON"),
                    ),
                    WriteOp::Delete { .. } => ("DELETE", vec![]),
                };
                let mut headers = vec![("Accept".to_owned(), "application/json".to_owned())];
                if method == "PATCH" {
                    headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
                }
                BatchPart::Request(BatchRequest {
                    content_id: Some((k + 1).to_string()),
                    method: method.to_owned(),
                    url: self.entity_url(&table.set, op.id()),
                    headers,
                    body,
                })
            })
            .collect();
        let (ct, body) = odata_batch::write_request(&Batch { parts });
        let a = self
            .send(
                Method::POST,
                &self.batch_url,
                &[("Prefer", "odata.continue-on-error".to_owned())],
                Some((ct, body)),
            )
            .await?;
        self.check(&a, "POST $batch")?;
        let ct =
            a.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let parsed = odata_batch::parse_response(&ct, &a.body).map_err(|e| {
            self.unavailable(format!("POST $batch: unreadable response: {}", e.message))
        })?;
        let mut answers = Vec::new();
        for p in parsed.parts {
            match p {
                ResponsePart::Response(r) => answers.push(r),
                ResponsePart::ChangeSet(rs) => answers.extend(rs),
            }
        }
        let mut out = vec![None; ops.len()];
        for (k, r) in answers.into_iter().enumerate() {
            let k = r
                .content_id
                .as_deref()
                .and_then(|c| c.parse::<usize>().ok())
                .map(|c| c - 1)
                .unwrap_or(k);
            if k >= ops.len() {
                continue;
            }
            out[k] = match r.status {
                200..=299 => Some(WriteOutcome::Done),
                404 if matches!(ops[k], WriteOp::Delete { .. }) => Some(WriteOutcome::Done),
                429 | 500..=599 | 408 => None,
                _ => Some(WriteOutcome::Failed { message: error_message(&r.body) }),
            };
        }
        Ok(out)
    }

    /// One `UpsertMultiple` request (Dataverse): all or nothing, one transaction on the server.
    /// `Ok(true)` when every target was written, `Ok(false)` when the request was refused as a
    /// whole (a target is invalid: the caller writes them one by one to learn which).
    async fn upsert_multiple(
        &self,
        table: &TableRef,
        binds: &[Bind],
        ops: &[WriteOp],
    ) -> Result<bool, ConnectorError> {
        // Dataverse's primary key is the table's logical name followed by `id`.
        let logical = table.key.strip_suffix("id").unwrap_or(&table.key);
        let odata_type = Value::String(format!("Microsoft.Dynamics.CRM.{logical}"));
        let mut targets = Vec::with_capacity(ops.len());
        for op in ops {
            let WriteOp::Upsert { id, fields } = op else { return Ok(false) };
            let mut t = serde_json::Map::with_capacity(fields.len() + 2);
            t.insert("@odata.type".into(), odata_type.clone());
            t.extend(self.wire_fields(fields, binds));
            t.insert(table.key.clone(), Value::String(id.to_string()));
            targets.push(Value::Object(t));
        }
        let body = serde_json::to_vec(&serde_json::json!({ "Targets": targets })).expect("JSON");
        let url = format!("{}{}/Microsoft.Dynamics.CRM.UpsertMultiple", self.base, table.set);
        let a = self.send(Method::POST, &url, &[], Some(("application/json".into(), body))).await?;
        if a.status.is_success() {
            return Ok(true);
        }
        match a.status {
            StatusCode::BAD_REQUEST
            | StatusCode::NOT_FOUND
            | StatusCode::CONFLICT
            | StatusCode::PRECONDITION_FAILED
            | StatusCode::FORBIDDEN => {
                tracing::debug!(set = %table.set, status = a.status.as_u16(), message = %error_message(&a.body), "UpsertMultiple refused; writing the records one by one");
                Ok(false)
            }
            _ => {
                self.check(&a, "POST UpsertMultiple")?;
                Ok(false)
            }
        }
    }

    /// Writes one chunk of upserts with `UpsertMultiple`, falling back to `$batch` when refused.
    async fn bulk_chunk(
        &self,
        table: &TableRef,
        binds: &[Bind],
        ops: &[WriteOp],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        if self.upsert_multiple(table, binds, ops).await? {
            return Ok(vec![WriteOutcome::Done; ops.len()]);
        }
        self.write_batches(table, binds, ops).await
    }

    /// Writes ops as `$batch` requests of `batch_size` independent operations.
    async fn write_batches(
        &self,
        table: &TableRef,
        binds: &[Bind],
        ops: &[WriteOp],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        in_chunks(ops, self.options.batch_size, |chunk| self.write_chunk(table, binds, chunk)).await
    }

    /// Writes one chunk, resending operations that were not answered, were throttled or met a
    /// server error, until all have an outcome.
    async fn write_chunk(
        &self,
        table: &TableRef,
        binds: &[Bind],
        ops: &[WriteOp],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let mut out: Vec<Option<WriteOutcome>> = vec![None; ops.len()];
        let mut rounds = 0;
        loop {
            let pending: Vec<usize> = (0..ops.len()).filter(|k| out[*k].is_none()).collect();
            if pending.is_empty() {
                return Ok(out.into_iter().map(|o| o.expect("all answered")).collect());
            }
            rounds += 1;
            if rounds > self.options.max_retries + 2 {
                return Err(self.unavailable(format!(
                    "$batch to {}: {} operations still unanswered",
                    table.set,
                    pending.len()
                )));
            }
            if rounds > 1 {
                tokio::time::sleep(jitter(Duration::from_millis(100 << rounds.min(7)))).await;
            }
            let refs: Vec<&WriteOp> = pending.iter().map(|k| &ops[*k]).collect();
            let res = self.batch_once(table, binds, &refs).await?;
            for (k, o) in pending.into_iter().zip(res) {
                out[k] = o;
            }
        }
    }
}

impl ODataConnector {
    async fn get_chunk(
        &self,
        table: &TableRef,
        chunk: &[Uuid],
    ) -> Result<Vec<Row>, ConnectorError> {
        let filter = chunk
            .iter()
            .map(|id| format!("{} eq {id}", table.key))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut url = format!("{}{}?$filter={}", self.base, table.set, urlencode(&filter));
        if !table.select.is_empty() {
            url.push_str("&$select=");
            url.push_str(&table.select.join(","));
        }
        let mut v = self.get_json(&url, Some("odata.maxpagesize=5000")).await?;
        Ok(take_values(&mut v)
            .into_iter()
            .filter_map(|r| match self.row(table, r) {
                Some(Change::Upsert(row)) => Some(row),
                _ => None,
            })
            .collect())
    }
}

impl Connector for ODataConnector {
    fn side(&self) -> Side {
        self.side
    }

    fn read<'a>(
        &'a self,
        table: &'a TableRef,
        cursor: &'a Cursor,
        page_size: usize,
    ) -> BoxFuture<'a, Result<ChangePage, ConnectorError>> {
        Box::pin(async move {
            let url = match cursor {
                Cursor::Start if table.select.is_empty() => format!("{}{}", self.base, table.set),
                // Next and delta links carry the `$select` forward.
                Cursor::Start => {
                    format!("{}{}?$select={}", self.base, table.set, table.select.join(","))
                }
                Cursor::Next(u) | Cursor::Delta(u) => u.clone(),
            };
            let prefer = format!("odata.track-changes, odata.maxpagesize={page_size}");
            let mut v = self.get_json(&url, Some(&prefer)).await?;
            let changes =
                take_values(&mut v).into_iter().filter_map(|r| self.row(table, r)).collect();
            Ok(ChangePage {
                changes,
                next: v["@odata.nextLink"].as_str().map(str::to_owned),
                delta: v["@odata.deltaLink"].as_str().map(str::to_owned),
            })
        })
    }

    fn get<'a>(
        &'a self,
        table: &'a TableRef,
        ids: &'a [Uuid],
    ) -> BoxFuture<'a, Result<Vec<Row>, ConnectorError>> {
        Box::pin(async move {
            // All chunks at once; the governor bounds how many are in flight.
            let results = join_all(
                ids.chunks(self.options.ids_per_get.max(1))
                    .map(|chunk| self.get_chunk(table, chunk)),
            )
            .await;
            let mut out = Vec::new();
            for r in results {
                out.extend(r?);
            }
            Ok(out)
        })
    }

    fn write<'a>(
        &'a self,
        batch: &'a WriteBatch,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ConnectorError>> {
        Box::pin(async move {
            let bulk = self.options.bulk_upsert_size;
            if bulk > 1
                && self.side == Side::Sales
                && batch.ops.iter().all(|o| matches!(o, WriteOp::Upsert { .. }))
            {
                return in_chunks(&batch.ops, bulk, |ops| {
                    self.bulk_chunk(&batch.table, &batch.binds, ops)
                })
                .await;
            }
            self.write_batches(&batch.table, &batch.binds, &batch.ops).await
        })
    }

    /// `$filter={parent} eq {parent_id}`, following `@odata.nextLink`.
    fn children<'a>(
        &'a self,
        table: &'a TableRef,
        parent: &'a str,
        parent_id: Uuid,
    ) -> BoxFuture<'a, Result<Vec<Row>, ConnectorError>> {
        Box::pin(async move {
            let filter = format!("{parent} eq {parent_id}");
            let mut url = format!("{}{}?$filter={}", self.base, table.set, urlencode(&filter));
            if !table.select.is_empty() {
                url.push_str("&$select=");
                url.push_str(&table.select.join(","));
            }
            let mut out = Vec::new();
            loop {
                let mut v = self.get_json(&url, Some("odata.maxpagesize=5000")).await?;
                out.extend(take_values(&mut v).into_iter().filter_map(
                    |r| match self.row(table, r) {
                        Some(Change::Upsert(row)) => Some(row),
                        _ => None,
                    },
                ));
                match v["@odata.nextLink"].as_str() {
                    Some(next) => url = next.to_owned(),
                    None => break,
                }
            }
            Ok(out)
        })
    }

    /// `$filter=contains(f,'text') or …&$top=top` (quotes in `text` doubled).
    fn search<'a>(
        &'a self,
        table: &'a TableRef,
        fields: &'a [String],
        text: &'a str,
        top: usize,
    ) -> BoxFuture<'a, Result<Vec<Row>, ConnectorError>> {
        Box::pin(async move {
            let quoted = text.replace('\'', "''");
            let filter = fields
                .iter()
                .map(|f| format!("contains({f},'{quoted}')"))
                .collect::<Vec<_>>()
                .join(" or ");
            let mut url =
                format!("{}{}?$filter={}&$top={top}", self.base, table.set, urlencode(&filter));
            if !table.select.is_empty() {
                url.push_str("&$select=");
                url.push_str(&table.select.join(","));
            }
            let mut v = self.get_json(&url, None).await?;
            Ok(take_values(&mut v)
                .into_iter()
                .filter_map(|r| match self.row(table, r) {
                    Some(Change::Upsert(row)) => Some(row),
                    _ => None,
                })
                .collect())
        })
    }

    fn count<'a>(&'a self, table: &'a TableRef) -> BoxFuture<'a, Result<u64, ConnectorError>> {
        Box::pin(async move {
            let url =
                format!("{}{}?$count=true&$top=1&$select={}", self.base, table.set, table.key);
            let v = self.get_json(&url, None).await?;
            Ok(v["@odata.count"].as_u64().unwrap_or(0))
        })
    }

    /// Financials: the company's `experience` (`GET /api/v2.0/companies({id})`); Sales has none.
    fn experience(&self) -> BoxFuture<'_, Result<Option<String>, ConnectorError>> {
        Box::pin(async move {
            if self.side != Side::Financials {
                return Ok(None);
            }
            // The base is the company's own URL with a slash for the entity sets under it.
            let v = self.get_json(trim_slash(&self.base), None).await?;
            Ok(Some(v["experience"].as_str().unwrap_or("Essential").to_owned()))
        })
    }

    /// Dataverse metadata: the entity's logical name from `EntityDefinitions`, then the
    /// picklist attribute with its `OptionSet`.
    fn options<'a>(
        &'a self,
        set: &'a str,
        column: &'a str,
    ) -> BoxFuture<'a, Result<Vec<OptionValue>, ConnectorError>> {
        Box::pin(async move {
            let rejected = |message: String| ConnectorError::Rejected { side: self.side, message };
            if self.side != Side::Sales {
                return Err(rejected(format!("{set}.{column}: Financials has no option sets")));
            }
            let defs = self
                .get_json(
                    &format!(
                        "{}EntityDefinitions?$select=LogicalName,EntitySetName&$filter=EntitySetName eq '{}'",
                        self.base,
                        urlencode(set)
                    ),
                    None,
                )
                .await?;
            let logical = defs["value"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| d["EntitySetName"] == set)
                .and_then(|d| d["LogicalName"].as_str())
                .ok_or_else(|| rejected(format!("Sales has no entity set '{set}'")))?
                .to_owned();
            let attr = self
                .get_json(
                    &format!(
                        "{}EntityDefinitions(LogicalName='{}')/Attributes(LogicalName='{}')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)",
                        self.base,
                        urlencode(&logical),
                        urlencode(column)
                    ),
                    None,
                )
                .await?;
            let options = attr["OptionSet"]["Options"].as_array().ok_or_else(|| {
                rejected(format!("{logical}.{column} is not an option set column"))
            })?;
            Ok(options
                .iter()
                .filter_map(|o| {
                    let label = o["Label"]["UserLocalizedLabel"]["Label"].as_str().unwrap_or("");
                    Some(OptionValue { value: o["Value"].as_i64()?, label: label.to_owned() })
                })
                .collect())
        })
    }
}

/// Runs `write` on every chunk of `size` ops at once (the governor bounds how many requests are in
/// flight) and joins their outcomes in order; any error fails the whole.
async fn in_chunks<'o, F, Fut>(
    ops: &'o [WriteOp],
    size: usize,
    write: F,
) -> Result<Vec<WriteOutcome>, ConnectorError>
where
    F: FnMut(&'o [WriteOp]) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<WriteOutcome>, ConnectorError>>,
{
    let results = join_all(ops.chunks(size.max(1)).map(write)).await;
    let mut out = Vec::with_capacity(ops.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// The `value` array of a collection answer, moved out of it (rows are not copied).
fn take_values(v: &mut Value) -> Vec<Value> {
    match v.get_mut("value").map(Value::take) {
        Some(Value::Array(rows)) => rows,
        _ => Vec::new(),
    }
}

/// Percent-encodes a query value.
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sales() -> ODataConnector {
        ODataConnector::dataverse("http://localhost:1", TokenSourceForTests::source())
    }

    struct TokenSourceForTests;
    impl TokenSourceForTests {
        fn source() -> crate::auth::TokenSource {
            crate::auth::TokenSource::new(
                "http://localhost:1/oauth2/v2.0/token",
                "http://localhost:1/.default",
                crate::auth::Grant::ClientCredentials {
                    client_id: "x".into(),
                    client_secret: crate::auth::Secret("s".into()),
                },
            )
        }
    }

    #[test]
    fn lookups_are_written_as_binds_and_empty_ones_are_left_out() {
        let c = sales();
        let binds = vec![
            Bind {
                field: "_ownerid_value".into(),
                navigation: "ownerid".into(),
                target_set: "systemusers".into(),
            },
            Bind {
                field: "_transactioncurrencyid_value".into(),
                navigation: "transactioncurrencyid".into(),
                target_set: "transactioncurrencies".into(),
            },
        ];
        let fields = json!({"name": "A", "_ownerid_value": "00000000-0000-0000-0000-000000000001", "_transactioncurrencyid_value": null});
        let wire = c.wire_fields(fields.as_object().unwrap(), &binds);
        assert_eq!(
            Value::Object(wire),
            json!({"name": "A", "ownerid@odata.bind": "/systemusers(00000000-0000-0000-0000-000000000001)"})
        );
    }

    #[test]
    fn change_feed_entries_become_upserts_and_deletions() {
        let c = sales();
        let t = TableRef::new("accounts", "accountid");
        let id = "00000000-0000-0000-0000-000000000002";
        let up = c.row(&t, json!({"@odata.etag": "W/\"3\"", "accountid": id, "name": "A", "_ownerid_value@OData.Community.Display.V1.FormattedValue": "x"}));
        let Some(Change::Upsert(row)) = up else { panic!("{up:?}") };
        assert_eq!(Value::Object(row.fields), json!({"accountid": id, "name": "A"}));
        let del = c.row(&t, json!({"@odata.context": "http://h/api/data/v9.2/$metadata#accounts/$deletedEntity", "id": id, "reason": "deleted"}));
        assert_eq!(del, Some(Change::Deleted(Uuid::parse_str(id).unwrap())));
    }

    #[test]
    fn credentials_are_redacted_in_debug_output() {
        let c = ODataConnector::financials("http://h", Uuid::nil(), "INTEGRATION", "the-key-123");
        let text = format!("{c:?} {:?}", c.auth);
        assert!(!text.contains("the-key-123"), "{text}");
        let t = format!("{:?}", TokenSourceForTests::source());
        assert!(!t.contains("\"s\""), "{t}");
    }
}
