//! kontor-sales: the CRM domain behind the Dataverse-shaped Sales service.
//!
//! - [`model`]: Dataverse tables (logical names, entity sets, attributes, lookups, option sets).
//! - [`rules`], [`security`], [`solution`]: pure cores (state/status, privileges, solution plan).
//! - [`secrets`]: password/secret hashing and encryption at rest.
//! - [`directory`]: users, roles, credentials and tokens in the database (IO).
//! - [`bootstrap`]: the first start on an empty database.
//!
//! Tables are prefixed `crm_`; migrations are versions 2000-2999 in `migrations/{sqlite,postgres}`.

pub mod bootstrap;
pub mod directory;
pub mod model;
pub mod rules;
pub mod schema;
pub mod secrets;
pub mod security;
pub mod solution;
pub mod tables;

pub use bootstrap::bootstrap;
pub use model::{model, sales_model, storage_model};

/// Errors of the Sales domain crate.
#[derive(Debug, thiserror::Error)]
pub enum SalesError {
    #[error(transparent)]
    Store(#[from] kontor_store::StoreError),
    /// A request the OData layer rejects (unknown property, bad value, bad query).
    #[error(transparent)]
    OData(#[from] kontor_odata::ODataError),
    #[error(transparent)]
    Rule(#[from] rules::RuleError),
    #[error(transparent)]
    Key(#[from] secrets::KeyError),
    /// A broken invariant of our own (logged, never shown in detail).
    #[error("internal: {0}")]
    Internal(String),
}

use kontor_store::Migrations;
use kontor_store::sqlx::migrate::Migrator;

static SQLITE: Migrator = kontor_store::sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = kontor_store::sqlx::migrate!("./migrations/postgres");

/// The Sales migrations for [`kontor_store::Db::migrate`].
pub static MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };
