//! The API v2.0 resources: one executor for every entity set (the path is parsed here, the
//! work is `kontor_financials::service` / `query`), used by the HTTP handler and by `$batch`.

use axum::http::{Method, StatusCode};
use kontor_financials::credentials::{Access, Resource};
use kontor_financials::model::{model, sets};
use kontor_financials::query::{self, Change};
use kontor_financials::rows::Record;
use kontor_financials::service::{self, Actor};
use kontor_financials::users::{self, Principal};
use kontor_odata::json as oj;
use kontor_odata::model::{EntityType, NavigationKind};
use kontor_odata::query::{QueryOptions, percent_decode};
use kontor_store::Tx;
use serde_json::{Map, Value as Json, json};
use uuid::Uuid;

use crate::AppState;
use crate::auth::check;
use crate::error::ApiError;

/// One request to the API, from HTTP or from a `$batch` part. `path` is relative to the
/// service root (`companies(…)/customers`).
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub query: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `http://host:port/api/v2.0/`.
    pub service_root: String,
}

impl ApiRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn prefer(&self, what: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("prefer"))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .find_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                k.trim().eq_ignore_ascii_case(what).then(|| v.trim().to_owned())
            })
    }
    /// Whether the request only reads (runs in a read transaction).
    pub fn is_read(&self) -> bool {
        self.method == Method::GET
    }
}

#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Option<Json>,
}

impl ApiResponse {
    fn json(status: StatusCode, body: Json) -> Self {
        ApiResponse { status, headers: Vec::new(), body: Some(body) }
    }
    fn no_content() -> Self {
        ApiResponse { status: StatusCode::NO_CONTENT, headers: Vec::new(), body: None }
    }
    fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_owned(), v.into()));
        self
    }
}

/// A path segment: `customers`, `customers(5d11…)`, `Company('CRONUS')`.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub name: String,
    pub key: Option<String>,
}

pub fn parse_path(path: &str) -> Result<Vec<Segment>, ApiError> {
    let mut out = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode(raw).map_err(ApiError::from)?;
        match seg.find('(') {
            Some(open) if seg.ends_with(')') => {
                let key = seg[open + 1..seg.len() - 1].trim();
                let key = key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')).unwrap_or(key);
                let key = key.strip_prefix("id=").unwrap_or(key);
                out.push(Segment {
                    name: seg[..open].to_owned(),
                    key: Some(key.replace("''", "'")),
                });
            }
            _ => out.push(Segment { name: seg, key: None }),
        }
    }
    Ok(out)
}

fn parse_key(key: &str, set: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(key)
        .map_err(|_| ApiError::not_found(format!("The key '{key}' of '{set}' is not a GUID.")))
}

fn resource_of(set: &str) -> Resource {
    if set == sets::USERS { Resource::Users } else { Resource::Data }
}

fn access_of(method: &Method) -> Access {
    if method == Method::GET { Access::Read } else { Access::Write }
}

fn body_object(req: &ApiRequest) -> Result<Map<String, Json>, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Json>(&req.body) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request(
            "BadRequest",
            "Invalid Request Body: a JSON object is expected.",
        )),
        Err(e) => Err(ApiError::bad_request("BadRequest", format!("Invalid Request Body: {e}."))),
    }
}

/// `If-Match`: `None` for absent or `*`, the version for `W/"n"`, 400 otherwise.
fn if_match(req: &ApiRequest) -> Result<Option<i64>, ApiError> {
    match req.header("if-match") {
        None => Ok(None),
        Some(v) if oj::is_wildcard_etag(v) => Ok(None),
        Some(v) => oj::parse_etag(v).map(Some).ok_or_else(|| {
            ApiError::bad_request(
                "BadRequest_InvalidToken",
                "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.",
            )
        }),
    }
}

/// The context of `set` under the company: `…/$metadata#companies(<id>)/customers`.
fn set_context(req: &ApiRequest, company: Uuid, set: &str) -> String {
    format!("{}$metadata#companies({company})/{set}", req.service_root)
}

fn entity_body(req: &ApiRequest, company: Uuid, set: &str, rec: &Record) -> Json {
    let mut out = Map::new();
    out.insert(
        oj::ODATA_CONTEXT.into(),
        Json::String(format!("{}/$entity", set_context(req, company, set))),
    );
    for (k, v) in query::with_etag(rec) {
        out.insert(k, v);
    }
    Json::Object(out)
}

