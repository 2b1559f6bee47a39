//! Connection setup (the *Dynamics 365 Connection Setup* guide): checks the Financials
//! experience (Suite), finds the integration user in Sales, optionally imports the integration
//! solution and assigns the user its role with an administrator account that is used for those
//! calls only, then stores the connection and the mappings. Idempotent: running it again keeps
//! the connection id (so deterministic ids stay stable) and every customised mapping.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::connector::ConnectorError;
use crate::defaults::{MappingOptions, default_mappings_with};
use crate::error::SyncError;
use crate::store::{ConnectionSettings, SyncStore};

/// The Sales role the integration user gets.
pub const INTEGRATION_ROLE: &str = "Kontor Integration User";

/// A Sales administrator (System Administrator + Solution Customizer) for the setup calls only.
/// It is never stored, logged or printed: `Debug` shows nothing of it and it cannot be serialized.
#[derive(Clone)]
pub struct AdminCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminCredentials(<redacted>)")
    }
}

/// What setup needs from the two sides beyond the `Connector` port.
pub trait SetupSides: Send + Sync {
    /// The company's experience on Financials (`Essential` or `Suite`).
    fn financials_experience(&self) -> BoxFuture<'_, Result<String, ConnectorError>>;
    /// The id Financials stamps on the integration user's writes (`systemModifiedBy`), if known.
    fn financials_user_id<'a>(
        &'a self,
        user_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, ConnectorError>>;
    /// Finds a Sales user by domain name, e-mail, application id or id (looked up as `admin`
    /// when given: a new integration user may not read users yet).
    fn find_sales_user<'a>(
        &'a self,
        name: &'a str,
        admin: Option<&'a AdminCredentials>,
    ) -> BoxFuture<'a, Result<Option<Uuid>, ConnectorError>>;
    /// Imports the integration solution as `admin`.
    fn import_solution<'a>(
        &'a self,
        admin: &'a AdminCredentials,
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;
    /// Assigns `role` to `user` as `admin` (idempotent).
    fn assign_role<'a>(
        &'a self,
        admin: &'a AdminCredentials,
        user: Uuid,
        role: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;
    /// The names of the security roles `admin` holds in Sales (`None`: the side cannot say;
    /// Sales then refuses what the account may not do on its own).
    fn admin_roles<'a>(
        &'a self,
        admin: &'a AdminCredentials,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, ConnectorError>> {
        let _ = admin;
        Box::pin(async { Ok(None) })
    }
}

/// The security roles the setup administrator must hold: importing the solution needs both,
/// and assigning the integration user its role needs System Administrator.
pub const ADMIN_ROLES: [&str; 2] = ["System Administrator", "Solution Customizer"];

/// Which of [`ADMIN_ROLES`] `held` lacks (role names compare without case, as Dataverse's do).
pub fn missing_admin_roles(held: &[String]) -> Vec<&'static str> {
    ADMIN_ROLES
        .iter()
        .copied()
        .filter(|r| !held.iter().any(|h| h.trim().eq_ignore_ascii_case(r)))
        .collect()
}

/// Refuses an administrator account that lacks one of [`ADMIN_ROLES`], naming the ones it
/// lacks (never the account).
pub async fn check_admin(
    sides: &dyn SetupSides,
    admin: &AdminCredentials,
) -> Result<(), SyncError> {
    let Some(held) = sides.admin_roles(admin).await? else { return Ok(()) };
    let missing = missing_admin_roles(&held);
    if missing.is_empty() {
        return Ok(());
    }
    let (noun, them) = if missing.len() == 1 { ("role", "it") } else { ("roles", "them") };
    Err(SyncError::Refused(format!(
        "The administrator account lacks the security {noun} {}: importing the solution and assigning the integration user its role need System Administrator and Solution Customizer. Assign {them} to the account in Sales, or give another administrator account.",
        missing.join(" and ")
    )))
}

/// What the guide's administrator step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SalesPreparation {
    /// The integration user in Sales (`systemuserid`).
    pub sales_user_id: Uuid,
    pub solution_imported: bool,
    /// The role the integration user was given ([`INTEGRATION_ROLE`]).
    pub role_assigned: String,
}

