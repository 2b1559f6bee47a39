//! Actions and functions: ImportSolution, solutions, the Financials connection, and the
//! systemuser sub-resources (role association, Kontor's credential actions).

use axum::http::{Method, StatusCode};
use kontor_sales::directory;
use kontor_sales::model::sales_model;
use kontor_sales::security::{self, KONTOR_CONNECTION_PRIVILEGE};
use kontor_sales::service::{self, Body, Key};
use kontor_sales::solution::{self, KONTOR_SOLUTION, Step};
use kontor_store::Tx;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, code};
use crate::request::{Ctx, Reply, Request, action_body, reference_body};

/// Role checks for Kontor's administrative actions.
pub fn require_admin(ctx: &Ctx<'_>, what: &str) -> ApiResult<()> {
    if security::may_administer_users(&ctx.principal.grants) {
        Ok(())
    } else {
        Err(ApiError::missing_role(ctx.principal.user_id, what))
    }
}

/// Assigning and removing roles at all needs [`security::ROLE_ASSIGNMENT_OPS`] on `role`.
fn assignment_allowed(ctx: &Ctx<'_>, roles: &kontor_sales::model::TableInfo) -> ApiResult<()> {
    for op in security::ROLE_ASSIGNMENT_OPS {
        ctx.check(op, roles)?;
    }
    Ok(())
}

/// Dataverse's rule for one assignment or removal: never one's own roles, never a role with a
/// privilege the caller does not hold.
async fn check_assignment(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    target: Uuid,
    role: Uuid,
    change: security::RoleChange,
) -> ApiResult<()> {
    let privileges = directory::role_privileges(tx, role).await?;
    security::check_role_assignment(
        &ctx.principal.grants,
        ctx.principal.user_id,
        target,
        role,
        &privileges,
        change,
    )
    .map_err(|r| ApiError::from(kontor_sales::SalesError::from(r)))
}

fn reply(status: StatusCode, body: Option<Value>) -> Reply {
    Reply { status, headers: vec![], body, raw: None }
}

fn need(m: &Method, want: Method, what: &str) -> ApiResult<()> {
    if *m == want { Ok(()) } else { Err(ApiError::method_not_allowed(m.as_str(), what)) }
}

/// `POST ImportSolution` `{"SolutionName":"KontorIntegration","Version":"1.0.0.0"}`.
pub async fn import_solution(ctx: &Ctx<'_>, tx: &mut Tx, req: &Request) -> ApiResult<Reply> {
    need(&req.method, Method::POST, "ImportSolution")?;
    if !security::may_import_solution(&ctx.principal.grants) {
        return Err(ApiError::missing_role(
            ctx.principal.user_id,
            "import solutions (System Administrator and Solution Customizer)",
        ));
    }
    let body = action_body(req, "ImportSolution")?;
    let name = body.get("SolutionName").and_then(Value::as_str).unwrap_or(KONTOR_SOLUTION);
    let version = body.get("Version").and_then(Value::as_str);
    let installed = directory::installed_solution_in(tx, name)
        .await?
        .and_then(|v| solution::Version::parse(&v));
    let steps = solution::plan(name, version, installed)
        .map_err(|e| ApiError::bad_request(code::INVALID_ARGUMENT, e.to_string()))?;
    let (re, rt) = sales_model().set("roles").ok_or_else(|| ApiError::segment("roles"))?;
    for step in steps {
        match step {
            Step::EnsureRole { name, privileges } => {
                // The solution's roles live at fixed ids: a role someone named alike is not one.
                let id = security::role_id_for(&name);
                if !directory::role_exists(tx, id).await? {
                    let mut attrs = Map::new();
                    attrs.insert("name".into(), Value::String(name.clone()));
                    attrs.insert("isinherited".into(), json!(1));
                    let body = Body { attrs, binds: vec![], key: None };
                    service::create(ctx.principal, tx, re, rt, body, Some(id)).await?;
                }
                directory::set_role_privileges(tx, id, &privileges).await?;
            }
            Step::RecordVersion(v) => directory::record_solution(tx, name, &v.to_string()).await?,
        }
    }
    ctx.state.forget_solution_cache();
    Ok(reply(StatusCode::NO_CONTENT, None))
}

