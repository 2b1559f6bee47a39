//! The assisted setup guide *Dynamics 365 Connection Setup*: the seed's steps, one page each,
//! ending in `Integration::setup` (the workflow of `kontor setup` and the API) and *Run Full
//! Synchronization*.
//!
//! 1. Sales URL and how to authenticate (the integration user's application id and client
//!    secret, or its user name and password);
//! 2. the integration solution, imported with a Sales administrator account that
//!    `Integration::prepare_sales` uses for that call only (never carried to another step,
//!    never shown again; refused naming the roles it lacks), which also gives the integration
//!    user its role;
//! 3. the integration user and its role;
//! 4. what to synchronize (the mappings to enable, Unit Group Mapping);
//! 5. item availability: the Financials user the integration calls the API and the OData web
//!    services as, and its web service key (with a link to Change Web Service Key);
//! 6. sales order integration (the document mappings);
//! 7. done: Run Full Synchronization.
//!
//! The guide keeps its state in the form: the answers in hidden fields, the integration's
//! secrets sealed by the application layer (`Integration::seal_draft`) in one hidden field,
//! the administrator account nowhere. Each step's answers are checked with the application
//! layer's rules (`SetupRequest::problems`) before the next step; the errors of the last step's
//! `Integration::setup` are shown next to their fields, on the step that asks for them.

use std::collections::BTreeSet;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use kontor_integration::{Integration, PrepareSalesRequest, SetupRequest};
use kontor_sync::credentials::SalesSignIn;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::WebState;
use crate::connection::{form_field, place};
use crate::job_queue::integration;
use crate::permission::Page;
use crate::render::{Signed, WebError, page};
use crate::review::shown;

/// The guide's address.
pub const PATH: &str = "/assisted-setup/dynamics-365-connection-setup";

/// The mappings step 6 (sales order integration) enables; step 4 offers the others.
const ORDER_MAPPINGS: [&str; 3] = ["SALESORDER-ORDER", "SOLINE-ORDERDETAIL", "POSTEDSALESINV-INV"];

/// The steps' titles, 1-based.
const STEPS: [&str; 7] = [
    "Sales URL and Authentication",
    "Integration Solution",
    "Integration User",
    "Synchronize",
    "Item Availability",
    "Sales Order Integration",
    "Run Full Synchronization",
];
const LAST_INPUT_STEP: u8 = 6;

/// The step that asks for a form field.
fn step_of(field: &str) -> u8 {
    match field {
        "sales_url"
        | "auth"
        | "sales_user"
        | "sales_client_id"
        | "sales_client_secret"
        | "sales_password" => 1,
        "import_solution" | "admin_user" | "admin_password" => 2,
        "mapping" | "unit_group_mapping" => 4,
        "financials_url" | "company_id" | "financials_user" | "financials_web_service_key" => 5,
        "sales_orders" => 6,
        _ => 0,
    }
}

/// The guide's answers but the secrets, as the hidden fields carry them.
#[derive(Default, Clone)]
struct Draft {
    sales_url: String,
    /// `client` (application user: client id and secret) or `password`.
    auth: String,
    sales_user: String,
    sales_client_id: String,
    /// Set once the administrator step ran: what it did.
    prepared: String,
    mappings: Vec<String>,
    unit_group_mapping: bool,
    financials_url: String,
    company_id: String,
    financials_user: String,
    sales_orders: bool,
    /// The secrets, sealed ([`Secrets`]).
    sealed: String,
}

/// The integration's secrets the guide carries between its steps, sealed.
#[derive(Default, Serialize, Deserialize)]
struct Secrets {
    sales_client_secret: String,
    sales_password: String,
    financials_web_service_key: String,
}

/// The form as posted: every value of every name.
struct Posted(Vec<(String, String)>);

