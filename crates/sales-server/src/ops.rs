//! The Web API operations, independent of how the request arrived (HTTP or a `$batch` part).
//!
//! [`execute`] runs one request inside a transaction the caller owns: a single request commits it
//! at once, a change set only after its last request. Handlers stay thin: parse, check the
//! privilege, apply the rules (kontor-sales), call the store, shape the answer.

use axum::http::{HeaderMap, Method, StatusCode};
use bytes::Bytes;
use kontor_odata::model::EntityType;
use kontor_odata::query::QueryOptions;
use kontor_sales::directory::{self, Principal};
use kontor_sales::model::{TableInfo, sales_model, storage_model};
use kontor_sales::security::{self, Op};
use kontor_store::Tx;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, code};
use crate::keys::{Key, parse_key, parse_reference, split_path, split_segment};
use crate::payload::{self, Annotations, Body, LookupNames};
use crate::state::AppState;
use kontor_sales::tables::{self as rows, Change};

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
    fn new(status: StatusCode) -> Self {
        Reply { status, headers: vec![], body: None, raw: None }
    }
    fn json(status: StatusCode, body: Value) -> Self {
        Reply { status, headers: vec![], body: Some(body), raw: None }
    }
    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
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
enum Cond {
    None,
    Any,
    Version(i64),
}

fn condition(req: &Request, name: &str) -> ApiResult<Cond> {
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

fn entity_of(
    set: &str,
) -> ApiResult<(&'static EntityType, &'static TableInfo, &'static EntityType)> {
    let (e, t) = sales_model().set(set).ok_or_else(|| ApiError::segment(set))?;
    let storage = storage_model().entity_set(set).ok_or_else(|| ApiError::segment(set))?;
    Ok((e, t, storage))
}

impl Ctx<'_> {
    fn visible<'t>(&self, table: &'t TableInfo) -> impl Fn(&str) -> bool + 't {
        let installed = self.installed;
        move |p: &str| installed || !table.is_solution_property(p)
    }
    fn check(&self, op: Op, table: &TableInfo) -> ApiResult<()> {
        self.principal
            .grants
            .check(op, table)
            .map_err(|d| ApiError::privilege(&d, self.principal.user_id))
    }
    fn entity_url(&self, set: &str, id: Uuid) -> String {
        format!("{}/{set}({id})", self.base)
    }
    fn context(&self, fragment: &str) -> String {
        format!("{}/$metadata#{fragment}", self.base)
    }
}

/// Runs one request in `tx`.
pub async fn execute(ctx: &Ctx<'_>, tx: &mut Tx, req: &Request) -> ApiResult<Reply> {
    let segs = split_path(&req.path);
    let m = &req.method;
    let first = segs.first().map(String::as_str).unwrap_or("");
    match (segs.len(), first) {
        (0, _) => return service_document(ctx, m),
        (1, "WhoAmI" | "WhoAmI()") => return who_am_i(ctx, m),
        (1, "ImportSolution") => return crate::actions::import_solution(ctx, tx, req).await,
        (1, "solutions") => return crate::actions::solutions(ctx, tx, req).await,
        (1, "sdkmessagefilters") => return crate::definitions::sdk_message_filters(ctx, req),
        (_, f) if f == "EntityDefinitions" || f.starts_with("EntityDefinitions(") => {
            return crate::definitions::entity_definitions(ctx, req, &segs);
        }
        (1, "kontor_SetFinancialsConnection") => {
            return crate::actions::set_connection(ctx, tx, req).await;
        }
        (1, "kontor_GetFinancialsConnection" | "kontor_GetFinancialsConnection()") => {
            return crate::actions::get_connection(ctx, tx, req).await;
        }
        _ => {}
    }
    let (set, key_text) = split_segment(first).ok_or_else(|| ApiError::segment(first))?;
    let (entity, table, _) = entity_of(set)?;
    let key = match key_text {
        Some(k) => Some(parse_key(k).ok_or_else(|| {
            ApiError::bad_request(
                code::QUERY_OR_SEGMENT,
                format!("Invalid key '({k})' for the entity set '{set}'."),
            )
        })?),
        None => None,
    };
    let rest: Vec<&str> = segs[1..].iter().map(String::as_str).collect();
    match (key, rest.as_slice()) {
        (None, []) => match *m {
            Method::GET => list(ctx, tx, req, entity, table).await,
            Method::POST => create(ctx, tx, req, entity, table).await,
            _ => Err(ApiError::method_not_allowed(m.as_str(), set)),
        },
        (None, ["$count"]) if *m == Method::GET => count(ctx, tx, req, entity, table).await,
        (None, [action]) if *m == Method::POST => {
            let name = action.strip_prefix("Microsoft.Dynamics.CRM.").unwrap_or(action);
            match name {
                "CreateMultiple" | "UpdateMultiple" | "UpsertMultiple" => {
                    crate::bulk::run(ctx, tx, req, entity, table, name).await
                }
                _ => Err(ApiError::segment(action)),
            }
        }
        (Some(key), []) => match *m {
            Method::GET => retrieve(ctx, tx, req, entity, table, &key).await,
            Method::PATCH => upsert(ctx, tx, req, entity, table, &key).await.map(|(r, _)| r),
            Method::DELETE => delete(ctx, tx, req, entity, table, &key).await,
            _ => Err(ApiError::method_not_allowed(m.as_str(), set)),
        },
        (Some(key), rest)
            if set == "systemusers"
                && rest.first().is_some_and(|r| {
                    r.starts_with("systemuserroles_association") || r.contains("kontor_")
                }) =>
        {
            crate::actions::systemuser(ctx, tx, req, &key, rest).await
        }
        (Some(key), [prop]) => property(ctx, tx, req, entity, table, &key, prop).await,
        (Some(key), [nav, "$ref"]) if *m == Method::DELETE => {
            clear_reference(ctx, tx, entity, table, &key, nav).await
        }
        (Some(_), [seg, ..]) | (None, [seg, ..]) => Err(ApiError::segment(seg)),
    }
}

