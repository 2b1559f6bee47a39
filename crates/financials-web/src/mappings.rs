//! Integration Table Mappings (Edit, Reset, Export, Import) and each mapping's Integration
//! Field Mappings (edit each row). The rules are the application layer's
//! (`Integration::edit_mapping`, `edit_field_mapping`, `import_mappings`); a refused edit shows
//! its message next to the field it names, with what was typed.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kontor_integration::{FieldEdit, Integration, IntegrationError, MappingEdit};
use kontor_sync::Direction;
use kontor_sync::mapping::TableMapping;
use serde::Deserialize;

use crate::WebState;
use crate::job_queue::integration;
use crate::permission::Page;
use crate::render::{Signed, WebError, after_action, page, segment, user_message};
use crate::review::shown;

/// Where the export file is uploaded (the guard allows it a larger body).
pub const IMPORT_PATH: &str = "/integration-table-mappings/import";
const LIST: &str = "/integration-table-mappings";

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

const DIRECTIONS: [Direction; 3] =
    [Direction::Bidirectional, Direction::ToIntegrationTable, Direction::FromIntegrationTable];

/// A direction as Business Central captions it.
fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Bidirectional => "Bidirectional",
        Direction::ToIntegrationTable => "To Integration Table",
        Direction::FromIntegrationTable => "From Integration Table",
    }
}

/// A direction as a form sends it (`Direction::as_str`).
fn parse_direction(text: &str) -> Option<Direction> {
    DIRECTIONS.into_iter().find(|d| d.as_str() == text)
}

/// A choice of a direction select.
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn direction_choices(selected: &str) -> Vec<Choice> {
    DIRECTIONS
        .iter()
        .map(|d| Choice {
            value: d.as_str(),
            label: direction(*d),
            selected: d.as_str() == selected,
        })
        .collect()
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
    import_path: &'static str,
    import_error: Option<String>,
}

async fn render(
    it: &Integration,
    s: &Signed,
    message: Option<String>,
    error: Option<String>,
    import_error: Option<String>,
) -> Result<Response, WebError> {
    let set = it.mappings().await?;
    let view = MappingsPage {
        mappings: set.mappings.iter().map(MappingView::from).collect(),
        can_act: s.may(Page::TableMappingActions),
        csrf: s.csrf(),
        message,
        error,
        import_path: IMPORT_PATH,
        import_error,
    };
    page(&s.ctx, "Integration Table Mappings", &view)
}

pub async fn list(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    s.require(Page::TableMappings)?;
    render(integration(&state)?, &s, None, None, None).await
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
    after_action(s.ctx.htmx, LIST, message, error, |m, e| render(it, &s, m, e, None)).await
}

/// *Export*: the file of all mappings, downloaded.
pub async fn export(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    s.require(Page::TableMappings)?;
    let file = integration(&state)?.export_mappings().await?;
    let mut resp = file.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"integration-table-mappings.json\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    Ok(resp)
}

/// The uploaded file's text, or why there is none.
fn uploaded(headers: &HeaderMap, body: &Bytes) -> Result<String, String> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let parts = content_type
        .and_then(crate::upload::boundary)
        .and_then(|b| crate::upload::parts(body, &b))
        .ok_or("The upload could not be read: send the form with the file chosen.")?;
    let file = parts
        .into_iter()
        .find(|p| p.name == "file" && p.filename.as_deref().is_some_and(|f| !f.is_empty()))
        .ok_or("Choose the export file to import.")?;
    String::from_utf8(file.data).map_err(|_| "The file is not text (UTF-8 JSON): choose an export file of Integration Table Mappings.".to_owned())
}

/// *Import*: the uploaded export file, validated as a whole (`Integration::import_mappings`);
/// a bad file writes nothing and its error is shown next to the file field.
pub async fn import(
    State(state): State<WebState>,
    s: Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::TableMappingActions)?;
    let it = integration(&state)?;
    let outcome = match uploaded(&headers, &body) {
        Err(why) => Err(why),
        Ok(text) => it.import_mappings(&text).await.map_err(|e| shown(&e)),
    };
    match outcome {
        Ok(r) => {
            let message = Some(format!("{} mappings were imported.", r.imported));
            after_action(s.ctx.htmx, LIST, message, None, |m, e| render(it, &s, m, e, None)).await
        }
        Err(why) => {
            let mut resp = render(it, &s, None, None, Some(why)).await?;
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
    }
}