/// The guide's administrator step on its own: checks the account's roles, finds the
/// integration user, imports the solution when asked and assigns the user its role, all as
/// `admin`, used for these calls only. Setup runs the same steps when given the account.
pub async fn prepare_sales(
    sides: &dyn SetupSides,
    sales_user: &str,
    import_solution: bool,
    admin: &AdminCredentials,
) -> Result<SalesPreparation, SyncError> {
    check_admin(sides, admin).await?;
    let user = sides.find_sales_user(sales_user, Some(admin)).await?.ok_or_else(|| {
        SyncError::Refused(format!(
            "The integration user '{sales_user}' does not exist in Sales. Create it in Sales first (an application user is best), then try again."
        ))
    })?;
    if import_solution {
        sides.import_solution(admin).await?;
    }
    sides.assign_role(admin, user, INTEGRATION_ROLE).await?;
    Ok(SalesPreparation {
        sales_user_id: user,
        solution_imported: import_solution,
        role_assigned: INTEGRATION_ROLE.to_owned(),
    })
}

/// The guide's answers.
#[derive(Debug, Clone)]
pub struct SetupRequest {
    pub financials_url: String,
    pub company_id: Uuid,
    /// The Financials user the engine calls the API as (with its web service access key).
    pub financials_user: String,
    pub sales_url: String,
    /// The Sales integration user (domain name, e-mail or application id).
    pub sales_user: String,
    pub import_solution: bool,
    pub admin: Option<AdminCredentials>,
    /// Mappings to enable; `None` = the defaults' own choice.
    pub enable: Option<Vec<String>>,
}

/// What setup did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupReport {
    pub connection_id: Uuid,
    pub sales_user_id: Uuid,
    pub solution_imported: bool,
    pub role_assigned: bool,
    pub enabled_mappings: Vec<String>,
    /// Customised mappings left as they were.
    pub kept_customized: Vec<String>,
    pub notes: Vec<String>,
}

/// The integration user is not a salesperson: SALESPEOPLE's Sales filter leaves it out (other
/// mappings are left as they are). Setup applies it to the default set it stores.
pub fn leave_out_integration_user(
    m: &mut crate::TableMapping,
    sales_user: impl std::fmt::Display,
) -> Result<(), SyncError> {
    if m.name == "SALESPEOPLE" {
        let text = format!("isdisabled eq false and systemuserid ne {sales_user}");
        m.sales.filter = Some(crate::filter::Filter::parse(&text)?);
    }
    Ok(())
}

/// Where the experience is changed in Financials: its company resource (the API v2.0 `companies`
/// entity, whose `experience` is `Essential` or `Suite`), as a user with the SUPER permission set.
pub fn change_experience(company_id: uuid::Uuid) -> String {
    format!(
        "Change it with PATCH /api/v2.0/companies({company_id}) and the body {{\"experience\": \"Suite\"}} (as a SUPER user)."
    )
}

/// The message of a paused integration: the company does not use Suite (`experience`), where to
/// change it, and that synchronization resumes by itself. [`PAUSED`] starts it.
pub fn paused_message(experience: &str, company_id: uuid::Uuid) -> String {
    format!(
        "{PAUSED}: the company uses the '{experience}' experience and the integration with Sales needs Suite. {} Synchronization resumes by itself once it is Suite.",
        change_experience(company_id)
    )
}

/// How the message of a run that the Suite gate paused starts (`/health` counts it).
pub const PAUSED: &str = "The integration is paused";