/// `GET <set>(<key>)/<property>` → `{"value": …}`; `PUT` with `{"value": …}` updates one property.
async fn property(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    req: &Request,
    entity: &EntityType,
    table: &TableInfo,
    key: &Key,
    prop: &str,
) -> ApiResult<Reply> {
    let visible = ctx.visible(table);
    if entity.property(prop).is_none() || !visible(prop) {
        return Err(ApiError::segment(prop));
    }
    let existing =
        find(tx, entity, table, key).await?.ok_or_else(|| not_found(entity, table, key))?;
    match req.method {
        Method::GET => {
            ctx.check(Op::Read, table)?;
            let v = existing.get(prop).cloned().unwrap_or(Value::Null);
            if v.is_null() {
                return Ok(Reply::new(StatusCode::NO_CONTENT));
            }
            Ok(Reply::json(
                StatusCode::OK,
                json!({"@odata.context": ctx.context(&format!("{}({})/{prop}", entity.set_name, row_id(entity, &existing).map(|i| i.to_string()).unwrap_or_default())), "value": v}),
            ))
        }
        Method::PUT => {
            let json = parse_json(&entity.set_name, &req.body)?;
            let value = json.get("value").cloned().ok_or_else(|| {
                ApiError::payload(&entity.set_name, "The body must be {\"value\": …}.")
            })?;
            let body = payload::parse_body(entity, table, &json!({ prop: value }), true, &visible)?;
            update_row(ctx, tx, entity, table, &existing, body, None).await?;
            Ok(Reply::new(StatusCode::NO_CONTENT))
        }
        ref other => Err(ApiError::method_not_allowed(other.as_str(), prop)),
    }
}

/// `DELETE <set>(<key>)/<lookup navigation>/$ref` clears a lookup.
async fn clear_reference(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    key: &Key,
    nav: &str,
) -> ApiResult<Reply> {
    let (lookup, _, _) = table.lookup_by_navigation(nav).ok_or_else(|| ApiError::segment(nav))?;
    if lookup.read_only {
        return Err(ApiError::segment(nav));
    }
    let existing =
        find(tx, entity, table, key).await?.ok_or_else(|| not_found(entity, table, key))?;
    let mut body = Body::default();
    body.attrs.insert(lookup.property(), Value::Null);
    if let Some(tp) = &lookup.type_property {
        body.attrs.insert(tp.clone(), Value::Null);
    }
    update_row(ctx, tx, entity, table, &existing, body, None).await?;
    Ok(Reply::new(StatusCode::NO_CONTENT))
}

fn service_document(ctx: &Ctx<'_>, m: &Method) -> ApiResult<Reply> {
    if *m != Method::GET {
        return Err(ApiError::method_not_allowed(m.as_str(), "the service document"));
    }
    let value: Vec<Value> = sales_model()
        .odata
        .entity_types
        .iter()
        .map(|e| json!({"name": e.set_name, "kind": "EntitySet", "url": e.set_name}))
        .collect();
    Ok(Reply::json(
        StatusCode::OK,
        json!({"@odata.context": format!("{}/$metadata", ctx.base), "value": value}),
    ))
}

/// A stable organization id for this service.
pub fn organization_id() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, b"kontor.sales.organization")
}

fn who_am_i(ctx: &Ctx<'_>, m: &Method) -> ApiResult<Reply> {
    if *m != Method::GET {
        return Err(ApiError::method_not_allowed(m.as_str(), "WhoAmI"));
    }
    Ok(Reply::json(
        StatusCode::OK,
        json!({
            "@odata.context": ctx.context("Microsoft.Dynamics.CRM.WhoAmIResponse"),
            "BusinessUnitId": ctx.principal.business_unit_id.map(|b| b.to_string()),
            "UserId": ctx.principal.user_id.to_string(),
            "OrganizationId": organization_id().to_string(),
        }),
    ))
}

/// Rejects solution columns in a query while the solution is not installed.
fn check_query_visibility(
    ctx: &Ctx<'_>,
    entity: &EntityType,
    table: &TableInfo,
    raw: &str,
) -> ApiResult<()> {
    if ctx.installed {
        return Ok(());
    }
    for p in &table.solution_properties {
        if raw.contains(p.as_str()) {
            return Err(ApiError::bad_request(
                code::QUERY_OR_SEGMENT,
                format!(
                    "Could not find a property named '{p}' on type 'Microsoft.Dynamics.CRM.{}'.",
                    entity.name
                ),
            ));
        }
    }
    Ok(())
}