/// `GET solutions` (read-only; `$filter=uniquename eq '…'` honoured).
pub async fn solutions(ctx: &Ctx<'_>, tx: &mut Tx, req: &Request) -> ApiResult<Reply> {
    need(&req.method, Method::GET, "solutions")?;
    let raw = kontor_odata::query::percent_decode(&req.query)?;
    let wanted =
        raw.split("uniquename eq '").nth(1).and_then(|r| r.split('\'').next()).map(str::to_owned);
    let value: Vec<Value> = directory::solutions(tx)
        .await?
        .into_iter()
        .filter(|(n, _, _)| wanted.as_deref().is_none_or(|w| w == n))
        .map(|(n, v, _)| {
            json!({
                "solutionid": Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("kontor.solution.{n}").as_bytes()).to_string(),
                "uniquename": n, "friendlyname": "Kontor Integration", "version": v, "ismanaged": true
            })
        })
        .collect();
    Ok(reply(
        StatusCode::OK,
        Some(
            json!({"@odata.context": format!("{}/$metadata#solutions", ctx.base), "value": value}),
        ),
    ))
}

fn connection_allowed(ctx: &Ctx<'_>) -> ApiResult<()> {
    if !ctx.installed {
        return Err(ApiError::segment("kontor_SetFinancialsConnection"));
    }
    if ctx.principal.grants.privileges.contains(KONTOR_CONNECTION_PRIVILEGE) {
        Ok(())
    } else {
        Err(ApiError::missing_role(ctx.principal.user_id, "manage the Financials connection"))
    }
}

/// `POST kontor_SetFinancialsConnection` `{"ODataUrl","UserName","AccessKey"}`.
/// Without `AccessKey` the stored key is dropped, never kept: a stored secret is not filled in
/// for a URL or user it was not entered for (the same rule as the integration's setup).
pub async fn set_connection(ctx: &Ctx<'_>, tx: &mut Tx, req: &Request) -> ApiResult<Reply> {
    need(&req.method, Method::POST, "kontor_SetFinancialsConnection")?;
    connection_allowed(ctx)?;
    let body = action_body(req, "kontor_SetFinancialsConnection")?;
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(url), Some(user)) = (text("ODataUrl"), text("UserName")) else {
        return Err(ApiError::bad_request(code::PAYLOAD, "ODataUrl and UserName are required."));
    };
    let key = text("AccessKey");
    directory::save_connection(tx, &ctx.state.config().sealing_key, &url, &user, key.as_deref())
        .await?;
    Ok(reply(StatusCode::NO_CONTENT, None))
}

/// `GET kontor_GetFinancialsConnection()` → `{"ODataUrl","UserName","HasAccessKey"}` (never the key).
pub async fn get_connection(ctx: &Ctx<'_>, tx: &mut Tx, req: &Request) -> ApiResult<Reply> {
    need(&req.method, Method::GET, "kontor_GetFinancialsConnection")?;
    connection_allowed(ctx)?;
    let c = directory::load_connection_in(tx, &ctx.state.config().sealing_key).await?;
    let body = match c {
        Some(c) => {
            json!({"ODataUrl": c.odata_url, "UserName": c.user_name, "HasAccessKey": c.access_key.is_some()})
        }
        None => json!({"ODataUrl": null, "UserName": null, "HasAccessKey": false}),
    };
    Ok(reply(StatusCode::OK, Some(body)))
}

