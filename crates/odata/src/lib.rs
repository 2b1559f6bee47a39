//! Kontor's OData v4 toolkit, pure (no IO, no HTTP, no database driver).
//!
//! - [`model`]: the entity model and the storage encoding of every EDM type.
//! - [`filter`] and [`ast`]: the `$filter` parser, its typed AST and printer.
//! - [`query`]: all system query options of a request, validated against the model.
//! - [`sql`]: lowering to parameterised sea-query statements for SQLite and PostgreSQL, plus the
//!   JSON ⇄ stored-value codec.
//! - [`json`]: payload annotations (`@odata.context`, `@odata.etag`, next and delta links).
//! - [`csdl`]: the `$metadata` document.
//! - `batch`: the `$batch` multipart codec (feature `batch`, on by default).
//! - [`error`]: the crate's one error type, [`ODataError`].

pub mod ast;
#[cfg(feature = "batch")]
pub mod batch;
pub mod csdl;
pub mod error;
pub mod filter;
pub mod json;
pub mod model;
pub mod query;
pub mod sql;

pub use error::{ODataError, ParseError};

#[cfg(test)]
pub(crate) mod testing;