fn parse_query(
    ctx: &Ctx<'_>,
    raw: &str,
    entity: &EntityType,
    table: &TableInfo,
) -> ApiResult<QueryOptions> {
    check_query_visibility(ctx, entity, table, raw)?;
    let storage = storage_model()
        .entity_set(&entity.set_name)
        .ok_or_else(|| ApiError::segment(&entity.set_name))?;
    Ok(QueryOptions::parse(raw, storage, storage_model())?)
}

/// Removes `$skiptoken` / `$deltatoken` (and Kontor's own paging parameters) from a raw query.
fn strip_paging(raw: &str) -> Vec<String> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let k = p.split('=').next().unwrap_or("").to_ascii_lowercase();
            !matches!(
                k.as_str(),
                "$skiptoken" | "%24skiptoken" | "$deltatoken" | "%24deltatoken" | "kontortrack"
            )
        })
        .map(str::to_owned)
        .collect()
}

fn link(base: &str, set: &str, mut params: Vec<String>, extra: &[(&str, String)]) -> String {
    for (k, v) in extra {
        params.push(format!("{k}={}", kontor_odata::query::percent_encode(v)));
    }
    if params.is_empty() {
        format!("{base}/{set}")
    } else {
        format!("{base}/{set}?{}", params.join("&"))
    }
}

fn select_fragment(set: &str, select: &[String]) -> String {
    if select.is_empty() { set.to_owned() } else { format!("{set}({})", select.join(",")) }
}

/// The display names of every lookup target in `rows` (for formatted-value annotations).
async fn lookup_names(
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    rows: &[Map<String, Value>],
) -> ApiResult<LookupNames> {
    let mut names = LookupNames::new();
    for (set, ids) in payload::lookup_targets(entity, table, rows) {
        let Some((te, tt)) = sales_model().set(&set) else { continue };
        let Some(primary) = tt.primary_name.as_deref().and_then(|p| te.property(p)) else {
            continue;
        };
        let found =
            rows::names(tx, te, &primary.column, &ids.into_iter().collect::<Vec<_>>()).await?;
        for (id, name) in found {
            names.insert((set.clone(), id), name);
        }
    }
    Ok(names)
}

/// Shapes rows (and their expansions) for output.
async fn shape_rows(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    prefs: &Prefs,
    entity: &EntityType,
    table: &TableInfo,
    rows: &[Map<String, Value>],
    q: &QueryOptions,
) -> ApiResult<Vec<Value>> {
    let names = if prefs.annotations.any() {
        lookup_names(tx, entity, table, rows).await?
    } else {
        LookupNames::new()
    };
    let visible = ctx.visible(table);
    let mut out = vec![];
    for row in rows {
        let mut shaped =
            payload::shape(entity, table, row, &q.select, &prefs.annotations, &names, &visible);
        for ex in &q.expand {
            let Some(nav) = entity.navigation(&ex.navigation) else { continue };
            let Some((te, tt)) = sales_model().set(&nav.target_set) else { continue };
            let tv = ctx.visible(tt);
            let none = LookupNames::new();
            let plain = Annotations::default();
            let v = match row.get(&ex.navigation) {
                Some(Value::Object(o)) => {
                    Value::Object(payload::shape(te, tt, o, &ex.options.select, &plain, &none, &tv))
                }
                Some(Value::Array(a)) => Value::Array(
                    a.iter()
                        .filter_map(Value::as_object)
                        .map(|o| {
                            Value::Object(payload::shape(
                                te,
                                tt,
                                o,
                                &ex.options.select,
                                &plain,
                                &none,
                                &tv,
                            ))
                        })
                        .collect(),
                ),
                Some(other) => other.clone(),
                None => Value::Null,
            };
            shaped.insert(ex.navigation.clone(), v);
        }
        out.push(Value::Object(shaped));
    }
    Ok(out)
}

fn page_size(ctx: &Ctx<'_>, prefs: &Prefs) -> usize {
    let max = ctx.state.config().max_page_size.max(1);
    prefs.max_page_size.unwrap_or(max).clamp(1, max)
}

fn applied(prefs: &Prefs, page: Option<usize>, track: bool) -> Option<String> {
    let mut items = vec![];
    if let Some(p) = page.filter(|_| prefs.max_page_size.is_some()) {
        items.push(format!("odata.maxpagesize={p}"));
    }
    if let Some(a) = &prefs.annotations_raw {
        items.push(format!("odata.include-annotations={a}"));
    }
    if track {
        items.push("odata.track-changes".to_owned());
    }
    if items.is_empty() { None } else { Some(items.join(",")) }
}

