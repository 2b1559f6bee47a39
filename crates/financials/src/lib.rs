//! Kontor Financials: the ERP domain (entity model, rules, number series, posting, users and
//! credentials) on kontor-store's generic `Repo`. No HTTP here; `kontor-financials-server` is the
//! API.
//!
//! - [`model()`]: the API v2.0 entity model (BC field names), [`model::web_services_model`] the
//!   OData web services; [`MIGRATIONS`]: the `fin_*` schema on SQLite and PostgreSQL
//!   (versions 1000-1999).
//! - [`bootstrap()`]: first start (migrations, the company, `ADMIN` with a given or generated
//!   password).
//! - [`service`]: create / update (upsert) / delete for every entity set with the set's rules,
//!   and *ship and invoice*; [`query`]: reads, paging, `$expand` and the change feed.
//! - [`posting`]: the pure posting plan (snapshot-tested); [`pricing`], [`date_formula`],
//!   [`numbering`]: small pure rules.
//! - [`credentials`] / [`users`]: argon2 passwords, SHA-256 web service keys, permission sets,
//!   and the [`users::Authenticator`] with its short-lived cache of verified passwords.
//! - [`sessions`]: the web client's sessions (`fin_web_session`: token hashes, idle timeout,
//!   sign-out) and their CSRF tokens.

pub mod bootstrap;
pub mod credentials;
pub mod date_formula;
pub mod error;
pub mod model;
pub mod numbering;
pub mod posting;
pub mod pricing;
pub mod query;
pub mod rows;
pub mod service;
pub mod sessions;
pub mod users;

pub use bootstrap::{MIGRATIONS, bootstrap};
pub use error::{FinError, Result};
pub use model::model;