/// `systemusers(<id>)/…`: role association and credential actions.
pub async fn systemuser(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    req: &Request,
    key: &Key,
    rest: &[&str],
) -> ApiResult<Reply> {
    let (ue, ut) =
        sales_model().set("systemusers").ok_or_else(|| ApiError::segment("systemusers"))?;
    let (_, rt) = sales_model().set("roles").ok_or_else(|| ApiError::segment("roles"))?;
    // The privilege before the user is looked up: a caller without it learns nothing about
    // which users exist.
    match rest {
        ["systemuserroles_association"] => ctx.check(security::Op::Read, rt)?,
        ["systemuserroles_association", "$ref"] => assignment_allowed(ctx, rt)?,
        [seg, "$ref"] if seg.starts_with("systemuserroles_association(") => {
            assignment_allowed(ctx, rt)?
        }
        _ => {}
    }
    let user = service::find(tx, ue, ut, key).await?;
    let Some(user) = user else {
        return Err(match key {
            Key::Id(id) => ApiError::not_found("systemuser", *id),
            Key::Alternate(_) => ApiError::not_found_by_key("systemuser", "alternate key"),
        });
    };
    let user_id = user
        .get("systemuserid")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| ApiError::internal("user without id"))?;
    let action = |s: &str| s.strip_prefix("Microsoft.Dynamics.CRM.").unwrap_or(s).to_owned();
    match rest {
        ["systemuserroles_association"] => {
            need(&req.method, Method::GET, "systemuserroles_association")?;
            let (re, rt) = sales_model().set("roles").ok_or_else(|| ApiError::segment("roles"))?;
            let mut value = vec![];
            for id in directory::user_role_ids(tx, user_id).await? {
                if let Some(r) = service::find(tx, re, rt, &Key::Id(id)).await? {
                    let shaped = crate::payload::shape(
                        re,
                        rt,
                        &r,
                        &[],
                        &Default::default(),
                        &Default::default(),
                        &|_| true,
                    );
                    value.push(Value::Object(shaped));
                }
            }
            Ok(reply(
                StatusCode::OK,
                Some(
                    json!({"@odata.context": format!("{}/$metadata#roles", ctx.base), "value": value}),
                ),
            ))
        }
        ["systemuserroles_association", "$ref"] => {
            need(&req.method, Method::POST, "systemuserroles_association/$ref")?;
            let (set, rkey) = reference_body(req)?;
            if set != "roles" {
                return Err(ApiError::bad_request(
                    code::PAYLOAD,
                    "systemuserroles_association takes a reference to roles.",
                ));
            }
            let (re, rt) = sales_model().set("roles").ok_or_else(|| ApiError::segment("roles"))?;
            let role = service::find(tx, re, rt, &rkey).await?.ok_or_else(|| match &rkey {
                Key::Id(id) => ApiError::not_found("role", *id),
                Key::Alternate(_) => ApiError::not_found_by_key("role", "name"),
            })?;
            let role_id = role
                .get("roleid")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| ApiError::internal("role without id"))?;
            check_assignment(ctx, tx, user_id, role_id, security::RoleChange::Assign).await?;
            directory::assign_role(tx, user_id, role_id).await?;
            Ok(reply(StatusCode::NO_CONTENT, None))
        }
        [seg, "$ref"] if seg.starts_with("systemuserroles_association(") => {
            need(&req.method, Method::DELETE, "systemuserroles_association(<id>)/$ref")?;
            let inner =
                seg.trim_start_matches("systemuserroles_association(").trim_end_matches(')');
            let role_id = Uuid::parse_str(inner).map_err(|_| ApiError::segment(seg))?;
            check_assignment(ctx, tx, user_id, role_id, security::RoleChange::Remove).await?;
            if !directory::remove_role(tx, user_id, role_id).await? {
                return Err(ApiError::not_found("role", role_id));
            }
            Ok(reply(StatusCode::NO_CONTENT, None))
        }
        [a] if action(a) == "kontor_SetClientSecret" => {
            need(&req.method, Method::POST, "kontor_SetClientSecret")?;
            require_admin(ctx, "set client secrets")?;
            let Some(app) = user.get("applicationid").and_then(Value::as_str).map(str::to_owned)
            else {
                return Err(ApiError::bad_request(
                    code::INVALID_ARGUMENT,
                    "kontor_SetClientSecret applies to application users (systemusers with an applicationid) only.",
                ));
            };
            let body = action_body(req, "kontor_SetClientSecret")?;
            let secret = match body.get("ClientSecret").and_then(Value::as_str) {
                Some(s) if s.len() >= 16 => s.to_owned(),
                Some(_) => {
                    return Err(ApiError::bad_request(
                        code::INVALID_ARGUMENT,
                        "ClientSecret must be at least 16 characters.",
                    ));
                }
                None => kontor_sales::secrets::random_token(32),
            };
            directory::set_client_secret(tx, user_id, &secret).await?;
            directory::revoke_tokens(tx, user_id).await?;
            Ok(reply(StatusCode::OK, Some(json!({"ClientId": app, "ClientSecret": secret}))))
        }
        [a] if action(a) == "kontor_SetPassword" => {
            need(&req.method, Method::POST, "kontor_SetPassword")?;
            if user_id != ctx.principal.user_id {
                require_admin(ctx, "set passwords")?;
            }
            let body = action_body(req, "kontor_SetPassword")?;
            let Some(pw) = body.get("Password").and_then(Value::as_str).filter(|p| p.len() >= 8)
            else {
                return Err(ApiError::bad_request(
                    code::INVALID_ARGUMENT,
                    "Password must be at least 8 characters.",
                ));
            };
            directory::set_password(tx, user_id, pw).await?;
            directory::revoke_tokens(tx, user_id).await?;
            Ok(reply(StatusCode::NO_CONTENT, None))
        }
        [seg, ..] => Err(ApiError::segment(seg)),
        [] => Err(ApiError::segment("systemusers")),
    }
}
