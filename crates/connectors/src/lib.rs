//! kontor-connectors: HTTP clients implementing kontor-sync's `Connector` port (and setup port)
//! for Financials (API v2.0 shape, HTTP Basic with a web service access key) and Sales (Dataverse
//! Web API, OAuth2 bearer tokens).
//!
//! - [`client::ODataConnector`]: change-feed reads, keyed reads, `$batch` writes with
//!   back-pressure ([`governor`]).
//! - [`auth`]: Basic credentials and cached OAuth2 tokens; secrets redacted in `Debug`.
//! - [`setup::HttpSetupSides`]: what connection setup asks of the two sides.
//!
//! Never links kontor-financials or kontor-sales: it speaks their public HTTP APIs only.

pub mod auth;
pub mod client;
pub mod governor;
pub mod setup;

pub use auth::{Grant, Secret, TokenSource};
pub use client::{ClientOptions, ODataConnector};