fn entity_response(
    req: &ApiRequest,
    company: Uuid,
    set: &str,
    rec: &Record,
    status: StatusCode,
) -> ApiResponse {
    let location =
        format!("{}companies({company})/{set}({})", req.service_root, rec.id().unwrap_or_default());
    ApiResponse::json(status, entity_body(req, company, set, rec))
        .header("etag", oj::etag(rec.version))
        .header("location", location)
}

/// Page size: `Prefer: odata.maxpagesize`, capped by the configuration.
fn page_size(state: &AppState, req: &ApiRequest) -> u64 {
    req.prefer("odata.maxpagesize")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| *n > 0)
        .map_or(state.config.default_page_size, |n| n.min(state.config.max_page_size))
}

/// Runs one API request inside `tx` (the caller commits).
pub async fn execute(
    state: &AppState,
    principal: &Principal,
    req: &ApiRequest,
    tx: &mut Tx,
) -> Result<ApiResponse, ApiError> {
    let segs = parse_path(&req.path)?;
    let actor = Actor(principal.user_id);
    let company = state.company.id;
    match segs.as_slice() {
        [] => {
            check(principal, Resource::Data, Access::Read)?;
            let value: Vec<Json> = model()
                .entity_types
                .iter()
                .map(|e| json!({"name": e.set_name, "kind": "EntitySet", "url": e.set_name}))
                .collect();
            Ok(ApiResponse::json(
                StatusCode::OK,
                json!({"@odata.context": format!("{}$metadata", req.service_root), "value": value}),
            ))
        }
        [s] if s.name == "companies" && s.key.is_none() => {
            check(principal, Resource::Data, Access::Read)?;
            if req.method != Method::GET {
                return Err(ApiError::method_not_allowed(format!(
                    "'{}' requests for 'companies' of EdmType 'Entity' are not allowed.",
                    req.method
                )));
            }
            let e = service::entity(sets::COMPANIES)?;
            collection(state, req, tx, e, None, format!("{}$metadata#companies", req.service_root))
                .await
        }
        [s] if s.name == "companies" => {
            let id = parse_key(s.key.as_deref().unwrap_or_default(), "companies")?;
            check(principal, Resource::Data, access_of(&req.method))?;
            if id != company {
                return Err(ApiError::not_found("The specified company does not exist."));
            }
            let e = service::entity(sets::COMPANIES)?;
            let ctx = format!("{}$metadata#companies/$entity", req.service_root);
            match req.method {
                Method::GET => {
                    let options = QueryOptions::parse(&req.query, e, model())?;
                    let rec = query::get(tx, e, id, &options, None).await?.ok_or_else(|| {
                        ApiError::not_found("The specified company does not exist.")
                    })?;
                    let mut body = Map::new();
                    body.insert(oj::ODATA_CONTEXT.into(), Json::String(ctx));
                    body.extend(query::with_etag(&rec));
                    Ok(ApiResponse::json(StatusCode::OK, Json::Object(body))
                        .header("etag", oj::etag(rec.version)))
                }
                Method::PATCH => {
                    let (rec, _) = service::update(
                        tx,
                        sets::COMPANIES,
                        id,
                        body_object(req)?,
                        if_match(req)?,
                        None,
                        actor,
                    )
                    .await?;
                    let mut body = Map::new();
                    body.insert(oj::ODATA_CONTEXT.into(), Json::String(ctx));
                    body.extend(query::with_etag(&rec));
                    Ok(ApiResponse::json(StatusCode::OK, Json::Object(body))
                        .header("etag", oj::etag(rec.version)))
                }
                _ => Err(ApiError::method_not_allowed(format!(
                    "'{}' requests for 'companies' are not allowed.",
                    req.method
                ))),
            }
        }
        [c, rest @ ..] if c.name == "companies" && !rest.is_empty() => {
            let cid = parse_key(c.key.as_deref().unwrap_or_default(), "companies")?;
            if cid != company {
                return Err(ApiError::not_found(format!("The company '{cid}' does not exist.")));
            }
            company_resource(state, principal, req, tx, rest, actor).await
        }
        _ => Err(ApiError::not_found(format!(
            "No HTTP resource was found that matches the request URI '{}'.",
            req.path
        ))),
    }
}

