//! Dynamics 365 Connection Setup: the stored connection (never a secret: only whether one is
//! stored), a form for every setting of `Integration::setup` (the API's setup workflow, so the
//! same validation and the issue #13 rule: a changed URL or account needs its secrets entered
//! again), and *Test Connection*. Secrets typed in the form are never rendered back.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use kontor_integration::{ConnectionTest, Integration, SetupRequest, SideCheck};
use kontor_sync::credentials::SalesSignIn;
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::job_queue::integration;
use crate::permission::Page;
use crate::render::{Signed, WebError, after_action, page};
use crate::review::shown;

/// The form's fields as typed. The secrets are read, passed on and dropped, never shown.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct SetupForm {
    #[serde(default)]
    financials_url: String,
    #[serde(default)]
    company_id: String,
    #[serde(default)]
    financials_user: String,
    #[serde(default)]
    financials_web_service_key: String,
    #[serde(default)]
    sales_url: String,
    #[serde(default)]
    sales_user: String,
    #[serde(default)]
    sales_client_id: String,
    #[serde(default)]
    sales_client_secret: String,
    #[serde(default)]
    sales_password: String,
    #[serde(default)]
    import_solution: Option<String>,
    #[serde(default)]
    admin_user: String,
    #[serde(default)]
    admin_password: String,
    #[serde(default)]
    enable: String,
    #[serde(default)]
    unit_group_mapping: Option<String>,
}

/// A field of the form: its name (and id), its label, the name the application layer's
/// messages give it, whether it is a secret.
struct FieldDef {
    name: &'static str,
    label: &'static str,
    api_name: &'static str,
    secret: bool,
}

const FIELDS: [FieldDef; 12] = [
    field("financials_url", "Financials URL", "financialsUrl", false),
    field("company_id", "Company Id", "companyId", false),
    field("financials_user", "Financials User", "financialsUser", false),
    field("financials_web_service_key", "Web Service Access Key", "financialsWebServiceKey", true),
    field("sales_url", "Dynamics 365 Sales URL", "salesUrl", false),
    field("sales_user", "Sales Integration User", "salesUser", false),
    field("sales_client_id", "Client Id (application id)", "salesClientId", false),
    field("sales_client_secret", "Client Secret", "salesClientSecret", true),
    field("sales_password", "Password (instead of a client secret)", "salesPassword", true),
    field("admin_user", "Sales Administrator (to import the solution)", "adminUser", false),
    field("admin_password", "Administrator Password", "adminPassword", true),
    field(
        "enable",
        "Enable Mappings (names, comma-separated; empty: the defaults)",
        "enable",
        false,
    ),
];

const fn field(
    name: &'static str,
    label: &'static str,
    api: &'static str,
    secret: bool,
) -> FieldDef {
    FieldDef { name, label, api_name: api, secret }
}

impl SetupForm {
    fn value(&self, name: &str) -> &str {
        match name {
            "financials_url" => &self.financials_url,
            "company_id" => &self.company_id,
            "financials_user" => &self.financials_user,
            "sales_url" => &self.sales_url,
            "sales_user" => &self.sales_user,
            "sales_client_id" => &self.sales_client_id,
            "admin_user" => &self.admin_user,
            "enable" => &self.enable,
            // Secrets are never rendered back.
            _ => "",
        }
    }

    /// The request the form makes, and what is wrong with it: the company id that is no GUID
    /// (the page's own parsing) and the application layer's [`SetupRequest::problems`], each
    /// with the form field it is about.
    pub(crate) fn request(&self) -> (SetupRequest, Vec<(&'static str, String)>) {
        let mut errors = Vec::new();
        let company_id = Uuid::parse_str(self.company_id.trim()).unwrap_or_else(|_| {
            errors.push((
                "company_id",
                "Enter the company id as a GUID, for example 6a1bc3a0-0000-4000-8000-000000000001."
                    .to_owned(),
            ));
            Uuid::nil()
        });
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let enable: Vec<String> = self
            .enable
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let req = SetupRequest {
            financials_url: self.financials_url.trim().to_owned(),
            company_id,
            financials_user: self.financials_user.trim().to_owned(),
            financials_web_service_key: some(&self.financials_web_service_key),
            sales_url: self.sales_url.trim().to_owned(),
            sales_user: self.sales_user.trim().to_owned(),
            sales_client_id: some(&self.sales_client_id),
            sales_client_secret: some(&self.sales_client_secret),
            sales_password: some(&self.sales_password),
            import_solution: self.import_solution.is_some(),
            admin_user: some(&self.admin_user),
            admin_password: some(&self.admin_password),
            enable: (!enable.is_empty()).then_some(enable),
            unit_group_mapping: self.unit_group_mapping.is_some(),
        };
        errors.extend(req.problems().into_iter().map(|(api, m)| (form_field(api), m)));
        (req, errors)
    }
}

/// The form field the application layer's name `api` is (`""`: none; the top of the form).
pub(crate) fn form_field(api: &str) -> &'static str {
    FIELDS.iter().find(|f| f.api_name == api).map_or("", |f| f.name)
}

