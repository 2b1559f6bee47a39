//! Routes one Web API request to its operation: the service document, `WhoAmI`, the actions and
//! metadata resources, the bulk messages, and the entity operations of [`crate::entity`].
//!
//! [`execute`] runs one request inside a transaction the caller owns: a single request commits it
//! at once, a change set only after its last request.

use axum::http::{Method, StatusCode};
use kontor_sales::model::sales_model;
use kontor_sales::service::{
    self,
    key::{parse_key, split_path, split_segment},
};
use kontor_store::Tx;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::entity;
use crate::error::{ApiError, ApiResult, code};
use crate::request::{Ctx, Reply, Request};

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
    let (entity, table, _) = service::entity_set(set)?;
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
            Method::GET => entity::list(ctx, tx, req, entity, table).await,
            Method::POST => entity::create(ctx, tx, req, entity, table).await,
            _ => Err(ApiError::method_not_allowed(m.as_str(), set)),
        },
        (None, ["$count"]) if *m == Method::GET => entity::count(ctx, tx, req, entity, table).await,
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
            Method::GET => entity::retrieve(ctx, tx, req, entity, table, &key).await,
            Method::PATCH => {
                entity::upsert(ctx, tx, req, entity, table, &key).await.map(|(r, _)| r)
            }
            Method::DELETE => entity::delete(ctx, tx, req, entity, table, &key).await,
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
        (Some(key), [prop]) => entity::property(ctx, tx, req, entity, table, &key, prop).await,
        (Some(key), [nav, "$ref"]) if *m == Method::DELETE => {
            entity::clear_reference(ctx, tx, entity, table, &key, nav).await
        }
        (Some(_), [seg, ..]) | (None, [seg, ..]) => Err(ApiError::segment(seg)),
    }
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