async fn list(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    req: &Request,
    entity: &EntityType,
    table: &TableInfo,
) -> ApiResult<Reply> {
    ctx.check(Op::Read, table)?;
    let prefs = Prefs::parse(&req.headers);
    let q = parse_query(ctx, &req.query, entity, table)?;
    if let Some(token) = &q.deltatoken {
        return delta(ctx, tx, req, &prefs, entity, table, &q, token).await;
    }
    let track_param = req
        .query
        .split('&')
        .find_map(|p| p.strip_prefix("kontortrack="))
        .and_then(|v| v.parse::<i64>().ok());
    let tracking = prefs.track_changes || track_param.is_some();
    if tracking
        && (q.filter.is_some() || !q.orderby.is_empty() || !q.expand.is_empty() || q.top.is_some())
    {
        return Err(ApiError::bad_request(
            code::INVALID_ARGUMENT,
            "The $filter, $orderby, $expand and $top query options are not supported with change tracking (Prefer: odata.track-changes).",
        ));
    }
    let track_version = match track_param {
        Some(v) => Some(v),
        None if tracking => Some(rows::current_version(tx).await?),
        None => None,
    };
    let size = page_size(ctx, &prefs);
    let storage = storage_model()
        .entity_set(&entity.set_name)
        .ok_or_else(|| ApiError::segment(&entity.set_name))?;
    let page = rows::list(tx, storage, &q, size).await?;
    let value = shape_rows(ctx, tx, &prefs, entity, table, &page.rows, &q).await?;
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(ctx.context(&select_fragment(&entity.set_name, &q.select))),
    );
    if q.count {
        body.insert("@odata.count".into(), json!(page.count.unwrap_or(value.len() as i64)));
    }
    if prefs.annotations.any() {
        body.insert("@Microsoft.Dynamics.CRM.totalrecordcount".into(), json!(-1));
        body.insert("@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded".into(), json!(false));
    }
    body.insert("value".into(), Value::Array(value));
    let params = strip_paging(&req.query);
    if let Some(token) = page.next_skiptoken {
        let mut extra = vec![("$skiptoken", token)];
        if let Some(v) = track_version {
            extra.push(("kontortrack", v.to_string()));
        }
        body.insert(
            "@odata.nextLink".into(),
            Value::String(link(&ctx.base, &entity.set_name, params, &extra)),
        );
    } else if let Some(v) = track_version {
        body.insert(
            "@odata.deltaLink".into(),
            Value::String(link(
                &ctx.base,
                &entity.set_name,
                params,
                &[("$deltatoken", v.to_string())],
            )),
        );
    }
    let mut reply = Reply::json(StatusCode::OK, Value::Object(body));
    if let Some(a) = applied(&prefs, Some(size), tracking) {
        reply = reply.header("Preference-Applied", a);
    }
    Ok(reply)
}

#[allow(clippy::too_many_arguments)]
async fn delta(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    req: &Request,
    prefs: &Prefs,
    entity: &EntityType,
    table: &TableInfo,
    q: &QueryOptions,
    token: &str,
) -> ApiResult<Reply> {
    let after: i64 = token.trim().parse().map_err(|_| {
        ApiError::bad_request(
            code::INVALID_ARGUMENT,
            format!("The delta token '{token}' is not valid or has expired."),
        )
    })?;
    let size = page_size(ctx, prefs);
    let storage = storage_model()
        .entity_set(&entity.set_name)
        .ok_or_else(|| ApiError::segment(&entity.set_name))?;
    let mut changes = rows::changes(tx, storage, after, size + 1).await?;
    let more = changes.len() > size;
    changes.truncate(size);
    let mut last = after;
    let upserts: Vec<Map<String, Value>> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Upsert(m) => Some(m.clone()),
            Change::Deleted { .. } => None,
        })
        .collect();
    let shaped = shape_rows(ctx, tx, prefs, entity, table, &upserts, q).await?;
    let mut shaped = shaped.into_iter();
    let mut value = vec![];
    let deleted_ctx = ctx.context(&format!("{}/$deletedEntity", entity.set_name));
    for c in &changes {
        match c {
            Change::Upsert(m) => {
                last = last.max(rows::row_version(m).unwrap_or(last));
                if let Some(s) = shaped.next() {
                    value.push(s);
                }
            }
            Change::Deleted { id, version } => {
                last = last.max(*version);
                value.push(json!({"@odata.context": deleted_ctx, "id": id.to_string(), "reason": "deleted"}));
            }
        }
    }
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(
            ctx.context(&format!("{}/$delta", select_fragment(&entity.set_name, &q.select))),
        ),
    );
    body.insert("value".into(), Value::Array(value));
    let params = strip_paging(&req.query);
    let l = link(&ctx.base, &entity.set_name, params, &[("$deltatoken", last.to_string())]);
    body.insert(if more { "@odata.nextLink" } else { "@odata.deltaLink" }.into(), Value::String(l));
    let mut reply = Reply::json(StatusCode::OK, Value::Object(body));
    if let Some(a) = applied(prefs, Some(size), true) {
        reply = reply.header("Preference-Applied", a);
    }
    Ok(reply)
}

async fn count(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    req: &Request,
    entity: &EntityType,
    table: &TableInfo,
) -> ApiResult<Reply> {
    ctx.check(Op::Read, table)?;
    let mut q = parse_query(ctx, &req.query, entity, table)?;
    q.count = true;
    q.top = Some(1);
    let storage = storage_model()
        .entity_set(&entity.set_name)
        .ok_or_else(|| ApiError::segment(&entity.set_name))?;
    let page = rows::list(tx, storage, &q, 1).await?;
    let n = page.count.unwrap_or(0);
    Ok(Reply {
        status: StatusCode::OK,
        headers: vec![],
        body: None,
        raw: Some(("text/plain".into(), n.to_string().into_bytes())),
    })
}

