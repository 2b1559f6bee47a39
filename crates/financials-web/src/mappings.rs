//! Integration Table Mappings (with Reset) and each mapping's Integration Field Mappings.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use kontor_integration::Integration;
use kontor_sync::mapping::TableMapping;

use crate::WebState;
use crate::job_queue::integration;
use crate::permission::Page;
use crate::render::{Signed, WebError, after_action, page, segment, user_message};

struct MappingView {
    name: String,
    href: String,
    financials: String,
    sales: String,
    direction: &'static str,
    financials_filter: String,
    sales_filter: String,
    enabled: &'static str,
}

/// A direction as Business Central captions it.
fn direction(d: kontor_sync::Direction) -> &'static str {
    match d {
        kontor_sync::Direction::Bidirectional => "Bidirectional",
        kontor_sync::Direction::ToIntegrationTable => "To Integration Table",
        kontor_sync::Direction::FromIntegrationTable => "From Integration Table",
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

impl From<&TableMapping> for MappingView {
    fn from(m: &TableMapping) -> Self {
        MappingView {
            name: m.name.clone(),
            href: format!("/integration-table-mappings/{}", segment(&m.name)),
            financials: m.financials.set.clone(),
            sales: m.sales.set.clone(),
            direction: direction(m.direction),
            financials_filter: m
                .financials
                .filter
                .as_ref()
                .map(|f| f.to_string())
                .unwrap_or_default(),
            sales_filter: m.sales.filter.as_ref().map(|f| f.to_string()).unwrap_or_default(),
            enabled: yes_no(m.enabled),
        }
    }
}

#[derive(Template)]
#[template(path = "mappings.html")]
struct MappingsPage<'a> {
    mappings: Vec<MappingView>,
    can_act: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
}

struct FieldView {
    financials: String,
    sales: String,
    direction: &'static str,
    constant: String,
    enabled: &'static str,
}

#[derive(Template)]
#[template(path = "field_mappings.html")]
struct FieldsPage {
    mapping: String,
    financials: String,
    sales: String,
    fields: Vec<FieldView>,
}

async fn render(
    it: &Integration,
    s: &Signed,
    message: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let set = it.mappings().await?;
    let view = MappingsPage {
        mappings: set.mappings.iter().map(MappingView::from).collect(),
        can_act: s.may(Page::TableMappingActions),
        csrf: s.csrf(),
        message,
        error,
    };
    page(&s.ctx, "Integration Table Mappings", &view)
}

pub async fn list(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    s.require(Page::TableMappings)?;
    render(integration(&state)?, &s, None, None).await
}

pub async fn fields(
    State(state): State<WebState>,
    s: Signed,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    s.require(Page::TableMappings)?;
    let m = integration(&state)?.mapping(&name).await?;
    let fields = m
        .fields
        .iter()
        .map(|f| FieldView {
            financials: f.financials.clone().unwrap_or_default(),
            sales: f.sales.clone().unwrap_or_default(),
            direction: direction(f.direction),
            constant: f
                .constant
                .as_ref()
                .map(|c| match c {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default(),
            enabled: yes_no(f.enabled),
        })
        .collect();
    let view = FieldsPage {
        mapping: m.name.clone(),
        financials: m.financials.set.clone(),
        sales: m.sales.set.clone(),
        fields,
    };
    page(&s.ctx, "Integration Field Mappings", &view)
}

/// *Reset*: `Integration::reset_mapping`, then the list with what happened at the top.
pub async fn reset(
    State(state): State<WebState>,
    s: Signed,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    s.require(Page::TableMappingActions)?;
    let it = integration(&state)?;
    let (message, error) = match it.reset_mapping(&name).await {
        Ok(m) => (Some(format!("{} was reset to its default.", m.name)), None),
        Err(e) => (None, Some(user_message(&e).ok_or(WebError::Internal)?)),
    };
    let back = "/integration-table-mappings";
    after_action(s.ctx.htmx, back, message, error, |m, e| render(it, &s, m, e)).await
}
