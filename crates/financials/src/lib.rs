//! Kontor Financials: the ERP domain (entity model, rules, number series, posting, users and
//! credentials) on the generic store. No HTTP here; `kontor-financials-server` is the API.
//!
//! - [`model()`]: the API v2.0 entity model; [`MIGRATIONS`]: the `fin_*` schema on both backends.
//! - [`bootstrap()`]: first start (company, `ADMIN`).
//! - [`posting`]: ship and invoice as a pure plan; [`credentials`] / [`users`]: auth.

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
pub mod users;

pub use bootstrap::{MIGRATIONS, bootstrap};
pub use error::{FinError, Result};
pub use model::model;