async fn company_resource(
    state: &AppState,
    principal: &Principal,
    req: &ApiRequest,
    tx: &mut Tx,
    segs: &[Segment],
    actor: Actor,
) -> Result<ApiResponse, ApiError> {
    let company = state.company.id;
    let first = &segs[0];
    let e = model().entity_set(&first.name).filter(|e| e.set_name != sets::COMPANIES).ok_or_else(
        || ApiError::not_found(format!("Resource not found for the segment '{}'.", first.name)),
    )?;
    let set = e.set_name.as_str();
    check(principal, resource_of(set), access_of(&req.method))?;
    match (first.key.as_deref(), &segs[1..]) {
        (None, []) => match req.method {
            Method::GET => {
                let ctx = set_context(req, company, set);
                collection(state, req, tx, e, None, ctx).await
            }
            Method::POST => {
                let rec = service::create(tx, set, body_object(req)?, None, actor).await?;
                Ok(entity_response(req, company, set, &rec, StatusCode::CREATED))
            }
            _ => Err(ApiError::method_not_allowed(format!(
                "'{}' requests for '{set}' are not allowed.",
                req.method
            ))),
        },
        (Some(key), []) => {
            let id = parse_key(key, set)?;
            single(state, req, tx, e, id, None, actor).await
        }
        (Some(key), [action])
            if action.name.starts_with("Microsoft.NAV.") && action.key.is_none() =>
        {
            let id = parse_key(key, set)?;
            if req.method != Method::POST {
                return Err(ApiError::method_not_allowed("Bound actions are invoked with POST."));
            }
            bound_action(state, req, tx, e, id, &action.name["Microsoft.NAV.".len()..], actor).await
        }
        (Some(key), [nav_seg]) => {
            let id = parse_key(key, set)?;
            let nav = e.navigation(&nav_seg.name).ok_or_else(|| {
                ApiError::not_found(format!(
                    "Resource not found for the segment '{}'.",
                    nav_seg.name
                ))
            })?;
            let target = model().entity_set(&nav.target_set).ok_or_else(|| {
                ApiError::internal(format!("navigation target {}", nav.target_set))
            })?;
            check(principal, resource_of(&target.set_name), access_of(&req.method))?;
            let parent_opts = QueryOptions::default();
            let parent = query::get(tx, e, id, &parent_opts, None)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("The {} does not exist.", e.name)))?;
            match &nav.kind {
                NavigationKind::ToMany { remote_property } => {
                    let scope = (remote_property.as_str(), Json::String(id.to_string()));
                    match (nav_seg.key.as_deref(), &req.method) {
                        (None, &Method::GET) => {
                            let ctx = set_context(req, company, &target.set_name);
                            collection(state, req, tx, target, Some(scope), ctx).await
                        }
                        (None, &Method::POST) => {
                            let parent_id = (remote_property == "documentId").then_some(id);
                            let mut body = body_object(req)?;
                            if parent_id.is_none() {
                                body.insert(remote_property.clone(), Json::String(id.to_string()));
                            }
                            let rec = service::create(tx, &target.set_name, body, parent_id, actor)
                                .await?;
                            Ok(entity_response(
                                req,
                                company,
                                &target.set_name,
                                &rec,
                                StatusCode::CREATED,
                            ))
                        }
                        (Some(k2), _) => {
                            let child = parse_key(k2, &target.set_name)?;
                            single(state, req, tx, target, child, Some(scope), actor).await
                        }
                        _ => Err(ApiError::method_not_allowed(
                            "Only GET and POST are allowed on a navigation collection.",
                        )),
                    }
                }
                NavigationKind::ToOne { local_property } => {
                    if req.method != Method::GET {
                        return Err(ApiError::method_not_allowed(
                            "A single-valued navigation can only be read.",
                        ));
                    }
                    let target_id = parent
                        .data
                        .get(local_property)
                        .and_then(Json::as_str)
                        .and_then(|s| Uuid::parse_str(s).ok())
                        .ok_or_else(|| ApiError::not_found("The related record does not exist."))?;
                    single(state, req, tx, target, target_id, None, actor).await
                }
            }
        }
        _ => Err(ApiError::not_found(format!(
            "No HTTP resource was found that matches the request URI '{}'.",
            req.path
        ))),
    }
}