/// The table mapping form as typed.
#[derive(Deserialize, Default)]
struct MappingForm {
    #[serde(default)]
    direction: String,
    #[serde(default)]
    financials_filter: String,
    #[serde(default)]
    sales_filter: String,
    #[serde(default)]
    enabled: Option<String>,
}

#[derive(Template)]
#[template(path = "mapping_edit.html")]
struct EditPage<'a> {
    name: String,
    href: String,
    financials: String,
    sales: String,
    directions: Vec<Choice>,
    financials_filter: String,
    sales_filter: String,
    enabled: bool,
    direction_error: Option<String>,
    financials_filter_error: Option<String>,
    sales_filter_error: Option<String>,
    error: Option<String>,
    csrf: &'a str,
}

/// Each sentence of `message` next to the field it is about: the filters by their names, the
/// mapping's coherence (field directions) next to Direction; `None` for the others.
fn place_mapping_error(message: &str) -> [Vec<String>; 4] {
    let mut out: [Vec<String>; 4] = Default::default();
    for sentence in sentences(message) {
        let slot = if sentence.contains("(financialsFilter)") {
            1
        } else if sentence.contains("(salesFilter)") {
            2
        } else if sentence.contains("the table mapping is") || sentence.contains("goes") {
            0
        } else {
            3
        };
        out[slot].push(sentence);
    }
    out
}

/// The sentences of a message.
fn sentences(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = message.trim();
    while !rest.is_empty() {
        let end = rest.find(". ").map_or(rest.len(), |i| i + 1);
        out.push(rest[..end].trim().to_owned());
        rest = rest[end..].trim_start();
    }
    out
}

fn joined(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| v.join(" "))
}

async fn render_edit(
    it: &Integration,
    s: &Signed,
    name: &str,
    typed: Option<&MappingForm>,
    error: Option<&str>,
) -> Result<Response, WebError> {
    s.require(Page::TableMappingActions)?;
    let m = it.mapping(name).await?;
    let view = MappingView::from(&m);
    let stored = MappingForm {
        direction: m.direction.as_str().to_owned(),
        financials_filter: view.financials_filter.clone(),
        sales_filter: view.sales_filter.clone(),
        enabled: m.enabled.then(|| "on".to_owned()),
    };
    let form = typed.unwrap_or(&stored);
    let [direction_error, financials_filter_error, sales_filter_error, general] =
        error.map(place_mapping_error).unwrap_or_default();
    let page_view = EditPage {
        name: m.name.clone(),
        href: view.href,
        financials: view.financials,
        sales: view.sales,
        directions: direction_choices(&form.direction),
        financials_filter: form.financials_filter.clone(),
        sales_filter: form.sales_filter.clone(),
        enabled: form.enabled.is_some(),
        direction_error: joined(&direction_error),
        financials_filter_error: joined(&financials_filter_error),
        sales_filter_error: joined(&sales_filter_error),
        error: joined(&general),
        csrf: s.csrf(),
    };
    let mut resp = page(&s.ctx, "Integration Table Mapping", &page_view)?;
    if error.is_some() {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

/// *Edit* a table mapping: the form.
pub async fn edit_form(
    State(state): State<WebState>,
    s: Signed,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    render_edit(integration(&state)?, &s, &name, None, None).await
}

/// *Edit* a table mapping: `Integration::edit_mapping`.
pub async fn edit(
    State(state): State<WebState>,
    s: Signed,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::TableMappingActions)?;
    let it = integration(&state)?;
    let form: MappingForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    let Some(direction) = parse_direction(&form.direction) else {
        let why = "Choose the direction: Bidirectional, To Integration Table or From Integration Table; the table mapping is not changed.";
        return render_edit(it, &s, &name, Some(&form), Some(why)).await;
    };
    let edit = MappingEdit {
        direction,
        financials_filter: form.financials_filter.clone(),
        sales_filter: form.sales_filter.clone(),
        enabled: form.enabled.is_some(),
    };
    match it.edit_mapping(&name, edit).await {
        Ok(m) => {
            let message = Some(format!("{} was saved.", m.name));
            after_action(s.ctx.htmx, LIST, message, None, |m, e| render(it, &s, m, e, None)).await
        }
        Err(e) => {
            let why = refusal(e)?;
            render_edit(it, &s, &name, Some(&form), Some(&why)).await
        }
    }
}

/// Why an edit was refused, to show on the form: not found answers 404 and an internal
/// failure the error page instead.
fn refusal(e: IntegrationError) -> Result<String, WebError> {
    let missing = matches!(
        e,
        IntegrationError::NotFound(_) | IntegrationError::Sync(kontor_sync::SyncError::NotFound(_))
    );
    if missing {
        return Err(e.into());
    }
    user_message(&e).ok_or(WebError::Internal)
}

struct FieldView {
    index: usize,
    financials: String,
    sales: String,
    direction: &'static str,
    directions: Vec<Choice>,
    constant: String,
    enabled: bool,
    direction_error: Option<String>,
    constant_error: Option<String>,
}

#[derive(Template)]
#[template(path = "field_mappings.html")]
struct FieldsPage<'a> {
    mapping: String,
    href: String,
    financials: String,
    sales: String,
    fields: Vec<FieldView>,
    can_act: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
}