/// Maps alternate key names (`accountnumber`, `uomscheduleid`, `_uomscheduleid_value`) to
/// properties and checks that they form one of the entity's keys.
fn alternate_key(
    entity: &EntityType,
    table: &TableInfo,
    pairs: &[(String, Value)],
) -> ApiResult<Vec<(String, Value)>> {
    let mut out = vec![];
    for (name, v) in pairs {
        let prop = if entity.property(name).is_some() {
            name.clone()
        } else {
            let lookup = format!("_{name}_value");
            if entity.property(&lookup).is_some() { lookup } else { name.clone() }
        };
        let p = entity.property(&prop).ok_or_else(|| invalid_key(entity, pairs))?;
        let v = payload::check_value(&entity.set_name, &entity.name, p, v)
            .map_err(|_| invalid_key(entity, pairs))?;
        out.push((prop, v));
    }
    let mut names: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
    names.sort_unstable();
    let ok = entity.alternate_keys.iter().any(|k| {
        let mut k: Vec<&str> = k.iter().map(String::as_str).collect();
        k.sort_unstable();
        k == names
    });
    let _ = table;
    if !ok {
        return Err(invalid_key(entity, pairs));
    }
    Ok(out)
}

fn invalid_key(entity: &EntityType, pairs: &[(String, Value)]) -> ApiError {
    let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    ApiError::bad_request(
        code::QUERY_OR_SEGMENT,
        format!(
            "The key '{}' is not an alternate key of the entity '{}'.",
            names.join(","),
            entity.name
        ),
    )
}