/// GET / PATCH / DELETE of one entity (`scope`: it must belong to that parent).
async fn single(
    state: &AppState,
    req: &ApiRequest,
    tx: &mut Tx,
    e: &'static EntityType,
    id: Uuid,
    scope: Option<(&str, Json)>,
    actor: Actor,
) -> Result<ApiResponse, ApiError> {
    let company = state.company.id;
    let set = e.set_name.as_str();
    let parent = scope
        .as_ref()
        .filter(|(p, _)| *p == "documentId")
        .and_then(|(_, v)| v.as_str())
        .and_then(|s| Uuid::parse_str(s).ok());
    match req.method {
        Method::GET => {
            let options = QueryOptions::parse(&req.query, e, model())?;
            let rec = query::get(tx, e, id, &options, scope)
                .await?
                .ok_or_else(|| ApiError::not_found("The specified resource does not exist."))?;
            Ok(ApiResponse::json(StatusCode::OK, entity_body(req, company, set, &rec))
                .header("etag", oj::etag(rec.version)))
        }
        Method::PATCH | Method::PUT => {
            let (rec, created) =
                service::update(tx, set, id, body_object(req)?, if_match(req)?, parent, actor)
                    .await?;
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(entity_response(req, company, set, &rec, status))
        }
        Method::DELETE => {
            let deletes = service::plan_delete(tx, set, id, if_match(req)?, parent).await?;
            for (s, d) in deletes {
                let de = service::entity(s)?;
                let old = query::delete(tx, de, d).await?;
                service::after_delete(tx, s, &old, actor).await?;
            }
            Ok(ApiResponse::no_content())
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "'{}' requests for '{set}' are not allowed.",
            req.method
        ))),
    }
}

async fn bound_action(
    state: &AppState,
    req: &ApiRequest,
    tx: &mut Tx,
    e: &EntityType,
    id: Uuid,
    action: &str,
    actor: Actor,
) -> Result<ApiResponse, ApiError> {
    let company = state.company.id;
    match (e.set_name.as_str(), action) {
        (sets::SALES_ORDERS, "shipAndInvoice") => {
            let invoice = service::post_order(tx, id, actor).await?;
            let location = format!(
                "{}companies({company})/salesInvoices({})",
                req.service_root,
                invoice.id().unwrap_or_default()
            );
            Ok(ApiResponse::no_content().header("location", location))
        }
        (sets::USERS, "changeWebServiceKey") => {
            let body = body_object(req)?;
            let expiry = match body.get("expiryDateTime").or_else(|| body.get("webServiceKeyExpiry")) {
                None | Some(Json::Null) => None,
                Some(Json::String(s)) => Some(
                    chrono::DateTime::parse_from_rfc3339(s)
                        .map_err(|_| ApiError::bad_request("BadRequest", "The expiryDateTime is not a date and time (e.g. 2026-12-31T00:00:00Z)."))?
                        .with_timezone(&chrono::Utc),
                ),
                Some(_) => return Err(ApiError::bad_request("BadRequest", "The expiryDateTime must be a string.")),
            };
            let key = users::change_web_service_key(tx, id, expiry, Some(actor.0)).await?;
            Ok(ApiResponse::json(
                StatusCode::OK,
                json!({
                    "@odata.context": format!("{}$metadata#Edm.String", req.service_root),
                    "value": key.expose(),
                }),
            ))
        }
        _ => Err(ApiError(kontor_odata::ODataError::new(
            501,
            "BadRequest_MethodNotImplemented",
            format!(
                "The bound action 'Microsoft.NAV.{action}' does not exist on '{}'.",
                e.set_name
            ),
        ))),
    }
}

/// A collection GET, or the change feed when asked for with `Prefer: odata.track-changes` or a
/// `$deltatoken`.
async fn collection(
    state: &AppState,
    req: &ApiRequest,
    tx: &mut Tx,
    e: &EntityType,
    scope: Option<(&str, Json)>,
    context: String,
) -> Result<ApiResponse, ApiError> {
    let options = QueryOptions::parse(&req.query, e, model())?;
    let size = page_size(state, req);
    let tracking = req.prefer("odata.track-changes").is_some();
    let feed_skip = options.skiptoken.as_deref().and_then(|t| t.strip_prefix('t'));
    if tracking || options.deltatoken.is_some() || feed_skip.is_some() {
        return change_feed(req, tx, e, &options, scope, size, context).await;
    }
    let resource_url = format!("{}{}", req.service_root, req.path.trim_start_matches('/'));
    let page = query::list(tx, e, &options, scope, size).await?;
    let values: Vec<Json> = page.rows.iter().map(|r| Json::Object(query::with_etag(r))).collect();
    let next = page.next_skiptoken.map(|t| oj::next_link(&resource_url, &req.query, &t));
    let mut resp = ApiResponse::json(
        StatusCode::OK,
        oj::collection(&context, values, page.count, next.as_deref(), None),
    );
    if req.prefer("odata.maxpagesize").is_some() {
        resp = resp.header("preference-applied", format!("odata.maxpagesize={size}"));
    }
    Ok(resp)
}

