//! First start: migrate, create the company and the first administrator.

use kontor_store::sea_query::Value;
use kontor_store::{Db, Migrations};
use serde_json::{Value as Json, json};
use sqlx::migrate::Migrator;
use uuid::Uuid;

use crate::credentials::{self, PermissionSet, Permissions, Secret};
use crate::error::{FinError, Result};
use crate::model::{model, sets};
use crate::{rows, users};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The Financials schema (versions 1000-1999, tables `fin_*`).
pub static MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };

/// The name of the company a new database gets.
pub const DEFAULT_COMPANY: &str = "KONTOR";
/// The first administrator's user name.
pub const ADMIN_USER: &str = "ADMIN";

/// Migrates `db`, creates the company when there is none and, on an empty user table, the user
/// `ADMIN` (permission set SUPER) with `admin_password` or a generated one. Returns the generated
/// password (to print once); `None` when it was given or the database already had users.
/// Idempotent.
pub async fn bootstrap(db: &Db, admin_password: Option<String>) -> Result<Option<String>> {
    db.migrate(&MIGRATIONS).await?;
    let mut tx = db.begin().await?;
    let companies = model()
        .entity_set(sets::COMPANIES)
        .ok_or_else(|| FinError::internal("no companies set"))?;
    let existing = tx.fetch_optional_sql("SELECT id FROM fin_company LIMIT 1", vec![]).await?;
    if existing.is_none() {
        let Json::Object(values) = json!({
            "name": DEFAULT_COMPANY,
            "displayName": "Kontor",
            "systemVersion": env!("CARGO_PKG_VERSION"),
            "experience": "Suite",
            "baseCurrencyCode": "USD",
        }) else {
            unreachable!("a JSON object literal")
        };
        rows::insert(&mut tx, companies, &values, None).await?;
    }
    let any_user = tx.fetch_optional_sql("SELECT id FROM fin_user LIMIT 1", vec![]).await?;
    let mut generated = None;
    if any_user.is_none() {
        let password = match admin_password.filter(|p| !p.is_empty()) {
            Some(p) => Secret::new(p),
            None => {
                let p = credentials::generate_password();
                generated = Some(p.expose().to_owned());
                p
            }
        };
        users::create_user(
            &mut tx,
            ADMIN_USER,
            "Administrator",
            &Permissions(vec![PermissionSet::Super]),
            Some(&password),
            None,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(generated)
}

/// The company (id, name and experience); Kontor runs one company per database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    pub id: Uuid,
    pub name: String,
    /// `Essential` or `Suite` (the integration with Sales needs Suite).
    pub experience: String,
}

pub async fn company(db: &Db) -> Result<Company> {
    let row = db
        .fetch_optional_sql(
            "SELECT id, name, experience FROM fin_company ORDER BY row_version LIMIT 1",
            Vec::<Value>::new(),
        )
        .await?
        .ok_or_else(|| FinError::internal("the database has no company; run bootstrap first"))?;
    let id: String = row.try_get("id")?;
    Ok(Company {
        id: Uuid::parse_str(&id).map_err(|e| FinError::internal(e.to_string()))?,
        name: row.try_get("name")?,
        experience: row.try_get("experience")?,
    })
}