pub(crate) fn key_text(pairs: &[(String, Value)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!("{k}:{}", v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Finds a row by id or alternate key.
pub async fn find(
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    key: &Key,
) -> ApiResult<Option<Map<String, Value>>> {
    let storage = storage_model()
        .entity_set(&entity.set_name)
        .ok_or_else(|| ApiError::segment(&entity.set_name))?;
    match key {
        Key::Id(id) => rows::get(tx, storage, *id).await.map_err(ApiError::from),
        Key::Alternate(pairs) => {
            let pairs = alternate_key(entity, table, pairs)?;
            rows::get_by_alternate_key(tx, storage, &pairs).await.map_err(ApiError::from)
        }
    }
}

fn not_found(entity: &EntityType, table: &TableInfo, key: &Key) -> ApiError {
    match key {
        Key::Id(id) => ApiError::not_found(&table.logical_name, id),
        Key::Alternate(pairs) => ApiError::not_found_by_key(&entity.name, &key_text(pairs)),
    }
}

fn row_id(entity: &EntityType, row: &Map<String, Value>) -> Option<Uuid> {
    row.get(&entity.key).and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
}

async fn retrieve(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    req: &Request,
    entity: &EntityType,
    table: &TableInfo,
    key: &Key,
) -> ApiResult<Reply> {
    ctx.check(Op::Read, table)?;
    let prefs = Prefs::parse(&req.headers);
    let q = parse_query(ctx, &req.query, entity, table)?;
    let row = find(tx, entity, table, key).await?.ok_or_else(|| not_found(entity, table, key))?;
    let row = if q.expand.is_empty() {
        row
    } else {
        // Expansions come from the store's listing; fetch the one row through it.
        let id = row_id(entity, &row).ok_or_else(|| ApiError::internal("row without a key"))?;
        let storage = storage_model()
            .entity_set(&entity.set_name)
            .ok_or_else(|| ApiError::segment(&entity.set_name))?;
        let mut q1 = q.clone();
        q1.filter = Some(
            kontor_odata::filter::parse(&format!("{} eq {id}", entity.key))
                .map_err(kontor_odata::ODataError::from)?,
        );
        rows::list(tx, storage, &q1, 1).await?.rows.into_iter().next().unwrap_or(row)
    };
    let etag = payload::etag(&row);
    if let (Cond::Version(v), Some(e)) = (condition(req, "if-none-match")?, &etag)
        && format!("W/\"{v}\"") == *e
        && q.expand.is_empty()
        && !prefs.annotations.any()
    {
        return Ok(Reply::new(StatusCode::NOT_MODIFIED).header("ETag", e.clone()));
    }
    let mut shaped =
        shape_rows(ctx, tx, &prefs, entity, table, std::slice::from_ref(&row), &q).await?;
    let mut obj = match shaped.pop() {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    obj.insert(
        "@odata.context".into(),
        Value::String(
            ctx.context(&format!("{}/$entity", select_fragment(&entity.set_name, &q.select))),
        ),
    );
    // `@odata.context` first, as Dataverse writes it.
    let mut ordered = Map::new();
    if let Some(c) = obj.remove("@odata.context") {
        ordered.insert("@odata.context".into(), c);
    }
    ordered.extend(obj);
    let mut reply = Reply::json(StatusCode::OK, Value::Object(ordered));
    if let Some(e) = etag {
        reply = reply.header("ETag", e);
    }
    if let Some(a) = applied(&prefs, None, false) {
        reply = reply.header("Preference-Applied", a);
    }
    Ok(reply)
}

fn parse_json(set: &str, body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::payload(set, "The request body is empty."));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::payload(set, format!("The request body is not valid JSON: {e}")))
}

/// Rows already read for this request, by entity set and key, so that set-based messages
/// (`UpsertMultiple` …) resolve the binds and defaults of many targets with one query per
/// target set instead of one per row. A key looked up and not found is remembered as `None`.
#[derive(Debug, Default)]
pub struct Prefetched {
    rows: std::collections::HashMap<(String, Uuid), Option<Map<String, Value>>>,
}

impl Prefetched {
    /// Reads the rows of `set` with these keys (one query per thousand keys).
    pub async fn load(&mut self, tx: &mut Tx, set: &str, ids: &[Uuid]) -> ApiResult<()> {
        let wanted: Vec<Uuid> = ids
            .iter()
            .copied()
            .filter(|id| !self.rows.contains_key(&(set.to_owned(), *id)))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let (_, _, storage) = entity_of(set)?;
        let mut found = rows::get_many(tx, storage, &wanted).await?;
        for id in wanted {
            self.rows.insert((set.to_owned(), id), found.remove(&id));
        }
        Ok(())
    }

    /// `Some(row or None)` when `set(id)` was read, `None` when it was not.
    pub fn get(&self, set: &str, id: Uuid) -> Option<Option<&Map<String, Value>>> {
        self.rows.get(&(set.to_owned(), id)).map(Option::as_ref)
    }

    /// Every `set(id)` the binds of `bodies` refer to by primary key.
    pub async fn load_binds<'b>(
        &mut self,
        tx: &mut Tx,
        bodies: impl Iterator<Item = &'b Body>,
    ) -> ApiResult<()> {
        let mut by_set: std::collections::BTreeMap<&str, Vec<Uuid>> = Default::default();
        for body in bodies {
            for b in &body.binds {
                if let Some(Key::Id(id)) = &b.target {
                    by_set.entry(b.target_set.as_str()).or_default().push(*id);
                }
            }
        }
        for (set, mut ids) in by_set {
            ids.sort_unstable();
            ids.dedup();
            self.load(tx, set, &ids).await?;
        }
        Ok(())
    }
}

/// A row by key, from `pre` when it holds it.
pub async fn find_in(
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    key: &Key,
    pre: &Prefetched,
) -> ApiResult<Option<Map<String, Value>>> {
    if let Key::Id(id) = key
        && let Some(hit) = pre.get(&entity.set_name, *id)
    {
        return Ok(hit.cloned());
    }
    find(tx, entity, table, key).await
}

/// Resolves the `@odata.bind` lookups of a body into attribute values, checking each target
/// exists (a dangling reference is a 400).
pub async fn resolve_binds(
    tx: &mut Tx,
    body: &mut Body,
    set: &str,
    pre: &Prefetched,
) -> ApiResult<()> {
    for b in std::mem::take(&mut body.binds) {
        let Some(key) = &b.target else {
            body.attrs.insert(b.property.clone(), Value::Null);
            if let Some(tp) = &b.type_property {
                body.attrs.insert(tp.clone(), Value::Null);
            }
            continue;
        };
        let (te, tt, _) = entity_of(&b.target_set)?;
        let target = find_in(tx, te, tt, key, pre).await?;
        let Some(target) = target else {
            let mut e = not_found(te, tt, key);
            e.status = StatusCode::BAD_REQUEST;
            e.message = format!(
                "{} (referenced by '{}' in the payload for '{set}')",
                e.message, b.property
            );
            return Err(e);
        };
        let id =
            row_id(te, &target).ok_or_else(|| ApiError::internal("target row without a key"))?;
        body.attrs.insert(b.property.clone(), Value::String(id.to_string()));
        if let Some(tp) = &b.type_property {
            body.attrs.insert(tp.clone(), Value::String(b.target_logical.clone()));
        }
    }
    Ok(())
}

/// Entity-specific defaults that need the database or the caller.
async fn defaults_on_create(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    entity: &EntityType,
    id: Uuid,
    attrs: &mut Map<String, Value>,
    pre: &Prefetched,
) -> ApiResult<()> {
    let missing = |a: &Map<String, Value>, k: &str| a.get(k).is_none_or(Value::is_null);
    if entity.name == "uomschedule" {
        create_base_unit(ctx, tx, id, attrs).await?;
    }
    if entity.name == "uom" {
        // A unit without a base unit is expressed in its group's base unit, one for one.
        if missing(attrs, "_baseuom_value")
            && let Some(group) = attrs.get("_uomscheduleid_value").and_then(Value::as_str)
            && let Some(base) = tx
                .fetch_optional_sql(
                    "SELECT uomid FROM crm_uom WHERE uomscheduleid = $1 AND isschedulebaseuom = TRUE",
                    vec![group.to_ascii_lowercase().into()],
                )
                .await
                .map_err(ApiError::from)?
        {
            attrs.insert("_baseuom_value".into(), Value::String(base.get_string("uomid")));
        }
        if missing(attrs, "quantity") {
            attrs.insert("quantity".into(), json!(1));
        }
        attrs.insert("isschedulebaseuom".into(), json!(false));
    }
    match entity.name.as_str() {
        "salesorder" if missing(attrs, "ordernumber") => {
            let n = directory::next_sequence(tx, "salesorder").await?;
            attrs.insert("ordernumber".into(), Value::String(format!("ORD-{n:05}")));
        }
        "invoice" if missing(attrs, "invoicenumber") => {
            let n = directory::next_sequence(tx, "invoice").await?;
            attrs.insert("invoicenumber".into(), Value::String(format!("INV-{n:05}")));
        }
        "systemuser" | "team" | "role" if missing(attrs, "_businessunitid_value") => {
            if let Some(bu) = ctx.principal.business_unit_id {
                attrs.insert("_businessunitid_value".into(), Value::String(bu.to_string()));
            }
        }
        _ => {}
    }
    if entity.name == "systemuser" {
        if !missing(attrs, "applicationid") {
            attrs.insert("accessmode".into(), json!(4));
            attrs.insert("isintegrationuser".into(), json!(false));
        }
        for (k, v) in
            [("isdisabled", json!(false)), ("islicensed", json!(true)), ("accessmode", json!(0))]
        {
            if missing(attrs, k) {
                attrs.insert(k.into(), v);
            }
        }
    }
    if entity.name == "productpricelevel" {
        // The price list item's primary name is the product's name.
        if let Some(pid) = attrs
            .get("_productid_value")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
        {
            let (pe, pt, _) = entity_of("products")?;
            if let Some(p) = find_in(tx, pe, pt, &Key::Id(pid), pre).await? {
                attrs.insert("productidname".into(), p.get("name").cloned().unwrap_or(Value::Null));
            }
        }
    }
    Ok(())
}

/// Dataverse creates a unit group's base unit with the group: named `baseuomname` ("Primary
/// Unit" when not given), quantity 1, expressed in itself.
async fn create_base_unit(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    schedule: Uuid,
    attrs: &mut Map<String, Value>,
) -> ApiResult<()> {
    let name = match attrs.get("baseuomname").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => n.to_owned(),
        _ => "Primary Unit".to_owned(),
    };
    attrs.insert("baseuomname".into(), Value::String(name.clone()));
    let (e, t, storage) = entity_of("uoms")?;
    let id = Uuid::now_v7();
    let mut unit = Map::new();
    unit.insert("name".into(), Value::String(name));
    unit.insert("_uomscheduleid_value".into(), Value::String(schedule.to_string()));
    unit.insert("_baseuom_value".into(), Value::String(id.to_string()));
    unit.insert("quantity".into(), json!(1));
    unit.insert("isschedulebaseuom".into(), json!(true));
    kontor_sales::rules::prepare_create(t, id, &mut unit, ctx.principal.user_id)?;
    unit.insert(e.key.clone(), Value::String(id.to_string()));
    rows::insert(tx, storage, &unit).await.map_err(ApiError::from)?;
    Ok(())
}