struct FieldView {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    value: String,
    error: Option<String>,
}

/// What is stored, as shown (no secret: only whether it is stored).
struct StoredView {
    financials_url: String,
    company_id: String,
    financials_user: String,
    key: &'static str,
    sales_url: String,
    sales_user: String,
    auth: String,
    sales_secret: &'static str,
    enabled: bool,
}

struct CheckView {
    side: &'static str,
    ok: bool,
    text: String,
}

#[derive(Template)]
#[template(path = "connection.html")]
struct ConnectionPage<'a> {
    stored: Option<StoredView>,
    credentials_note: Option<String>,
    fields: Vec<FieldView>,
    import_solution: bool,
    unit_group_mapping: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
    checks: Vec<CheckView>,
}

fn stored_or_not(b: bool) -> &'static str {
    if b { "Stored" } else { "Not stored" }
}

/// The stored connection and credentials as shown, and a note when the credentials could not
/// be read; the form's values from the stored connection.
async fn stored(
    it: &Integration,
) -> Result<(Option<StoredView>, Option<String>, SetupForm), WebError> {
    let Some(c) = it.connection().await? else { return Ok((None, None, SetupForm::default())) };
    let (credentials, note) = match it.stored_credentials().await {
        Ok(c) => (c, None),
        Err(e) => {
            tracing::warn!(error = %e, "the stored integration credentials could not be read");
            (
                None,
                Some(
                    "The stored credentials could not be read: enter the secrets again.".to_owned(),
                ),
            )
        }
    };
    let (auth, client_id) = match credentials.as_ref().map(|c| &c.sales) {
        Some(SalesSignIn::ClientCredentials { client_id, .. }) => {
            (format!("Client credentials (application id {client_id})"), client_id.clone())
        }
        Some(SalesSignIn::Password { user, .. }) => {
            (format!("User name and password ({user})"), String::new())
        }
        None => ("Not stored".to_owned(), String::new()),
    };
    let form = SetupForm {
        financials_url: c.financials_url.clone(),
        company_id: c.company_id.to_string(),
        financials_user: c.financials_user.clone(),
        sales_url: c.sales_url.clone(),
        sales_user: c.sales_user_name.clone(),
        sales_client_id: client_id,
        ..SetupForm::default()
    };
    let view = StoredView {
        financials_url: c.financials_url,
        company_id: c.company_id.to_string(),
        financials_user: c.financials_user,
        key: stored_or_not(credentials.as_ref().is_some_and(|c| !c.financials_key.is_empty())),
        sales_url: c.sales_url,
        sales_user: c.sales_user_name,
        auth,
        sales_secret: stored_or_not(credentials.is_some()),
        enabled: c.enabled,
    };
    Ok((Some(view), note, form))
}

