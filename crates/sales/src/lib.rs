//! kontor-sales: the CRM domain behind the Dataverse-shaped Sales service.
//!
//! - [`model`]: Dataverse tables (logical names, entity sets, attributes, lookups, option sets).
//! - [`rules`], [`security`], [`solution`]: pure cores (state/status, privileges, solution plan).
//! - [`secrets`]: password/secret hashing and encryption at rest.
//! - [`directory`]: users, roles, credentials and tokens in the database (IO).
//! - [`service`]: the create / update / delete operations every front end calls (IO): a body
//!   checked against the model, binds resolved, defaults and numbering, privileges.
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
pub mod service;
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
    /// No entity set of that name (the Web API answers 404 for the segment).
    #[error("Resource not found for the segment '{0}'.")]
    UnknownSet(String),
    /// No row with this primary key.
    #[error("Entity '{logical_name}' With Id = {id} Does Not Exist")]
    NotFound { logical_name: String, id: uuid::Uuid },
    /// No row with these alternate key values.
    #[error(
        "A record with the specified key values does not exist in {logical_name} entity ({key})"
    )]
    NotFoundByKey { logical_name: String, key: String },
    /// An `@odata.bind` names a row that does not exist (`missing` is the not-found error).
    #[error("{missing} (referenced by '{property}' in the payload for '{set}')")]
    DanglingBind { missing: Box<SalesError>, property: String, set: String },
    /// The caller lacks the table privilege the operation needs.
    #[error("{}", denied.message(*user))]
    Denied { denied: security::Denied, user: uuid::Uuid },
    /// A change to a role, or to who holds one, that the role rules refuse.
    #[error(transparent)]
    Role(#[from] security::RoleRefusal),
    /// A body that does not fit the entity (unknown property, wrong type, bad reference).
    #[error(
        "Error identified in Payload provided by the user for Entity :'{set}', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : Microsoft.OData.ODataException: {detail}"
    )]
    Payload { set: String, detail: String },
    /// A value longer than its attribute allows.
    #[error("{0}")]
    Validation(String),
    /// An option set value outside the attribute's options.
    #[error("{0}")]
    OptionOutOfRange(String),
    /// The body's primary key is not the key of the record it updates.
    #[error("The key '{payload}' in the payload does not match the record's key '{record}'.")]
    KeyMismatch { payload: uuid::Uuid, record: uuid::Uuid },
    /// Key values that are not one of the entity's alternate keys.
    #[error("The key '{names}' is not an alternate key of the entity '{entity}'.")]
    NotAnAlternateKey { names: String, entity: String },
    /// A user may not delete itself.
    #[error("You cannot delete your own user.")]
    DeleteOwnUser,
}

impl SalesError {
    /// A payload error naming a property the entity does not have.
    pub fn unknown_property(set: &str, logical_name: &str, property: &str) -> Self {
        SalesError::Payload {
            set: set.to_owned(),
            detail: format!(
                "The property '{property}' does not exist on type 'Microsoft.Dynamics.CRM.{logical_name}'. Make sure to only use property names that are defined by the type or mark the type as open type."
            ),
        }
    }
}

use kontor_store::Migrations;
use kontor_store::sqlx::migrate::Migrator;

static SQLITE: Migrator = kontor_store::sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = kontor_store::sqlx::migrate!("./migrations/postgres");

/// The Sales migrations for [`kontor_store::Db::migrate`].
pub static MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };
