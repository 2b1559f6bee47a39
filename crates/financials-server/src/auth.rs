//! HTTP Basic credentials (user name plus password or web service access key) and the
//! permission checks handlers make per resource and operation. Routes are authenticated by the
//! route table's layer ([`crate::routes`]), which puts the [`Principal`] into the request's
//! extensions.

use base64::Engine;
use kontor_financials::credentials::{Access, Resource, Secret};
use kontor_financials::users::Principal;

use crate::error::ApiError;

/// `Authorization: Basic base64(user:secret)` → (user, secret).
pub fn parse_basic(value: &str) -> Option<(String, Secret)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, secret) = text.split_once(':')?;
    if user.is_empty() {
        return None;
    }
    Some((user.to_owned(), Secret::new(secret)))
}

/// 403 unless the principal's permission sets allow `access` to `resource`.
pub fn check(principal: &Principal, resource: Resource, access: Access) -> Result<(), ApiError> {
    if principal.permissions.allows(resource, access) {
        return Ok(());
    }
    let verb = match access {
        Access::Read => "read",
        Access::Write => "change",
    };
    let what = match resource {
        Resource::Data => "business data",
        Resource::Users => "users",
        Resource::ItemAvailability => "the item availability web service",
    };
    Err(ApiError::forbidden(&format!("{verb} {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_decoded_and_bad_ones_refused() {
        let v =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ADMIN:pa:ss"));
        let (u, s) = parse_basic(&v).unwrap();
        assert_eq!(u, "ADMIN");
        assert_eq!(s.expose(), "pa:ss");
        assert!(parse_basic("Bearer abc").is_none());
        assert!(parse_basic("Basic !!!").is_none());
    }
}
