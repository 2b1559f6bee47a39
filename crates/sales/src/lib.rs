//! kontor-sales: the CRM domain behind the Dataverse-shaped Sales service.
//!
//! - [`model`]: Dataverse tables (logical names, entity sets, attributes, lookups, option sets).
//! - [`rules`], [`security`], [`solution`]: pure cores (state/status, privileges, solution plan).
//! - [`secrets`]: password/secret hashing and encryption at rest.
//! - [`directory`]: users, roles, credentials and tokens in the database (IO).
//! - [`bootstrap`]: the first start on an empty database.
//!
//! Tables are prefixed `crm_`; migrations are versions 2000-2999 in `migrations/{sqlite,postgres}`.

pub mod directory;
pub mod model;
pub mod rules;
pub mod schema;
pub mod secrets;
pub mod security;
pub mod solution;

pub use model::{model, sales_model, storage_model};

use kontor_store::Migrations;
use kontor_store::sqlx::migrate::Migrator;

static SQLITE: Migrator = kontor_store::sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = kontor_store::sqlx::migrate!("./migrations/postgres");

/// The Sales migrations for [`kontor_store::Db::migrate`].
pub static MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };
