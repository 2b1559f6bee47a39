//! The Sales operations every front end calls (the Web API, its `$batch` and bulk messages, and
//! pages to come): create, update and delete inside the caller's transaction, so a change set
//! stays atomic. Each takes the caller ([`Principal`](crate::directory::Principal): identity and privileges), the entity set
//! (`EntityType` and `TableInfo` of [`sales_model`](crate::sales_model)) and a [`Body`] parsed
//! by [`parse_body`], and returns [`SalesError`](crate::SalesError); the Web API maps that to its error body once.
//!
//! A write checks the caller's privilege, resolves the body's `@odata.bind` lookups (a dangling
//! one is refused), completes a create with the set's defaults (order and invoice numbers, a
//! unit's base unit, a unit group's base unit created with it, the business unit, a price list
//! item's name) and the pure rules of [`crate::rules`], then writes through [`crate::tables`].

mod body;
mod find;
pub mod key;
mod sets;
mod write;

pub use body::{Bind, Body, check_value, parse_body};
pub use find::{Prefetched, Row, alternate_key, find, find_in, key_text, not_found, row_id};
pub use key::Key;
pub use sets::entity_set;
pub use write::{
    Write, Written, check, create, delete, prepare_create, resolve_binds, update, update_with,
    write_many,
};

#[cfg(test)]
mod tests;
