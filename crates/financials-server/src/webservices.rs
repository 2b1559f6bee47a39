//! OData web services (`/ODataV4/…`): published pages; today `ProductItemAvailability`
//! (BC page 5390), read by the CRM integration user.

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use kontor_financials::credentials::{Access, Resource};
use kontor_financials::model::{sets, web_services_model};
use kontor_financials::query;
use kontor_financials::users::Principal;
use kontor_odata::json as oj;
use kontor_odata::query::QueryOptions;
use serde_json::Value as Json;

use crate::api::{ApiResponse, parse_path};
use crate::error::ApiError;
use crate::{AppState, auth, base_url, to_http};

pub async fn handler(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match run(&state, &principal, &method, &uri, &headers).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: &AppState,
    principal: &Principal,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    auth::check(principal, Resource::ItemAvailability, Access::Read)?;
    if method != Method::GET {
        return Err(ApiError::method_not_allowed(
            "The OData web services of Kontor are read-only.",
        ));
    }
    let root = format!("{}ODataV4/", base_url(state, headers));
    let path = uri.path().strip_prefix("/ODataV4").unwrap_or("").trim_start_matches('/');
    let segs = parse_path(path)?;
    if path == "$metadata" {
        let xml = kontor_odata::csdl::metadata_xml(web_services_model());
        return Ok(([(header::CONTENT_TYPE, "application/xml")], xml).into_response());
    }
    match segs.as_slice() {
        [c, s]
            if c.name == "Company"
                && s.name == sets::PRODUCT_ITEM_AVAILABILITY
                && s.key.is_none() =>
        {
            let name = c.key.clone().unwrap_or_default();
            if !name.eq_ignore_ascii_case(&state.company.name) {
                return Err(ApiError(kontor_odata::ODataError::new(
                    404,
                    "Internal_CompanyNotFound",
                    format!("Cannot open company {name}."),
                )));
            }
            let e = web_services_model()
                .entity_set(sets::PRODUCT_ITEM_AVAILABILITY)
                .ok_or_else(|| ApiError::internal("no ProductItemAvailability"))?;
            let raw_query = uri.query().unwrap_or("");
            let options = QueryOptions::parse(raw_query, e, web_services_model())?;
            let mut tx = state.db.begin_read().await?;
            let page = query::list(&mut tx, e, &options, None, state.config.max_page_size).await?;
            tx.commit().await?;
            let values: Vec<Json> =
                page.rows.iter().map(|r| Json::Object(query::with_etag(r))).collect();
            let resource = format!("{root}{path}");
            let next = page.next_skiptoken.map(|t| oj::next_link(&resource, raw_query, &t));
            let context = format!(
                "{root}$metadata#Company('{}')/{}",
                state.company.name,
                sets::PRODUCT_ITEM_AVAILABILITY
            );
            Ok(to_http(ApiResponse {
                status: axum::http::StatusCode::OK,
                headers: Vec::new(),
                body: Some(oj::collection(&context, values, page.count, next.as_deref(), None)),
            }))
        }
        _ => Err(ApiError::not_found(format!(
            "No HTTP resource was found that matches the request URI '{path}'."
        ))),
    }
}