/// Turns a parsed create body into the row to store (binds resolved, defaults and rules
/// applied, key set). Checks the create privilege.
pub async fn prepare_create(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    mut body: Body,
    id: Option<Uuid>,
    pre: &Prefetched,
) -> ApiResult<Map<String, Value>> {
    ctx.check(Op::Create, table)?;
    resolve_binds(tx, &mut body, &entity.set_name, pre).await?;
    let id = id.or(body.key).unwrap_or_else(Uuid::now_v7);
    let mut attrs = body.attrs;
    defaults_on_create(ctx, tx, entity, id, &mut attrs, pre).await?;
    kontor_sales::rules::prepare_create(table, id, &mut attrs, ctx.principal.user_id)?;
    attrs.insert(entity.key.clone(), Value::String(id.to_string()));
    Ok(attrs)
}

/// Creates a row from a parsed body; returns the stored row.
pub async fn create_row(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    body: Body,
    id: Option<Uuid>,
) -> ApiResult<Map<String, Value>> {
    let attrs = prepare_create(ctx, tx, entity, table, body, id, &Prefetched::default()).await?;
    let storage = storage_model()
        .entity_set(&entity.set_name)
        .ok_or_else(|| ApiError::segment(&entity.set_name))?;
    rows::insert(tx, storage, &attrs).await.map_err(ApiError::from)
}

/// Updates an existing row with a parsed body; returns the stored row.
pub async fn update_row(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    existing: &Map<String, Value>,
    body: Body,
    if_match: Option<i64>,
) -> ApiResult<Map<String, Value>> {
    update_row_with(ctx, tx, entity, table, existing, body, if_match, &Prefetched::default()).await
}

/// [`update_row`] with binds resolved from rows already read.
#[allow(clippy::too_many_arguments)]
pub async fn update_row_with(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    existing: &Map<String, Value>,
    mut body: Body,
    if_match: Option<i64>,
    pre: &Prefetched,
) -> ApiResult<Map<String, Value>> {
    ctx.check(Op::Write, table)?;
    let id = row_id(entity, existing).ok_or_else(|| ApiError::internal("row without a key"))?;
    if let Some(k) = body.key
        && k != id
    {
        return Err(ApiError::bad_request(
            code::INVALID_ARGUMENT,
            format!("The key '{k}' in the payload does not match the record's key '{id}'."),
        ));
    }
    resolve_binds(tx, &mut body, &entity.set_name, pre).await?;
    let mut patch = body.attrs;
    kontor_sales::rules::prepare_update(table, id, existing, &mut patch, ctx.principal.user_id)?;
    let storage = storage_model()
        .entity_set(&entity.set_name)
        .ok_or_else(|| ApiError::segment(&entity.set_name))?;
    rows::update(tx, storage, id, &patch, if_match).await.map_err(ApiError::from)
}