/// The change feed: the initial read (all rows, in version order, then a delta link) and delta
/// reads (rows changed and deleted since the token).
async fn change_feed(
    req: &ApiRequest,
    tx: &mut Tx,
    e: &EntityType,
    options: &QueryOptions,
    scope: Option<(&str, Json)>,
    size: u64,
    context: String,
) -> Result<ApiResponse, ApiError> {
    if options.filter.is_some()
        || !options.orderby.is_empty()
        || !options.expand.is_empty()
        || options.top.is_some()
        || options.skip.is_some()
        || options.count
        || scope.is_some()
    {
        return Err(ApiError::bad_request(
            "BadRequest_InvalidRequestUrl",
            "Change tracking supports only $select; $filter, $orderby, $expand, $top, $skip and $count cannot be combined with it, nor can navigation paths.",
        ));
    }
    let bad_token = || {
        ApiError::bad_request(
            "BadRequest_InvalidToken",
            "The $deltatoken or $skiptoken is not valid.",
        )
    };
    let resource_url = format!("{}{}", req.service_root, req.path.trim_start_matches('/'));
    let delta_ctx = format!("{context}/$delta");
    let deleted_ctx = format!("{context}/$deletedEntity");
    let (initial, after, start) = if let Some(t) = &options.deltatoken {
        (false, t.parse::<i64>().map_err(|_| bad_token())?, 0)
    } else if let Some(t) = options.skiptoken.as_deref().and_then(|t| t.strip_prefix('t')) {
        let (a, s) = t.split_once('.').ok_or_else(bad_token)?;
        (
            true,
            a.parse::<i64>().map_err(|_| bad_token())?,
            s.parse::<i64>().map_err(|_| bad_token())?,
        )
    } else {
        (true, 0, query::current_version(tx).await?)
    };
    let changes = query::changes(tx, e, after, size, options).await?;
    let full = changes.len() as u64 >= size;
    let mut last = after;
    let mut values = Vec::with_capacity(changes.len());
    for c in changes {
        match c {
            Change::Upsert(r) => {
                last = last.max(r.version);
                values.push(Json::Object(query::with_etag(&r)));
            }
            Change::Deleted { id, version } => {
                last = last.max(version);
                if !initial {
                    values.push(json!({"@odata.context": deleted_ctx, "id": id.to_string(), "reason": "deleted"}));
                }
            }
        }
    }
    let (next, delta) = if full {
        let next = if initial {
            oj::link_with(
                &resource_url,
                &req.query,
                &["$skiptoken", "$deltatoken"],
                "$skiptoken",
                &format!("t{last}.{start}"),
            )
        } else {
            oj::delta_link(&resource_url, &req.query, &last.to_string())
        };
        (Some(next), None)
    } else {
        let token = if initial { start } else { last };
        (None, Some(oj::delta_link(&resource_url, &req.query, &token.to_string())))
    };
    Ok(ApiResponse::json(
        StatusCode::OK,
        oj::collection(&delta_ctx, values, None, next.as_deref(), delta.as_deref()),
    )
    .header("preference-applied", "odata.track-changes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_carry_their_keys() {
        let segs = parse_path("companies(5d115c9c-0000-0000-0000-000000000001)/salesOrders(abc)/Microsoft.NAV.shipAndInvoice").unwrap();
        assert_eq!(segs.len(), 3);
        assert_eq!(
            segs[0],
            Segment {
                name: "companies".into(),
                key: Some("5d115c9c-0000-0000-0000-000000000001".into())
            }
        );
        assert_eq!(segs[2].name, "Microsoft.NAV.shipAndInvoice");
        let company = parse_path("Company('My%20Co''s')/ProductItemAvailability").unwrap();
        assert_eq!(company[0].key.as_deref(), Some("My Co's"));
        assert_eq!(parse_path("customers(id=abc)").unwrap()[0].key.as_deref(), Some("abc"));
        assert!(parse_path("").unwrap().is_empty());
        assert!(parse_key("not-a-guid", "customers").is_err());
    }
}