/// The page; `errors` are (field name or "" for the top of the form, message).
async fn render(
    it: &Integration,
    s: &Signed,
    typed: Option<&SetupForm>,
    errors: Vec<(&'static str, String)>,
    message: Option<String>,
    checks: Vec<CheckView>,
) -> Result<Response, WebError> {
    let (stored, credentials_note, from_store) = stored(it).await?;
    let form = typed.unwrap_or(&from_store);
    let mut error = None;
    let fields = FIELDS
        .iter()
        .map(|f| {
            let mine: Vec<&str> =
                errors.iter().filter(|(n, _)| *n == f.name).map(|(_, m)| m.as_str()).collect();
            FieldView {
                name: f.name,
                label: f.label,
                kind: if f.secret { "password" } else { "text" },
                value: form.value(f.name).to_owned(),
                error: (!mine.is_empty()).then(|| mine.join(" ")),
            }
        })
        .collect();
    let general: Vec<&str> =
        errors.iter().filter(|(n, _)| n.is_empty()).map(|(_, m)| m.as_str()).collect();
    if !general.is_empty() {
        error = Some(general.join(" "));
    }
    let view = ConnectionPage {
        stored,
        credentials_note,
        fields,
        import_solution: form.import_solution.is_some(),
        unit_group_mapping: form.unit_group_mapping.is_some(),
        csrf: s.csrf(),
        message,
        error,
        checks,
    };
    page(&s.ctx, "Dynamics 365 Connection Setup", &view)
}

pub async fn show(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    s.require(Page::ConnectionSetup)?;
    render(integration(&state)?, &s, None, Vec::new(), None, Vec::new()).await
}

/// Each sentence of an application-layer message next to the first field it names (by the
/// name the API gives the field), the others at the top of the form.
pub(crate) fn place(message: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut rest = message.trim();
    while !rest.is_empty() {
        let end = rest.find(". ").map_or(rest.len(), |i| i + 1);
        let sentence = rest[..end].trim();
        // Case-insensitive: a message's first letter is capitalised.
        let lower = sentence.to_lowercase();
        let field = FIELDS
            .iter()
            .filter_map(|f| lower.find(&f.api_name.to_lowercase()).map(|at| (at, f)))
            // The longest name at the earliest position (salesClientSecret, not salesClientId).
            .min_by_key(|(at, f)| (*at, std::cmp::Reverse(f.api_name.len())))
            .map_or("", |(_, f)| f.name);
        out.push((field, sentence.to_owned()));
        rest = rest[end..].trim_start();
    }
    out
}

/// Sets the connection up with the form's settings: `Integration::setup`.
pub async fn save(
    State(state): State<WebState>,
    s: Signed,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::ConnectionSetup)?;
    let it = integration(&state)?;
    let form: SetupForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    let (req, errors) = form.request();
    let errors = match errors.is_empty() {
        false => errors,
        true => match it.setup(req).await {
            Ok(report) => {
                let mut message = format!(
                    "The connection was set up: {} mappings enabled.",
                    report.enabled_mappings.len()
                );
                for note in report.notes {
                    message.push(' ');
                    message.push_str(&note);
                }
                return render(it, &s, None, Vec::new(), Some(message), Vec::new()).await;
            }
            Err(e) => place(&shown(&e)),
        },
    };
    let mut resp = render(it, &s, Some(&form), errors, None, Vec::new()).await?;
    *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(resp)
}

fn checks(t: &ConnectionTest) -> Vec<CheckView> {
    [("Financials", &t.financials), ("Dynamics 365 Sales", &t.sales)]
        .into_iter()
        .map(|(side, c)| match c {
            SideCheck::Ok => CheckView { side, ok: true, text: "OK".to_owned() },
            SideCheck::Failed(why) => CheckView { side, ok: false, text: why.clone() },
        })
        .collect()
}

/// *Test Connection*: `Integration::test_connection` on both sides.
pub async fn test(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    s.require(Page::ConnectionSetup)?;
    let it = integration(&state)?;
    match it.test_connection().await {
        Ok(t) => {
            let message = t.ok().then(|| "The connection works on both sides.".to_owned());
            render(it, &s, None, Vec::new(), message, checks(&t)).await
        }
        Err(e) => render(it, &s, None, vec![("", shown(&e))], None, Vec::new()).await,
    }
}

/// *Enable* / *Disable*: `Integration::set_enabled`, then the page with what happened.
async fn set_enabled(state: WebState, s: Signed, enabled: bool) -> Result<Response, WebError> {
    s.require(Page::ConnectionSetup)?;
    let it = integration(&state)?;
    let (message, error) = match it.set_enabled(enabled).await {
        Ok(_) if enabled => {
            (Some("The connection is enabled: synchronization runs.".to_owned()), None)
        }
        Ok(_) => (
            Some(
                "The connection is disabled: no synchronization runs until it is enabled."
                    .to_owned(),
            ),
            None,
        ),
        Err(e) => (None, Some(shown(&e))),
    };
    let back = "/dynamics-365-connection-setup";
    after_action(s.ctx.htmx, back, message, error, |m, e| {
        let errors = e.map(|e| vec![("", e)]).unwrap_or_default();
        render(it, &s, None, errors, m, Vec::new())
    })
    .await
}

pub async fn enable(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    set_enabled(state, s, true).await
}

pub async fn disable(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    set_enabled(state, s, false).await
}
