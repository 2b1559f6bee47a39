//! CreateMultiple / UpdateMultiple / UpsertMultiple (entities-reference B.9): one transaction,
//! all or nothing.

use axum::http::StatusCode;
use kontor_odata::model::EntityType;
use kontor_sales::model::TableInfo;
use kontor_store::Tx;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, code};
use crate::keys::Key;
use crate::ops::{self, Ctx, Reply, Request};
use crate::payload;

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
    let mut ids = vec![];
    let mut results = vec![];
    let mut created: Vec<serde_json::Map<String, Value>> = vec![];
    for (i, t) in targets.iter().enumerate() {
        let ty = t.get("@odata.type").and_then(Value::as_str).map(|s| s.trim_start_matches('#'));
        if ty != Some(expected_type.as_str()) {
            return Err(ApiError::bad_request(
                code::PAYLOAD,
                format!("Targets[{i}] must carry \"@odata.type\": \"{expected_type}\"."),
            ));
        }
        match message {
            "CreateMultiple" => {
                let body = payload::parse_body(entity, table, t, false, &visible)?;
                let row = ops::prepare_create(ctx, tx, entity, table, body, None).await?;
                ids.push(id_of(entity, &row)?);
                created.push(row);
            }
            "UpdateMultiple" | "UpsertMultiple" => {
                let key = target_key(entity, t).ok_or_else(|| {
                    ApiError::bad_request(
                        code::INVALID_ARGUMENT,
                        format!(
                            "Targets[{i}] must carry its primary key '{}' or an alternate key.",
                            entity.key
                        ),
                    )
                })?;
                let existing = ops::find(tx, entity, table, &key).await?;
                match existing {
                    Some(existing) => {
                        let body = payload::parse_body(entity, table, t, true, &visible)?;
                        let row =
                            ops::update_row(ctx, tx, entity, table, &existing, body, None).await?;
                        results.push(
                            json!({"RecordCreated": false, "Id": id_of(entity, &row)?.to_string()}),
                        );
                    }
                    None if message == "UpsertMultiple" => {
                        let mut body = payload::parse_body(entity, table, t, false, &visible)?;
                        if let Key::Alternate(pairs) = &key {
                            for (p, v) in pairs {
                                body.attrs.insert(p.clone(), v.clone());
                            }
                        }
                        let id = match key {
                            Key::Id(id) => Some(id),
                            Key::Alternate(_) => None,
                        };
                        let row = ops::create_row(ctx, tx, entity, table, body, id).await?;
                        results.push(
                            json!({"RecordCreated": true, "Id": id_of(entity, &row)?.to_string()}),
                        );
                    }
                    None => {
                        return Err(match key {
                            Key::Id(id) => ApiError::not_found(&entity.name, id),
                            Key::Alternate(_) => {
                                ApiError::not_found_by_key(&entity.name, "alternate key")
                            }
                        });
                    }
                }
            }
            _ => return Err(ApiError::segment(message)),
        }
    }
    if !created.is_empty() {
        let storage =
            kontor_sales::storage_model().entity_set(set).ok_or_else(|| ApiError::segment(set))?;
        kontor_sales::tables::insert_many(tx, storage, &created).await?;
    }
    let context =
        |name: &str| format!("{}/$metadata#Microsoft.Dynamics.CRM.{name}Response", ctx.base);
    Ok(match message {
        "CreateMultiple" => Reply {
            status: StatusCode::OK,
            headers: vec![],
            body: Some(json!({
                "@odata.context": context("CreateMultiple"),
                "Ids": ids.iter().map(Uuid::to_string).collect::<Vec<_>>()
            })),
            raw: None,
        },
        "UpsertMultiple" => Reply {
            status: StatusCode::OK,
            headers: vec![],
            body: Some(json!({"@odata.context": context("UpsertMultiple"), "Results": results})),
            raw: None,
        },
        _ => Reply { status: StatusCode::NO_CONTENT, headers: vec![], body: None, raw: None },
    })
}

fn id_of(entity: &EntityType, row: &serde_json::Map<String, Value>) -> ApiResult<Uuid> {
    row.get(&entity.key)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| ApiError::internal("row without a key"))
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