/// Runs setup with the default options (Unit Group Mapping off). See the module docs.
pub async fn setup(
    store: &SyncStore,
    sides: &dyn SetupSides,
    req: SetupRequest,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<SetupReport, SyncError> {
    setup_with(store, sides, req, MappingOptions::default(), now).await
}

/// Runs setup with the connection's mapping options (Unit Group Mapping): the default mapping
/// set stored is the one of these options; running setup again with other options switches
/// the mappings that were not customised.
pub async fn setup_with(
    store: &SyncStore,
    sides: &dyn SetupSides,
    req: SetupRequest,
    options: MappingOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<SetupReport, SyncError> {
    let experience = sides.financials_experience().await?;
    if !experience.eq_ignore_ascii_case("Suite") {
        return Err(SyncError::Refused(format!(
            "The integration with Sales needs the Suite experience, but this company uses '{experience}'. {} Then run setup again.",
            change_experience(req.company_id)
        )));
    }
    if let Some(admin) = &req.admin {
        check_admin(sides, admin).await?;
    }
    let sales_user = sides.find_sales_user(&req.sales_user, req.admin.as_ref()).await?.ok_or_else(|| {
        SyncError::Refused(format!(
            "The integration user '{}' does not exist in Sales. Create it in Sales first (an application user is best), then run setup again.",
            req.sales_user
        ))
    })?;
    let mut notes = Vec::new();
    let mut solution_imported = false;
    let mut role_assigned = false;
    match &req.admin {
        Some(admin) => {
            if req.import_solution {
                sides.import_solution(admin).await?;
                solution_imported = true;
            }
            sides.assign_role(admin, sales_user, INTEGRATION_ROLE).await?;
            role_assigned = true;
        }
        None => {
            if req.import_solution {
                return Err(SyncError::Refused(
                    "Importing the solution needs a Sales administrator account (System Administrator and Solution Customizer).".into(),
                ));
            }
            notes.push(format!(
                "No administrator account was given: make sure the integration user has the '{INTEGRATION_ROLE}' role in Sales."
            ));
        }
    }
    let financials_user_id = sides.financials_user_id(&req.financials_user).await?;
    let existing = store.connection().await?;
    let connection_id = existing.as_ref().map(|c| c.id).unwrap_or_else(|| {
        Uuid::new_v5(
            &crate::ids::TARGET_ID_NAMESPACE,
            format!("{}|{}", req.sales_url, req.company_id).as_bytes(),
        )
    });
    let settings = ConnectionSettings {
        id: connection_id,
        financials_url: req.financials_url.clone(),
        company_id: req.company_id,
        sales_url: req.sales_url.clone(),
        financials_user: req.financials_user.clone(),
        financials_user_id: financials_user_id.map(|s| s.to_ascii_lowercase()),
        sales_user_id: Some(sales_user.to_string()),
        sales_user_name: req.sales_user.clone(),
        enabled: true,
    };

    let mut set = default_mappings_with(options);
    // Switching Unit Group Mapping off leaves its mappings stored, disabled.
    let stored = store.mappings().await?;
    for name in crate::defaults::UNIT_GROUP_MAPPING_NAMES {
        if set.get(name).is_none()
            && let Some(m) = stored.get(name)
        {
            let mut m = m.clone();
            m.enabled = false;
            set.mappings.push(m);
        }
    }
    if let Some(names) = &req.enable {
        for m in &mut set.mappings {
            m.enabled = names.iter().any(|n| n.eq_ignore_ascii_case(&m.name));
        }
    }
    for m in &mut set.mappings {
        leave_out_integration_user(m, sales_user)?;
    }
    let kept_customized = store.customized_mappings().await?;
    store.save_mappings(&set, true, false, now).await?;
    store.save_connection(&settings, now).await?;
    let enabled_mappings = store
        .mappings()
        .await?
        .mappings
        .into_iter()
        .filter(|m| m.enabled)
        .map(|m| m.name)
        .collect();
    Ok(SetupReport {
        connection_id,
        sales_user_id: sales_user,
        solution_imported,
        role_assigned,
        enabled_mappings,
        kept_customized,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setup_administrator_lacks_exactly_the_roles_it_does_not_hold() {
        let cases: [(&[&str], &[&str]); 5] = [
            (&["System Administrator", "Solution Customizer"], &[]),
            (&["solution customizer", "SYSTEM ADMINISTRATOR", "Salesperson"], &[]),
            (&["System Administrator"], &["Solution Customizer"]),
            (&["Solution Customizer"], &["System Administrator"]),
            (&["Salesperson"], &["System Administrator", "Solution Customizer"]),
        ];
        for (held, missing) in cases {
            let held: Vec<String> = held.iter().map(|s| s.to_string()).collect();
            assert_eq!(missing_admin_roles(&held), missing.to_vec(), "{held:?}");
        }
    }

    #[test]
    fn admin_credentials_never_show_in_debug_output() {
        let a = AdminCredentials { user: "admin@contoso".into(), password: "hunter2".into() };
        let text = format!("{a:?} {:?}", Some(&a));
        assert!(!text.contains("hunter2") && !text.contains("admin@contoso"), "{text}");
    }
}