fn representation(
    ctx: &Ctx<'_>,
    entity: &EntityType,
    table: &TableInfo,
    row: &Map<String, Value>,
    select: &[String],
) -> Value {
    let visible = ctx.visible(table);
    let shaped = payload::shape(
        entity,
        table,
        row,
        select,
        &Annotations::default(),
        &LookupNames::new(),
        &visible,
    );
    let mut obj = Map::new();
    obj.insert(
        "@odata.context".into(),
        Value::String(
            ctx.context(&format!("{}/$entity", select_fragment(&entity.set_name, select))),
        ),
    );
    obj.extend(shaped);
    Value::Object(obj)
}

fn written_reply(
    ctx: &Ctx<'_>,
    req: &Request,
    entity: &EntityType,
    table: &TableInfo,
    row: &Map<String, Value>,
    created: bool,
) -> ApiResult<Reply> {
    let prefs = Prefs::parse(&req.headers);
    let id = row_id(entity, row).ok_or_else(|| ApiError::internal("row without a key"))?;
    let url = ctx.entity_url(&entity.set_name, id);
    let mut reply = if prefs.return_representation {
        let q = parse_query(ctx, &req.query, entity, table)?;
        let status = if created { StatusCode::CREATED } else { StatusCode::OK };
        Reply::json(status, representation(ctx, entity, table, row, &q.select))
            .header("Preference-Applied", "return=representation")
    } else {
        Reply::new(StatusCode::NO_CONTENT)
    };
    reply = reply.header("OData-EntityId", url.clone());
    if created {
        reply = reply.header("Location", url);
    }
    if let Some(e) = payload::etag(row) {
        reply = reply.header("ETag", e);
    }
    Ok(reply)
}

async fn create(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    req: &Request,
    entity: &EntityType,
    table: &TableInfo,
) -> ApiResult<Reply> {
    ctx.check(Op::Create, table)?;
    let json = parse_json(&entity.set_name, &req.body)?;
    let visible = ctx.visible(table);
    let body = payload::parse_body(entity, table, &json, false, &visible)?;
    let row = create_row(ctx, tx, entity, table, body, None).await?;
    written_reply(ctx, req, entity, table, &row, true)
}

/// PATCH: update, or create when the row is missing (upsert). Returns the reply and whether it
/// created the row.
pub async fn upsert(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    req: &Request,
    entity: &EntityType,
    table: &TableInfo,
    key: &Key,
) -> ApiResult<(Reply, bool)> {
    let json = parse_json(&entity.set_name, &req.body)?;
    let visible = ctx.visible(table);
    let if_match = condition(req, "if-match")?;
    let if_none_match = condition(req, "if-none-match")?;
    let existing = find(tx, entity, table, key).await?;
    match existing {
        Some(existing) => {
            if if_none_match == Cond::Any {
                ctx.check(Op::Write, table)?;
                return Err(ApiError::duplicate());
            }
            let body = payload::parse_body(entity, table, &json, true, &visible)?;
            let version = match if_match {
                Cond::Version(v) => Some(v),
                _ => None,
            };
            let row = update_row(ctx, tx, entity, table, &existing, body, version).await?;
            Ok((written_reply(ctx, req, entity, table, &row, false)?, false))
        }
        None => {
            if if_match != Cond::None {
                ctx.check(Op::Write, table)?;
                return Err(not_found(entity, table, key));
            }
            let mut body = payload::parse_body(entity, table, &json, false, &visible)?;
            let id = match key {
                Key::Id(id) => Some(*id),
                Key::Alternate(pairs) => {
                    for (p, v) in alternate_key(entity, table, pairs)? {
                        body.attrs.insert(p, v);
                    }
                    None
                }
            };
            let row = create_row(ctx, tx, entity, table, body, id).await?;
            Ok((written_reply(ctx, req, entity, table, &row, true)?, true))
        }
    }
}

async fn delete(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    req: &Request,
    entity: &EntityType,
    table: &TableInfo,
    key: &Key,
) -> ApiResult<Reply> {
    ctx.check(Op::Delete, table)?;
    let if_match = match condition(req, "if-match")? {
        Cond::Version(v) => Some(v),
        _ => None,
    };
    let existing =
        find(tx, entity, table, key).await?.ok_or_else(|| not_found(entity, table, key))?;
    let id = row_id(entity, &existing).ok_or_else(|| ApiError::internal("row without a key"))?;
    if entity.name == "systemuser" && id == ctx.principal.user_id {
        return Err(ApiError::bad_request(code::BUSINESS_RULE, "You cannot delete your own user."));
    }
    let storage = storage_model()
        .entity_set(&entity.set_name)
        .ok_or_else(|| ApiError::segment(&entity.set_name))?;
    rows::delete(tx, storage, id, if_match).await?;
    Ok(Reply::new(StatusCode::NO_CONTENT))
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

/// Role checks for Kontor's administrative actions.
pub fn require_admin(ctx: &Ctx<'_>, what: &str) -> ApiResult<()> {
    if security::may_administer_users(&ctx.principal.grants) {
        Ok(())
    } else {
        Err(ApiError::missing_role(ctx.principal.user_id, what))
    }
}