/// One field mapping's form as typed.
#[derive(Deserialize, Default)]
struct FieldForm {
    #[serde(default)]
    direction: String,
    #[serde(default)]
    constant: String,
    #[serde(default)]
    enabled: Option<String>,
}

fn constant_text(c: Option<&serde_json::Value>) -> String {
    match c {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// The page; `typed` is the row `index` as typed with the error it got.
async fn render_fields(
    it: &Integration,
    s: &Signed,
    name: &str,
    typed: Option<(usize, &FieldForm, &str)>,
    message: Option<String>,
) -> Result<Response, WebError> {
    let m = it.mapping(name).await?;
    let mut general = None;
    let fields = m
        .fields
        .iter()
        .enumerate()
        .map(|(index, f)| {
            let mut view = FieldView {
                index,
                financials: f.financials.clone().unwrap_or_default(),
                sales: f.sales.clone().unwrap_or_default(),
                direction: direction(f.direction),
                directions: direction_choices(f.direction.as_str()),
                constant: constant_text(f.constant.as_ref()),
                enabled: f.enabled,
                direction_error: None,
                constant_error: None,
            };
            if let Some((at, form, why)) = typed
                && at == index
            {
                view.directions = direction_choices(&form.direction);
                view.constant = form.constant.clone();
                view.enabled = form.enabled.is_some();
                if why.contains("(constant)") || why.contains("no constant") {
                    view.constant_error = Some(why.to_owned());
                } else {
                    view.direction_error = Some(why.to_owned());
                }
            }
            view
        })
        .collect();
    if let Some((at, _, why)) = typed
        && at >= m.fields.len()
    {
        general = Some(why.to_owned());
    }
    let view = FieldsPage {
        mapping: m.name.clone(),
        href: format!("/integration-table-mappings/{}", segment(&m.name)),
        financials: m.financials.set.clone(),
        sales: m.sales.set.clone(),
        fields,
        can_act: s.may(Page::TableMappingActions),
        csrf: s.csrf(),
        message,
        error: general,
    };
    let mut resp = page(&s.ctx, "Integration Field Mappings", &view)?;
    if typed.is_some() {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn fields(
    State(state): State<WebState>,
    s: Signed,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    s.require(Page::TableMappings)?;
    render_fields(integration(&state)?, &s, &name, None, None).await
}

/// *Edit* one field mapping: `Integration::edit_field_mapping`.
pub async fn edit_field(
    State(state): State<WebState>,
    s: Signed,
    Path((name, index)): Path<(String, usize)>,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::TableMappingActions)?;
    let it = integration(&state)?;
    let form: FieldForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    let Some(direction) = parse_direction(&form.direction) else {
        let why =
            "Choose the direction: Bidirectional, To Integration Table or From Integration Table.";
        return render_fields(it, &s, &name, Some((index, &form, why)), None).await;
    };
    let constant = Some(form.constant.clone());
    let edit = FieldEdit { direction, constant, enabled: form.enabled.is_some() };
    match it.edit_field_mapping(&name, index, edit).await {
        Ok(m) => {
            let f = &m.fields[index];
            let message = Some(format!("The field mapping {} was saved.", f.label()));
            let back = format!("/integration-table-mappings/{}/fields", segment(&name));
            after_action(s.ctx.htmx, &back, message, None, |m, _| {
                render_fields(it, &s, &name, None, m)
            })
            .await
        }
        Err(e) => {
            let why = refusal(e)?;
            render_fields(it, &s, &name, Some((index, &form, &why)), None).await
        }
    }
}
