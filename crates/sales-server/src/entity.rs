//! The entity operations of the Web API: query (with paging, change tracking and `$expand`),
//! `$count`, retrieve, create, update or upsert, delete, one property, clearing a lookup. Each
//! parses the request, calls [`kontor_sales::service`] for the rules, and shapes the answer.

use axum::http::{Method, StatusCode};
use kontor_odata::model::EntityType;
use kontor_odata::query::QueryOptions;
use kontor_sales::model::{TableInfo, sales_model, storage_model};
use kontor_sales::security::Op;
use kontor_sales::service::{self, Body, Key, alternate_key, find, not_found, row_id};
use kontor_store::Tx;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult, code};
use crate::payload::{self, Annotations, LookupNames};
use crate::request::{Cond, Ctx, Prefs, Reply, Request, condition, parse_json};
use kontor_sales::tables::{self as rows, Change};

/// `GET <set>(<key>)/<property>` → `{"value": …}`; `PUT` with `{"value": …}` updates one property.
pub async fn property(
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
    // The privilege before the row: a caller without it learns nothing about which ids exist.
    match req.method {
        Method::GET => ctx.check(Op::Read, table)?,
        Method::PUT => ctx.check(Op::Write, table)?,
        _ => {}
    }
    let existing =
        find(tx, entity, table, key).await?.ok_or_else(|| not_found(entity, table, key))?;
    match req.method {
        Method::GET => {
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
            service::update(ctx.principal, tx, entity, table, &existing, body, None).await?;
            Ok(Reply::new(StatusCode::NO_CONTENT))
        }
        ref other => Err(ApiError::method_not_allowed(other.as_str(), prop)),
    }
}

/// `DELETE <set>(<key>)/<lookup navigation>/$ref` clears a lookup.
pub async fn clear_reference(
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
    ctx.check(Op::Write, table)?;
    let existing =
        find(tx, entity, table, key).await?.ok_or_else(|| not_found(entity, table, key))?;
    let mut body = Body::default();
    body.attrs.insert(lookup.property(), Value::Null);
    if let Some(tp) = &lookup.type_property {
        body.attrs.insert(tp.clone(), Value::Null);
    }
    service::update(ctx.principal, tx, entity, table, &existing, body, None).await?;
    Ok(Reply::new(StatusCode::NO_CONTENT))
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

pub fn parse_query(
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

pub async fn list(
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

pub async fn count(
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

pub async fn retrieve(
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

pub async fn create(
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
    let row = service::create(ctx.principal, tx, entity, table, body, None).await?;
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
    // The privilege before the row: an upsert needs one of create and write (each path checks
    // its own again), so a caller with neither learns nothing about which keys exist.
    if ctx.check(Op::Create, table).is_err() {
        ctx.check(Op::Write, table)?;
    }
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
            let row =
                service::update(ctx.principal, tx, entity, table, &existing, body, version).await?;
            Ok((written_reply(ctx, req, entity, table, &row, false)?, false))
        }
        None => {
            if if_match != Cond::None {
                ctx.check(Op::Write, table)?;
                return Err(not_found(entity, table, key).into());
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
            let row = service::create(ctx.principal, tx, entity, table, body, id).await?;
            Ok((written_reply(ctx, req, entity, table, &row, true)?, true))
        }
    }
}

pub async fn delete(
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
    // The privilege is checked before the headers are read, and again by the service.
    service::delete(ctx.principal, tx, entity, table, key, if_match).await?;
    Ok(Reply::new(StatusCode::NO_CONTENT))
}
