//! CreateMultiple / UpdateMultiple / UpsertMultiple (entities-reference B.9): one transaction,
//! all or nothing.

use axum::http::StatusCode;
use kontor_odata::model::EntityType;
use kontor_sales::model::TableInfo;
use kontor_sales::security::Op;
use kontor_store::Tx;
use serde_json::{Value, json};
use uuid::Uuid;

use kontor_sales::service::{self, Key, Prefetched, Write};

use crate::error::{ApiError, ApiResult, code};
use crate::payload;
use crate::request::{Ctx, Reply, Request};
use std::collections::HashMap;

/// Largest `Targets` list accepted in one request.
pub const MAX_TARGETS: usize = 5000;

pub async fn run(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    req: &Request,
    entity: &EntityType,
    table: &TableInfo,
    message: &str,
) -> ApiResult<Reply> {
    let set = entity.set_name.as_str();
    // The table privilege before any row is read: a caller without it learns nothing about
    // which keys exist. (An upsert needs one of create and write; each write checks its own.)
    let grants = &ctx.principal.grants;
    let denied = |d| ApiError::privilege(&d, ctx.principal.user_id);
    match message {
        "CreateMultiple" => grants.check(Op::Create, table).map_err(denied)?,
        "UpdateMultiple" => grants.check(Op::Write, table).map_err(denied)?,
        _ if grants.check(Op::Create, table).is_err() => {
            grants.check(Op::Write, table).map_err(denied)?
        }
        _ => {}
    }
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::payload(set, format!("The request body is not valid JSON: {e}")))?;
    let Some(targets) = body.get("Targets").and_then(Value::as_array) else {
        return Err(ApiError::bad_request(
            code::PAYLOAD,
            format!("{message} needs a 'Targets' array."),
        ));
    };
    if targets.len() > MAX_TARGETS {
        return Err(ApiError::bad_request(
            code::INVALID_ARGUMENT,
            format!("{message} accepts at most {MAX_TARGETS} targets; got {}.", targets.len()),
        ));
    }
    let expected_type = format!("Microsoft.Dynamics.CRM.{}", entity.name);
    let visible = |p: &str| ctx.installed || !table.is_solution_property(p);

    // 1. Every target's type and key, before anything is read.
    let mut keys: Vec<Option<Key>> = Vec::with_capacity(targets.len());
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    let mut seen_alternate: HashMap<String, usize> = HashMap::new();
    for (i, t) in targets.iter().enumerate() {
        let ty = t.get("@odata.type").and_then(Value::as_str).map(|s| s.trim_start_matches('#'));
        if ty != Some(expected_type.as_str()) {
            return Err(ApiError::bad_request(
                code::PAYLOAD,
                format!("Targets[{i}] must carry \"@odata.type\": \"{expected_type}\"."),
            ));
        }
        let key = match message {
            "CreateMultiple" => t
                .get(&entity.key)
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
                .map(Key::Id),
            "UpdateMultiple" | "UpsertMultiple" => {
                Some(target_key(entity, t).ok_or_else(|| {
                    ApiError::bad_request(
                        code::INVALID_ARGUMENT,
                        format!(
                            "Targets[{i}] must carry its primary key '{}' or an alternate key.",
                            entity.key
                        ),
                    )
                })?)
            }
            _ => return Err(ApiError::segment(message)),
        };
        // Targets are read before any is written, so a key given twice would be created twice
        // (a duplicate-key error) instead of created then updated: refuse it by name.
        let repeated = match &key {
            Some(Key::Id(id)) => seen.insert(*id, i).map(|first| (id.to_string(), first)),
            Some(Key::Alternate(pairs)) => {
                let text = service::key_text(pairs);
                seen_alternate.insert(text.clone(), i).map(|first| (text, first))
            }
            None => None,
        };
        if let Some((key, first)) = repeated {
            return Err(ApiError::bad_request(
                code::INVALID_ARGUMENT,
                format!("Targets[{i}] repeats the key {key} of Targets[{first}]."),
            ));
        }
        keys.push(if message == "CreateMultiple" { None } else { key });
    }

    // 2. The rows the keyed targets name, in one query per thousand keys.
    let mut pre = Prefetched::default();
    let ids: Vec<Uuid> = keys
        .iter()
        .filter_map(|k| match k {
            Some(Key::Id(id)) => Some(*id),
            _ => None,
        })
        .collect();
    pre.load(tx, set, &ids).await?;

    // 3. Each target becomes a create or an update.
    let mut writes = Vec::with_capacity(targets.len());
    for (t, key) in targets.iter().zip(keys) {
        let Some(key) = key else {
            writes
                .push(Write::Create(payload::parse_body(entity, table, t, false, &visible)?, None));
            continue;
        };
        match service::find_in(tx, entity, table, &key, &pre).await? {
            Some(existing) => {
                let body = payload::parse_body(entity, table, t, true, &visible)?;
                writes.push(Write::Update(Box::new(existing), body));
            }
            None if message == "UpsertMultiple" => {
                let mut body = payload::parse_body(entity, table, t, false, &visible)?;
                let id = match key {
                    Key::Id(id) => Some(id),
                    Key::Alternate(pairs) => {
                        for (p, v) in pairs {
                            body.attrs.insert(p, v);
                        }
                        None
                    }
                };
                writes.push(Write::Create(body, id));
            }
            None => {
                return Err(match key {
                    Key::Id(id) => ApiError::not_found(&entity.name, id),
                    Key::Alternate(_) => ApiError::not_found_by_key(&entity.name, "alternate key"),
                });
            }
        }
    }

    // 4. The rows every `@odata.bind` names, one query per target set; then the writes.
    let written = service::write_many(ctx.principal, tx, entity, table, writes, &mut pre).await?;
    let context =
        |name: &str| format!("{}/$metadata#Microsoft.Dynamics.CRM.{name}Response", ctx.base);
    Ok(match message {
        "CreateMultiple" => Reply {
            status: StatusCode::OK,
            headers: vec![],
            body: Some(json!({
                "@odata.context": context("CreateMultiple"),
                "Ids": written
                    .iter()
                    .filter(|w| w.created)
                    .map(|w| w.id.to_string())
                    .collect::<Vec<_>>()
            })),
            raw: None,
        },
        "UpsertMultiple" => Reply {
            status: StatusCode::OK,
            headers: vec![],
            body: Some(json!({
                "@odata.context": context("UpsertMultiple"),
                "Results": written
                    .iter()
                    .map(|w| json!({"RecordCreated": w.created, "Id": w.id.to_string()}))
                    .collect::<Vec<_>>()
            })),
            raw: None,
        },
        _ => Reply { status: StatusCode::NO_CONTENT, headers: vec![], body: None, raw: None },
    })
}

/// The primary key of a target, or the values of one of its alternate keys.
fn target_key(entity: &EntityType, t: &Value) -> Option<Key> {
    if let Some(id) =
        t.get(&entity.key).and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
    {
        return Some(Key::Id(id));
    }
    for k in &entity.alternate_keys {
        let vals: Option<Vec<(String, Value)>> = k
            .iter()
            .map(|p| t.get(p).filter(|v| !v.is_null()).map(|v| (p.clone(), v.clone())))
            .collect();
        if let Some(v) = vals {
            return Some(Key::Alternate(v));
        }
    }
    None
}