impl Posted {
    fn one(&self, name: &str) -> String {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
    fn on(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
    fn draft(&self) -> Draft {
        Draft {
            sales_url: self.one("sales_url"),
            auth: self.one("auth"),
            sales_user: self.one("sales_user"),
            sales_client_id: self.one("sales_client_id"),
            prepared: self.one("prepared"),
            mappings: self.all("mapping"),
            unit_group_mapping: self.on("unit_group_mapping"),
            financials_url: self.one("financials_url"),
            company_id: self.one("company_id"),
            financials_user: self.one("financials_user"),
            sales_orders: self.on("sales_orders"),
            sealed: self.one("sealed"),
        }
    }
}

impl Draft {
    fn client_credentials(&self) -> bool {
        self.auth != "password"
    }

    /// The setup request of the answers so far (a company id that is no GUID: an error).
    fn request(&self, secrets: &Secrets) -> (SetupRequest, Vec<(&'static str, String)>) {
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
        let client = self.client_credentials();
        let mut enable: Vec<String> = self
            .mappings
            .iter()
            .filter(|m| !ORDER_MAPPINGS.contains(&m.as_str()))
            .cloned()
            .collect();
        if self.sales_orders {
            enable.extend(ORDER_MAPPINGS.iter().map(|m| m.to_string()));
        }
        let req = SetupRequest {
            financials_url: self.financials_url.trim().to_owned(),
            company_id,
            financials_user: self.financials_user.trim().to_owned(),
            financials_web_service_key: some(&secrets.financials_web_service_key),
            sales_url: self.sales_url.trim().to_owned(),
            sales_user: self.sales_user.trim().to_owned(),
            sales_client_id: if client { some(&self.sales_client_id) } else { None },
            sales_client_secret: if client { some(&secrets.sales_client_secret) } else { None },
            sales_password: if client { None } else { some(&secrets.sales_password) },
            import_solution: false,
            admin_user: None,
            admin_password: None,
            enable: Some(enable),
            unit_group_mapping: self.unit_group_mapping,
        };
        errors.extend(req.problems().into_iter().map(|(api, m)| (form_field(api), m)));
        (req, errors)
    }

    /// What is wrong with the answers of steps up to `step`. With credentials stored, a
    /// secret left empty may be the stored one: setup decides (`credentials_for`) and says
    /// which to enter again.
    fn problems_up_to(
        &self,
        secrets: &Secrets,
        step: u8,
        stored: bool,
    ) -> Vec<(&'static str, String)> {
        let (_, mut errors) = self.request(secrets);
        let (client, secret) = (self.client_credentials(), &secrets.sales_client_secret);
        if client && self.sales_client_id.trim().is_empty() {
            errors.push((
                "sales_client_id",
                "Give the application id (client id) of the integration user.".into(),
            ));
        }
        if !stored {
            if client && secret.is_empty() {
                errors.push((
                    "sales_client_secret",
                    "Give the client secret of the application user.".into(),
                ));
            }
            if !client && secrets.sales_password.is_empty() {
                errors
                    .push(("sales_password", "Give the password of the integration user.".into()));
            }
        }
        if step >= 4 && self.mappings.is_empty() {
            errors.push(("mapping", "Choose at least one table to synchronize.".into()));
        }
        errors.retain(|(field, _)| (1..=step).contains(&step_of(field)));
        errors
    }
}

/// An input of a step as shown.
struct Input {
    name: &'static str,
    id: String,
    label: String,
    /// `text`, `password`, `checkbox`, `radio` or `select`.
    kind: &'static str,
    value: String,
    checked: bool,
    options: Vec<Choice>,
    error: Option<String>,
    help: Option<String>,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

impl Input {
    fn new(name: &'static str, label: &str, kind: &'static str, value: &str) -> Input {
        Input {
            name,
            id: name.to_owned(),
            label: label.to_owned(),
            kind,
            // Secrets are never rendered back.
            value: if kind == "password" { String::new() } else { value.to_owned() },
            checked: false,
            options: Vec::new(),
            error: None,
            help: None,
        }
    }
    fn checkbox(name: &'static str, id: String, label: &str, value: &str, checked: bool) -> Input {
        Input { id, checked, ..Input::new(name, label, "checkbox", value) }
    }
    fn help(mut self, text: &str) -> Input {
        self.help = Some(text.to_owned());
        self
    }
}

struct StepView {
    title: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "wizard.html")]
struct WizardPage<'a> {
    path: &'static str,
    csrf: &'a str,
    step: u8,
    title: &'static str,
    steps: Vec<StepView>,
    inputs: Vec<Input>,
    hidden: Vec<(&'static str, String)>,
    message: Option<String>,
    error: Option<String>,
    refused: Option<String>,
    /// Step 3: the integration user and what the administrator step did.
    sales_user: String,
    prepared: Vec<String>,
    /// Step 5: where the chosen user's key is changed.
    key_href: String,
    /// Step 7: setup's report.
    report: Vec<String>,
    role: &'static str,
}

/// What a step shows besides its inputs.
struct Shown {
    step: u8,
    errors: Vec<(&'static str, String)>,
    message: Option<String>,
    report: Vec<String>,
}

async fn render(
    state: &WebState,
    it: &Integration,
    s: &Signed,
    draft: &Draft,
    secrets: &Secrets,
    shown: Shown,
) -> Result<Response, WebError> {
    let Shown { step, errors, message, report } = shown;
    let mut draft = draft.clone();
    let text = serde_json::to_string(secrets).map_err(WebError::internal)?;
    draft.sealed = it.seal_draft(&text).unwrap_or_default();
    let error_of = |name: &str| {
        let mine: Vec<&str> =
            errors.iter().filter(|(n, _)| *n == name).map(|(_, m)| m.as_str()).collect();
        (!mine.is_empty()).then(|| mine.join(" "))
    };
    let general: Vec<&str> = errors
        .iter()
        .filter(|(n, _)| step_of(n) == 0 || step_of(n) != step)
        .map(|(_, m)| m.as_str())
        .collect();
    let mut inputs = inputs_of(state, it, &draft, secrets, step).await?;
    let mut mapping_error = error_of("mapping");
    for i in &mut inputs {
        // The mappings' one error goes with the first of their checkboxes.
        i.error = if i.name == "mapping" { mapping_error.take() } else { error_of(i.name) };
    }
    let key_href = match kontor_financials::users::list(&state.db)
        .await?
        .into_iter()
        .find(|u| u.user_name.eq_ignore_ascii_case(draft.financials_user.trim()))
    {
        Some(u) => format!("/users/{}", u.id),
        None => "/users".to_owned(),
    };
    let view = WizardPage {
        path: PATH,
        csrf: s.csrf(),
        step,
        title: STEPS[usize::from(step - 1)],
        steps: (1..=7u8)
            .map(|n| StepView { title: STEPS[usize::from(n - 1)], current: n == step })
            .collect(),
        hidden: hidden(&draft, step),
        inputs,
        message,
        error: (!general.is_empty()).then(|| general.join(" ")),
        refused: None,
        sales_user: draft.sales_user.clone(),
        prepared: draft.prepared.split('|').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
        key_href,
        report,
        role: kontor_sync::setup::INTEGRATION_ROLE,
    };
    let mut resp = page(&s.ctx, "Dynamics 365 Connection Setup", &view)?;
    if !errors.is_empty() {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

/// The hidden fields: every answer the step does not ask for, and the sealed secrets.
fn hidden(d: &Draft, step: u8) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let text = [
        ("sales_url", &d.sales_url),
        ("auth", &d.auth),
        ("sales_user", &d.sales_user),
        ("sales_client_id", &d.sales_client_id),
        ("financials_url", &d.financials_url),
        ("company_id", &d.company_id),
        ("financials_user", &d.financials_user),
    ];
    for (name, value) in text {
        if step_of(name) != step {
            out.push((name, value.clone()));
        }
    }
    if step != 4 {
        out.extend(d.mappings.iter().map(|m| ("mapping", m.clone())));
        if d.unit_group_mapping {
            out.push(("unit_group_mapping", "on".into()));
        }
    }
    if step != 6 && d.sales_orders {
        out.push(("sales_orders", "on".into()));
    }
    out.push(("prepared", d.prepared.clone()));
    if !d.sealed.is_empty() {
        out.push(("sealed", d.sealed.clone()));
    }
    out
}

/// The inputs of `step`.
async fn inputs_of(
    state: &WebState,
    it: &Integration,
    d: &Draft,
    secrets: &Secrets,
    step: u8,
) -> Result<Vec<Input>, WebError> {
    let kept = |s: &str| if s.is_empty() { "" } else { " (entered; leave empty to keep it)" };
    Ok(match step {
        1 => {
            let client = d.client_credentials();
            let mut auth = Input::new("auth", "How to authenticate", "radio", &d.auth);
            auth.options = vec![
                Choice {
                    value: "client".into(),
                    label: "Application user: client id and client secret (recommended)".into(),
                    selected: client,
                },
                Choice {
                    value: "password".into(),
                    label: "User name and password".into(),
                    selected: !client,
                },
            ];
            vec![
                Input::new("sales_url", "Dynamics 365 Sales URL", "text", &d.sales_url)
                    .help("The root URL of the Sales environment, for example https://contoso.crm.dynamics.com."),
                auth,
                Input::new("sales_user", "Integration User (application id, domain name or e-mail)", "text", &d.sales_user),
                Input::new("sales_client_id", "Client Id (application id)", "text", &d.sales_client_id),
                Input::new(
                    "sales_client_secret",
                    &format!("Client Secret{}", kept(&secrets.sales_client_secret)),
                    "password",
                    "",
                ),
                Input::new(
                    "sales_password",
                    &format!("Password{}", kept(&secrets.sales_password)),
                    "password",
                    "",
                ),
            ]
        }
        2 => vec![
            Input::checkbox("import_solution", "import_solution".into(), "Import the integration solution", "on", true),
            Input::new("admin_user", "Administrator User Name", "text", "")
                .help("A Sales account with System Administrator and Solution Customizer, used for this step only: it is not stored and not shown again."),
            Input::new("admin_password", "Administrator Password", "password", ""),
        ],
        4 => {
            let set = it.mappings().await?;
            let chosen: BTreeSet<&str> = d.mappings.iter().map(String::as_str).collect();
            let mut inputs: Vec<Input> = set
                .mappings
                .iter()
                .filter(|m| !ORDER_MAPPINGS.contains(&m.name.as_str()))
                .enumerate()
                .map(|(n, m)| {
                    let label = format!("{} ({} ↔ {})", m.name, m.financials.set, m.sales.set);
                    Input::checkbox("mapping", format!("mapping-{n}"), &label, &m.name, chosen.contains(m.name.as_str()))
                })
                .collect();
            inputs.push(Input::checkbox(
                "unit_group_mapping",
                "unit_group_mapping".into(),
                "Unit Group Mapping (units of measure as unit groups)",
                "on",
                d.unit_group_mapping,
            ));
            inputs
        }
        5 => {
            let mut user = Input::new("financials_user", "Financials User (web service user)", "select", &d.financials_user);
            user.options = kontor_financials::users::list(&state.db)
                .await?
                .into_iter()
                .map(|u| Choice {
                    selected: u.user_name.eq_ignore_ascii_case(d.financials_user.trim()),
                    label: format!("{} ({})", u.user_name, u.full_name),
                    value: u.user_name,
                })
                .collect();
            vec![
                Input::new("financials_url", "Financials URL", "text", &d.financials_url),
                Input::new("company_id", "Company Id", "text", &d.company_id),
                user.help("Sales calls the item availability web service as this user, and the integration calls the API as it."),
                Input::new(
                    "financials_web_service_key",
                    &format!("Web Service Access Key{}", kept(&secrets.financials_web_service_key)),
                    "password",
                    "",
                ),
            ]
        }
        6 => vec![Input::checkbox(
            "sales_orders",
            "sales_orders".into(),
            "Enable sales order integration (sales orders, their lines and posted sales invoices)",
            "on",
            d.sales_orders,
        )],
        _ => Vec::new(),
    })
}

/// The guide needs the Suite experience: the refusal naming where it is changed, or `None`.
async fn refusal(state: &WebState) -> Result<Option<String>, WebError> {
    let company = kontor_financials::bootstrap::company(&state.db).await?;
    if company.experience.eq_ignore_ascii_case("Suite") {
        return Ok(None);
    }
    Ok(Some(format!(
        "The Dynamics 365 Connection Setup guide needs the Suite experience, but this company uses {}. Change Experience to Suite in Company Information (PATCH /api/v2.0/companies({}) with \"experience\": \"Suite\"), then open the guide again.",
        company.experience, company.id
    )))
}

fn refused_page(s: &Signed, why: String) -> Result<Response, WebError> {
    let view = WizardPage {
        path: PATH,
        csrf: s.csrf(),
        step: 1,
        title: STEPS[0],
        steps: Vec::new(),
        inputs: Vec::new(),
        hidden: Vec::new(),
        message: None,
        error: None,
        refused: Some(why),
        sales_user: String::new(),
        prepared: Vec::new(),
        key_href: String::new(),
        report: Vec::new(),
        role: kontor_sync::setup::INTEGRATION_ROLE,
    };
    let mut resp = page(&s.ctx, "Dynamics 365 Connection Setup", &view)?;
    *resp.status_mut() = StatusCode::CONFLICT;
    Ok(resp)
}

/// The guide can only carry secrets sealed: a process without a sealing key offers the
/// Connection Setup page instead.
const NO_SEALER: &str = "This process has no key to seal the integration's secrets between the guide's steps. Set the connection up on the Dynamics 365 Connection Setup page instead.";

/// The first step, filled in from the stored connection (or this Financials and its company).
pub async fn start(
    State(state): State<WebState>,
    s: Signed,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    s.require(Page::AssistedSetup)?;
    let it = integration(&state)?;
    if let Some(why) = refusal(&state).await? {
        return refused_page(&s, why);
    }
    if it.seal_draft("").is_none() {
        return refused_page(&s, NO_SEALER.to_owned());
    }
    let company = kontor_financials::bootstrap::company(&state.db).await?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let set = it.mappings().await?;
    let mut draft = Draft {
        auth: "client".into(),
        financials_url: format!("http://{host}"),
        company_id: company.id.to_string(),
        mappings: set.mappings.iter().filter(|m| m.enabled).map(|m| m.name.clone()).collect(),
        sales_orders: set
            .mappings
            .iter()
            .any(|m| m.enabled && ORDER_MAPPINGS.contains(&m.name.as_str())),
        unit_group_mapping: set.get("UNIT GROUP").is_some_and(|m| m.enabled),
        ..Draft::default()
    };
    if let Some(c) = it.connection().await? {
        draft.sales_url = c.sales_url;
        draft.sales_user = c.sales_user_name;
        draft.financials_url = c.financials_url;
        draft.company_id = c.company_id.to_string();
        draft.financials_user = c.financials_user;
        // How the stored credentials sign in (their secrets stay where they are).
        match it.stored_credentials().await.ok().flatten().map(|c| c.sales) {
            Some(SalesSignIn::ClientCredentials { client_id, .. }) => {
                draft.sales_client_id = client_id;
            }
            Some(SalesSignIn::Password { .. }) => draft.auth = "password".into(),
            None => {}
        }
    }
    let shown = Shown { step: 1, errors: Vec::new(), message: None, report: Vec::new() };
    render(&state, it, &s, &draft, &Secrets::default(), shown).await
}

/// A step's answer: `go` is `next`, `back`, `import` (step 2) or `finish` (step 6).
pub async fn step(
    State(state): State<WebState>,
    s: Signed,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::AssistedSetup)?;
    let it = integration(&state)?;
    if let Some(why) = refusal(&state).await? {
        return refused_page(&s, why);
    }
    let posted: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    let posted = Posted(posted);
    let mut draft = posted.draft();
    let step: u8 =
        posted.one("step").parse().ok().filter(|n| (1..=LAST_INPUT_STEP).contains(n)).unwrap_or(1);
    let mut secrets = match draft.sealed.as_str() {
        "" => Secrets::default(),
        sealed => it
            .open_draft(sealed)
            .and_then(|text| serde_json::from_str(&text).ok())
            .ok_or_else(|| {
                WebError::BadRequest(
                    "The guide's form could not be read (it may be from before a restart with another key). Open the guide again.".into(),
                )
            })?,
    };
    if it.seal_draft("").is_none() {
        return refused_page(&s, NO_SEALER.to_owned());
    }
    // A secret typed on this step replaces the one carried.
    for (name, slot) in [
        ("sales_client_secret", &mut secrets.sales_client_secret),
        ("sales_password", &mut secrets.sales_password),
        ("financials_web_service_key", &mut secrets.financials_web_service_key),
    ] {
        let typed = posted.one(name);
        if step_of(name) == step && !typed.is_empty() {
            *slot = typed;
        }
    }
    let shown = |step: u8, errors: Vec<(&'static str, String)>| Shown {
        step,
        errors,
        message: None,
        report: Vec::new(),
    };
    let stored = it.stored_credentials().await.ok().flatten().is_some();
    let go = posted.one("go");
    let next =
        match go.as_str() {
            "back" => shown(step.saturating_sub(1).max(1), Vec::new()),
            "import" if step == 2 => {
                let req = PrepareSalesRequest {
                    sales_url: draft.sales_url.clone(),
                    sales_user: draft.sales_user.clone(),
                    import_solution: posted.on("import_solution"),
                    admin_user: posted.one("admin_user"),
                    admin_password: posted.one("admin_password"),
                };
                match it.prepare_sales(req).await {
                    Ok(p) => {
                        let mut done = vec![format!(
                            "The integration user was found in Sales (systemuserid {}).",
                            p.sales_user_id
                        )];
                        if p.solution_imported {
                            done.push("The integration solution was imported.".into());
                        }
                        done.push(format!(
                            "The guide gave the integration user the role {}.",
                            p.role_assigned
                        ));
                        draft.prepared = done.join("|");
                        Shown {
                            message: Some(
                                "The administrator account was used for this step and is not kept."
                                    .into(),
                            ),
                            ..shown(3, Vec::new())
                        }
                    }
                    Err(e) => {
                        let errors = place(&shown_message(&e));
                        // Fields of other steps (the Sales URL, the integration user) say so at the top.
                        shown(
                            2,
                            errors
                                .into_iter()
                                .map(|(f, m)| (if step_of(f) == 2 { f } else { "" }, m))
                                .collect(),
                        )
                    }
                }
            }
            "finish" => {
                let errors = draft.problems_up_to(&secrets, LAST_INPUT_STEP, stored);
                if !errors.is_empty() {
                    shown(first_step(&errors, LAST_INPUT_STEP), errors)
                } else {
                    let (req, _) = draft.request(&secrets);
                    match it.setup(req).await {
                        Ok(report) => {
                            let mut lines = vec![format!(
                                "The connection was set up: {} mappings enabled ({}).",
                                report.enabled_mappings.len(),
                                report.enabled_mappings.join(", ")
                            )];
                            if !report.kept_customized.is_empty() {
                                lines.push(format!(
                                    "Customised mappings kept as they were: {}.",
                                    report.kept_customized.join(", ")
                                ));
                            }
                            // The administrator step already gave the integration user its role.
                            let prepared = !draft.prepared.is_empty();
                            lines.extend(report.notes.into_iter().filter(|n| {
                                !(prepared && n.starts_with("No administrator account"))
                            }));
                            Shown { report: lines, ..shown(7, Vec::new()) }
                        }
                        Err(e) => {
                            let errors = place(&shown_message(&e));
                            shown(first_step(&errors, LAST_INPUT_STEP), errors)
                        }
                    }
                }
            }
            _ => {
                let errors: Vec<(&'static str, String)> = draft
                    .problems_up_to(&secrets, step, stored)
                    .into_iter()
                    .filter(|(f, _)| step_of(f) == step)
                    .collect();
                if errors.is_empty() {
                    shown((step + 1).min(LAST_INPUT_STEP), Vec::new())
                } else {
                    shown(step, errors)
                }
            }
        };
    render(&state, it, &s, &draft, &secrets, next).await
}

/// The first step that asks for a field with an error (`otherwise` for errors of no field).
fn first_step(errors: &[(&'static str, String)], otherwise: u8) -> u8 {
    errors.iter().map(|(f, _)| step_of(f)).filter(|n| *n > 0).min().unwrap_or(otherwise)
}

fn shown_message(e: &kontor_integration::IntegrationError) -> String {
    shown(e)
}
